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
import { cacheDir, installCommand, LIBRARY_NAME, PACKAGE_ROOT } from "./cache.ts";

/** The C ABI version this TypeScript layer speaks; the library must report the same. */
export const ABI_VERSION = 1;

/** Backends a native library may be built with (Cargo features). */
export type Backend = "uring" | "ucx" | "mpi";

const FEATURE_BITS: Record<Backend, number> = { uring: 1, ucx: 2, mpi: 4 };

function envVar(name: string): string | undefined {
  try {
    return Deno.env.get(name);
  } catch {
    return undefined; // no --allow-env: fall back to the default
  }
}

function exists(path: string): boolean {
  try {
    return Deno.statSync(path).isFile;
  } catch {
    return false;
  }
}

/** Where a library was found, which decides how the error messages say to rebuild it. */
interface Located {
  path: string;
  origin: "PLUVIO_LIB_PATH" | "checkout" | "cache";
}

/** The build output beside the module, for a module loaded from the file system. */
function besideModule(): string | undefined {
  const url = new URL(`native/target/release/${LIBRARY_NAME}`, PACKAGE_ROOT);
  return url.protocol === "file:" ? decodeURIComponent(url.pathname) : undefined;
}

function locate(): Located {
  const override = envVar("PLUVIO_LIB_PATH");
  if (override) return { path: override, origin: "PLUVIO_LIB_PATH" };
  const beside = besideModule();
  if (beside && exists(beside)) return { path: beside, origin: "checkout" };
  const cache = cacheDir();
  const cached = cache ? `${cache}/${LIBRARY_NAME}` : undefined;
  if (cached && exists(cached)) return { path: cached, origin: "cache" };
  const looked = [beside, cached ?? "the cache (no HOME, XDG_CACHE_HOME or PLUVIO_CACHE_DIR)"]
    .filter((p) => p !== undefined);
  throw new NativeLibraryError(
    `the pluvio native library is not installed (looked for ${looked.join(" and ")}); ` +
      `install it with: ${installCommand()}`,
  );
}

function rebuildCommand(where: Located): string {
  return where.origin === "checkout" ? "deno task build (in the checkout)" : installCommand();
}

/**
 * Where the native library is loaded from: `PLUVIO_LIB_PATH`, else the build output beside
 * the module (when it was imported from the file system), else the per-version cache that
 * `install.ts` fills. Throws {@link NativeLibraryError} naming the install command when
 * none is there.
 */
export function libraryPath(): string {
  return locate().path;
}

type CoreLib = Deno.DynamicLibrary<typeof CORE_SYMBOLS>["symbols"];

let core: CoreLib | undefined;
let features = 0;
const errBuf = new Uint8Array(4096);
const decoder = new TextDecoder();

let located: Located | undefined;

function open<S extends Deno.ForeignLibraryInterface>(
  symbols: S,
  what: string,
): Deno.DynamicLibrary<S> {
  const where = located ??= locate();
  try {
    return Deno.dlopen(where.path, symbols);
  } catch (cause) {
    const hint = exists(where.path)
      ? `it exists but could not be loaded for ${what} (stale build? rebuild it with: ${
        rebuildCommand(where)
      })`
      : where.origin === "PLUVIO_LIB_PATH"
      ? `PLUVIO_LIB_PATH names a file that does not exist; unset it to use the installed ` +
        `library, or install one with: ${installCommand()}`
      : `it does not exist; install it with: ${installCommand()}`;
    throw new NativeLibraryError(
      `cannot load the pluvio native library ${where.path}: ${hint}`,
      { cause },
    );
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
      `native library ${located!.path} speaks ABI ${abi}, this module needs ${ABI_VERSION}; ` +
        `rebuild it with: ${rebuildCommand(located!)}`,
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
        rebuildCommand(located!)
      : `rebuild with the '${backend}' feature: ${rebuildCommand(located!)}`;
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
