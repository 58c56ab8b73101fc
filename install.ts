/**
 * Installs pluvio's native library for the copy of pluvio this module belongs to, wherever
 * it was imported from (a checkout, an http(s) URL, or JSR):
 *
 * ```sh
 * deno run -A jsr:@pluvio/pluvio/install
 * deno run -A https://example.org/pluvio/install.ts
 * ```
 *
 * It fetches the native sources relative to its own `import.meta.url`, verifies each against
 * the sha256 manifest shipped in the module (`lib/ffi/native_sources.ts`), builds them with
 * cargo (through the package's `native/build.ts`, whose output is shown: it picks the site's
 * UCX or the bundled one), and moves the library atomically into the per-version cache where the loader looks:
 * `$PLUVIO_CACHE_DIR/<version>`, else `$XDG_CACHE_HOME/pluvio/<version>`, else
 * `~/.cache/pluvio/<version>`. A source that does not match the manifest is refused and
 * nothing is installed. `PLUVIO_FEATURES` chooses the Cargo features as for `deno task build`.
 *
 * @module
 */
import { SOURCES, VERSION } from "./lib/ffi/native_sources.ts";
import { cacheDir, LIBRARY_NAME, PACKAGE_ROOT } from "./lib/ffi/cache.ts";

/** A source file that does not match the manifest, or could not be fetched. */
export class InstallError extends Error {
  /** Creates the error. */
  constructor(message: string, options?: ErrorOptions) {
    super(message, options);
    this.name = "InstallError";
  }
}

/** Options of {@link install}. */
export interface InstallOptions {
  /** Package root to fetch the sources from (default: this module's directory). */
  root?: URL;
  /** Directory to install into (default: the per-version cache, see the module doc). */
  dir?: string;
  /** Progress lines (default: stderr). */
  log?: (line: string) => void;
}

function hex(bytes: ArrayBuffer): string {
  return Array.from(new Uint8Array(bytes), (b) => b.toString(16).padStart(2, "0")).join("");
}

async function fetchVerified(
  root: URL,
  path: string,
  want: string,
): Promise<Uint8Array<ArrayBuffer>> {
  const url = new URL(path, root);
  let data: Uint8Array<ArrayBuffer>;
  try {
    const res = await fetch(url);
    if (!res.ok) {
      await res.body?.cancel();
      throw new InstallError(`fetching ${url.href} failed: HTTP ${res.status} ${res.statusText}`);
    }
    data = new Uint8Array(await res.arrayBuffer());
  } catch (cause) {
    if (cause instanceof InstallError) throw cause;
    throw new InstallError(`fetching ${url.href} failed: ${cause}`, { cause });
  }
  const got = hex(await crypto.subtle.digest("SHA-256", data));
  if (got !== want) {
    throw new InstallError(
      `refusing ${url.href}: its sha256 is ${got}, the manifest of pluvio ${VERSION} says ` +
        `${want} (tampered or corrupted); nothing was installed`,
    );
  }
  return data;
}

function tryRemove(path: string): void {
  try {
    Deno.removeSync(path, { recursive: true });
  } catch { /* already gone */ }
}

async function hasCargo(): Promise<boolean> {
  try {
    return (await new Deno.Command("cargo", { args: ["--version"], stdout: "null", stderr: "null" })
      .output()).success;
  } catch {
    return false;
  }
}

/**
 * Fetches, verifies, builds and installs the native library; resolves with the installed
 * library's path. Throws {@link InstallError} when a source is missing or tampered with, or
 * when the build fails.
 */
export async function install(options: InstallOptions = {}): Promise<string> {
  const root = options.root ?? PACKAGE_ROOT;
  const log = options.log ?? ((line: string) => console.error(line));
  const dir = options.dir ?? cacheDir();
  if (!dir) {
    throw new InstallError("no install directory: set PLUVIO_CACHE_DIR, XDG_CACHE_HOME or HOME");
  }
  if (!(await hasCargo())) {
    throw new InstallError(
      "cargo is not on PATH: install a Rust toolchain (https://rustup.rs) and run again",
    );
  }
  const paths = Object.keys(SOURCES);
  log(`pluvio ${VERSION}: fetching ${paths.length} native source files from ${root.href}`);
  // Everything is fetched and verified before anything is written.
  const files = await Promise.all(paths.map((p) => fetchVerified(root, p, SOURCES[p])));

  Deno.mkdirSync(dir, { recursive: true });
  const work = Deno.makeTempDirSync({ dir, prefix: ".build-" });
  let staged: string;
  try {
    for (const [i, p] of paths.entries()) {
      const dest = `${work}/${p}`;
      Deno.mkdirSync(dest.slice(0, dest.lastIndexOf("/")), { recursive: true });
      Deno.writeFileSync(dest, files[i]);
    }
    log(`pluvio: sources verified (sha256); building in ${work} (the first build takes minutes)`);
    const build = await new Deno.Command(Deno.execPath(), {
      args: ["run", "-A", `${work}/native/build.ts`],
      cwd: work,
      stdin: "null",
    }).spawn().status;
    if (!build.success) {
      throw new InstallError(`the native build failed (exit ${build.code}); see its output above`);
    }
    staged = installBuilt(`${work}/native/target/release`, dir);
  } finally {
    tryRemove(work);
  }
  // Loaded only now that the build tree is gone: a library that still needs a file from it
  // (or misses a system library) fails here, not in the user's program.
  const loaded = probe(staged);
  if (loaded instanceof Error) {
    tryRemove(staged);
    throw new InstallError(`the built library does not load: ${loaded.message}`, {
      cause: loaded,
    });
  }
  const lib = `${dir}/${LIBRARY_NAME}`;
  Deno.renameSync(staged, lib);
  log(`pluvio: installed ${lib} (${loaded})`);
  return lib;
}

/**
 * Copies the bundled UCX's `ucx/lib` (when the build made one) into `dir` and the library
 * under a temporary name beside it, whose path it returns; the caller renames it into place
 * after checking that it loads. Each file or tree is written under a temporary name and
 * renamed, so a process loading pluvio meanwhile sees the old or the new one, never half.
 */
function installBuilt(outDir: string, dir: string): string {
  let bundled = true;
  try {
    Deno.statSync(`${outDir}/ucx/lib`);
  } catch {
    bundled = false; // built against the site's UCX
  }
  if (bundled) {
    const tmp = `${dir}/.ucx.${Deno.pid}.tmp`;
    Deno.mkdirSync(tmp);
    const cp = new Deno.Command("cp", { args: ["-a", `${outDir}/ucx/lib`, `${tmp}/lib`] })
      .outputSync();
    if (!cp.success) throw new InstallError(`copying ${outDir}/ucx/lib failed`);
    const old = `${dir}/.ucx.${Deno.pid}.old`;
    let replaced = true;
    try {
      Deno.renameSync(`${dir}/ucx`, old);
    } catch {
      replaced = false; // the first install
    }
    Deno.renameSync(tmp, `${dir}/ucx`);
    if (replaced) tryRemove(old);
  }
  const tmp = `${dir}/.${LIBRARY_NAME}.${Deno.pid}.tmp`;
  Deno.copyFileSync(`${outDir}/${LIBRARY_NAME}`, tmp);
  return tmp;
}

/** Loads `path` and reads its ABI version and backends: a description, or the load error. */
function probe(path: string): string | Error {
  try {
    const lib = Deno.dlopen(path, {
      pluvio_abi_version: { parameters: [], result: "u32" },
      pluvio_features: { parameters: [], result: "u32" },
    });
    try {
      const bits = lib.symbols.pluvio_features();
      const backends = (["uring", "ucx", "mpi"] as const).filter((_, i) => bits & (1 << i));
      return `ABI ${lib.symbols.pluvio_abi_version()}, backends ${backends.join(", ")}`;
    } finally {
      lib.close();
    }
  } catch (e) {
    return e instanceof Error ? e : new Error(String(e));
  }
}

if (import.meta.main) {
  try {
    await install();
  } catch (e) {
    console.error(`pluvio install: ${e instanceof Error ? e.message : e}`);
    Deno.exit(1);
  }
}
