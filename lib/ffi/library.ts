/**
 * Finding and loading the native library.
 *
 * The core symbols are bound on first use; each backend's symbols are bound only when
 * that backend is first used, so a library built without MPI still serves io_uring
 * and UCX, and using a missing backend throws {@link BackendUnavailableError}.
 *
 * @module
 */
import { BackendUnavailableError, NativeLibraryError } from "../errors.ts";
import { errorFromCode } from "./errno.ts";
import { CORE_SYMBOLS } from "./symbols/core.ts";

/** The C ABI version this TypeScript layer speaks; the library must report the same. */
export const ABI_VERSION = 1;

/** Backends a native library may be built with (Cargo features). */
export type Backend = "uring" | "ucx" | "mpi";

const FEATURE_BITS: Record<Backend, number> = { uring: 1, ucx: 2, mpi: 4 };

const BUILD_COMMAND = "deno task build   (or: deno run -A native/build.ts)";

function envVar(name: string): string | undefined {
  try {
    return Deno.env.get(name);
  } catch {
    return undefined; // no --allow-env: fall back to the default
  }
}

/** Where the native library is loaded from: `PLUVIO_LIB_PATH`, else the build output. */
export function libraryPath(): string {
  const override = envVar("PLUVIO_LIB_PATH");
  if (override) return override;
  const url = new URL("../../native/target/release/libpluvio.so", import.meta.url);
  if (url.protocol !== "file:") {
    throw new NativeLibraryError(
      `pluvio was imported from ${url.origin}; set PLUVIO_LIB_PATH to a local build of ` +
        `libpluvio.so (build it from a checkout with: ${BUILD_COMMAND})`,
    );
  }
  return decodeURIComponent(url.pathname);
}

type CoreLib = Deno.DynamicLibrary<typeof CORE_SYMBOLS>["symbols"];

let core: CoreLib | undefined;
let features = 0;
const errBuf = new Uint8Array(4096);
const decoder = new TextDecoder();

function open<S extends Deno.ForeignLibraryInterface>(
  symbols: S,
  what: string,
): Deno.DynamicLibrary<S> {
  const path = libraryPath();
  try {
    return Deno.dlopen(path, symbols);
  } catch (cause) {
    let exists = true;
    try {
      Deno.statSync(path);
    } catch {
      exists = false;
    }
    const hint = exists
      ? `it exists but could not be loaded for ${what} (stale build? rebuild with: ${BUILD_COMMAND})`
      : `it does not exist; build it with: ${BUILD_COMMAND}`;
    throw new NativeLibraryError(`cannot load the pluvio native library ${path}: ${hint}`, {
      cause,
    });
  }
}

/** The core symbols, loading the library (and checking its ABI version) on first use. */
export function coreLib(): CoreLib {
  if (core) return core;
  const lib = open(CORE_SYMBOLS, "the core symbols");
  const abi = lib.symbols.pluvio_abi_version();
  if (abi !== ABI_VERSION) {
    lib.close();
    throw new NativeLibraryError(
      `native library ${libraryPath()} speaks ABI ${abi}, this module needs ${ABI_VERSION}; ` +
        `rebuild it with: ${BUILD_COMMAND}`,
    );
  }
  features = lib.symbols.pluvio_features();
  core = lib.symbols;
  return core;
}

/** Whether the native library was built with `backend`. */
export function hasBackend(backend: Backend): boolean {
  coreLib();
  return (features & FEATURE_BITS[backend]) !== 0;
}

const backends = new Map<Backend, unknown>();

/**
 * Binds `symbols` of `backend`, throwing {@link BackendUnavailableError} when the
 * library was built without it.
 */
export function openBackend<S extends Deno.ForeignLibraryInterface>(
  backend: Backend,
  symbols: S,
): Deno.DynamicLibrary<S>["symbols"] {
  const cached = backends.get(backend);
  if (cached) return cached as Deno.DynamicLibrary<S>["symbols"];
  if (!hasBackend(backend)) {
    const how = backend === "mpi"
      ? "install an MPI (mpicc on PATH, e.g. Debian's libopenmpi-dev) and rebuild with: " +
        BUILD_COMMAND
      : `rebuild with the '${backend}' feature: ${BUILD_COMMAND}`;
    throw new BackendUnavailableError(
      backend,
      `the pluvio native library was built without the '${backend}' backend; ${how}`,
    );
  }
  const lib = open(symbols, `the ${backend} backend`).symbols;
  backends.set(backend, lib);
  return lib;
}

/** The native last-error message of this thread. */
export function lastError(): string {
  const n = Number(coreLib().pluvio_last_error(errBuf, BigInt(errBuf.length)));
  return decoder.decode(errBuf.subarray(0, Math.min(n, errBuf.length)));
}

/** Returns `rc` when it is `>= 0`, else throws the typed error for it. */
export function check(rc: number, what: string): number {
  if (rc >= 0) return rc;
  throw errorFromCode(rc, what, lastError());
}

/** Returns `p` when it is not null, else throws the error the native side recorded. */
export function checkPtr(p: Deno.PointerValue, what: string): Deno.PointerObject {
  if (p !== null) return p;
  const msg = lastError();
  const m = /^\[(-?\d+)\] (.*)$/s.exec(msg);
  throw errorFromCode(m ? Number(m[1]) : -5, what, m ? m[2] : msg);
}
