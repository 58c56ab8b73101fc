/**
 * Builds the native library: `cargo build --release` in `native/` with the `uring` and
 * `ucx` features, plus `mpi` when `mpicc` is on PATH (or `PLUVIO_FEATURES` overrides).
 * Then links UCX's `libucp.so.0` (built by `ucx1-sys`) next to `libpluvio.so`, where the
 * library's `$ORIGIN` run path finds it.
 *
 * Usage: `deno run -A native/build.ts [--if-stale] [--debug]`
 *
 * @module
 */

const here = new URL(".", import.meta.url).pathname;
const args = new Set(Deno.args);
const profile = args.has("--debug") ? "debug" : "release";
const outDir = `${here}target/${profile}`;
const lib = `${outDir}/libpluvio.so`;
const stamp = `${outDir}/pluvio-features.txt`;

function has(cmd: string): boolean {
  try {
    const r = new Deno.Command("sh", { args: ["-c", `command -v ${cmd}`], stdout: "null" })
      .outputSync();
    return r.success;
  } catch {
    return false;
  }
}

function features(): string {
  const env = Deno.env.get("PLUVIO_FEATURES");
  if (env !== undefined) return env;
  return ["uring", "ucx", ...(has("mpicc") ? ["mpi"] : [])].join(",");
}

function newestSource(dir: string): number {
  let newest = 0;
  for (const e of Deno.readDirSync(dir)) {
    const p = `${dir}/${e.name}`;
    if (e.isDirectory) {
      if (e.name !== "target") newest = Math.max(newest, newestSource(p));
    } else if (/\.(rs|toml|lock)$/.test(e.name) || e.name === "build.rs") {
      newest = Math.max(newest, Deno.statSync(p).mtime?.getTime() ?? 0);
    }
  }
  return newest;
}

function isStale(feats: string): boolean {
  try {
    const built = Deno.statSync(lib).mtime?.getTime() ?? 0;
    const builtFeats = Deno.readTextFileSync(stamp).trim();
    return builtFeats !== feats || built < newestSource(here.replace(/\/$/, ""));
  } catch {
    return true;
  }
}

function linkUcx(): void {
  const buildDir = `${outDir}/build`;
  for (const e of Deno.readDirSync(buildDir)) {
    if (!e.name.startsWith("ucx1-sys-")) continue;
    const ucp = `${buildDir}/${e.name}/out/lib/libucp.so.0`;
    try {
      Deno.statSync(ucp);
    } catch {
      continue;
    }
    const link = `${outDir}/libucp.so.0`;
    try {
      if (Deno.readLinkSync(link) === ucp) return;
    } catch { /* not there yet, or not a link */ }
    // Replace atomically: a process loading the library meanwhile always finds a link.
    const tmp = `${link}.${Deno.pid}.tmp`;
    Deno.symlinkSync(ucp, tmp);
    Deno.renameSync(tmp, link);
    return;
  }
  throw new Error(`no libucp.so.0 under ${buildDir}/ucx1-sys-*/out/lib: did ucx1-sys build?`);
}

const feats = features();
if (args.has("--if-stale") && !isStale(feats)) Deno.exit(0);

const cargoArgs = ["build", "--no-default-features", "--features", feats];
if (profile === "release") cargoArgs.push("--release");
console.error(`pluvio: cargo ${cargoArgs.join(" ")}  (in native/)`);
const r = await new Deno.Command("cargo", { args: cargoArgs, cwd: here, stdin: "null" })
  .spawn().status;
if (!r.success) {
  console.error(`pluvio: the native build failed (exit ${r.code})`);
  Deno.exit(r.code || 1);
}
if (feats.split(",").includes("ucx")) linkUcx();
Deno.writeTextFileSync(stamp, feats + "\n");
// cargo may keep the old file when nothing changed; mark the build fresh for --if-stale.
const now = new Date();
Deno.utimeSync(lib, now, now);
