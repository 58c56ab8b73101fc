/**
 * Builds the native library: `cargo build --release` in `native/` with the `uring` and
 * UCX features, plus `mpi` when `mpicc` is on PATH (`PLUVIO_FEATURES` overrides the list).
 *
 * UCX: the site's installation when `PLUVIO_UCX_DIR` names one or `pkg-config ucx` finds
 * at least 1.13 (feature `ucx`); otherwise the UCX 1.12.1 that the `ucx1-sys` crate builds
 * from source (feature `ucx-bundled`, also forced by `PLUVIO_UCX=bundled`), which is copied
 * to `ucx/` beside `libpluvio.so`, where the library's run path (`$ORIGIN/ucx/lib`) finds it.
 * `PLUVIO_UCX=system` insists on an installation.
 *
 * Usage: `deno run -A native/build.ts [--if-stale] [--debug] [--target-dir DIR]`
 *
 * @module
 */

const here = new URL(".", import.meta.url).pathname;
const resolve = (p: string) => p.startsWith("/") ? p : `${Deno.cwd()}/${p}`;
const args = Deno.args;
const flag = (name: string) => args.includes(name);
const profile = flag("--debug") ? "debug" : "release";
const targetArg = args.indexOf("--target-dir");
// Absolute: cargo runs in native/, this script wherever it was started.
const targetDir = targetArg >= 0 ? resolve(args[targetArg + 1]) : `${here}target`;
const outDir = `${targetDir}/${profile}`;
const lib = `${outDir}/libpluvio.so`;
const stamp = `${outDir}/pluvio-features.txt`;

function run(cmd: string, cmdArgs: string[]): { ok: boolean; out: string } {
  try {
    const r = new Deno.Command(cmd, { args: cmdArgs, stdout: "piped", stderr: "null" })
      .outputSync();
    return { ok: r.success, out: new TextDecoder().decode(r.stdout).trim() };
  } catch {
    return { ok: false, out: "" };
  }
}

const has = (cmd: string) => run("sh", ["-c", `command -v ${cmd}`]).ok;

/** The UCX feature to build with, and why (printed with the build). */
function ucxFeature(): { feature: string; why: string } {
  const choice = (Deno.env.get("PLUVIO_UCX") ?? "").toLowerCase();
  if (choice === "bundled") return { feature: "ucx-bundled", why: "PLUVIO_UCX=bundled" };
  const dir = Deno.env.get("PLUVIO_UCX_DIR");
  if (dir) return { feature: "ucx", why: `PLUVIO_UCX_DIR=${dir}` };
  const v = run("pkg-config", ["--modversion", "ucx"]);
  if (v.ok && run("pkg-config", ["--atleast-version=1.13", "ucx"]).ok) {
    return { feature: "ucx", why: `system UCX ${v.out} (pkg-config)` };
  }
  const found = v.ok ? `pkg-config finds UCX ${v.out}, older than 1.13` : "no pkg-config ucx";
  if (choice === "system") {
    console.error(
      `pluvio: PLUVIO_UCX=system but ${found}; install libucx-dev or set PLUVIO_UCX_DIR`,
    );
    Deno.exit(1);
  }
  if (choice !== "") {
    console.error(`pluvio: PLUVIO_UCX=${choice}: use system or bundled`);
    Deno.exit(1);
  }
  return { feature: "ucx-bundled", why: `${found}: building the bundled UCX 1.12.1 (minutes)` };
}

function features(): { feats: string; why: string } {
  const env = Deno.env.get("PLUVIO_FEATURES");
  if (env !== undefined) return { feats: env, why: "PLUVIO_FEATURES" };
  const ucx = ucxFeature();
  return {
    feats: ["uring", ucx.feature, ...(has("mpicc") ? ["mpi"] : [])].join(","),
    why: ucx.why,
  };
}

function newestSource(dir: string): number {
  let newest = 0;
  for (const e of Deno.readDirSync(dir)) {
    const p = `${dir}/${e.name}`;
    if (e.isDirectory) {
      if (e.name !== "target") newest = Math.max(newest, newestSource(p));
    } else if (/\.(rs|toml|lock|h|c)$/.test(e.name)) {
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

/**
 * Copies the bundled UCX's `lib/` (libraries and the `ucx/` transport modules), `bin/`
 * (`ucx_perftest`, for the benchmarks) and `include/` to `ucx/` beside the library.
 */
function installBundledUcx(): void {
  const buildDir = `${outDir}/build`;
  for (const e of Deno.readDirSync(buildDir)) {
    if (!e.name.startsWith("ucx1-sys-")) continue;
    const src = `${buildDir}/${e.name}/out`;
    try {
      Deno.statSync(`${src}/lib/libucp.so.0`);
    } catch {
      continue;
    }
    // Copy into a fresh directory, then swap it in: a process loading the library
    // meanwhile finds the old tree or the new one, never half of one.
    const dest = `${outDir}/ucx`;
    const tmp = `${dest}.${Deno.pid}.tmp`;
    Deno.mkdirSync(tmp, { recursive: true });
    for (const d of ["lib", "bin", "include"]) {
      if (!run("cp", ["-a", `${src}/${d}`, `${tmp}/${d}`]).ok) {
        throw new Error(`cp -a ${src}/${d} failed`);
      }
    }
    const old = `${dest}.${Deno.pid}.old`;
    let replaced = true;
    try {
      Deno.renameSync(dest, old);
    } catch {
      replaced = false; // the first build
    }
    Deno.renameSync(tmp, dest);
    if (replaced) Deno.removeSync(old, { recursive: true });
    return;
  }
  throw new Error(`no libucp.so.0 under ${buildDir}/ucx1-sys-*/out/lib: did ucx1-sys build?`);
}

const { feats, why } = features();
if (flag("--if-stale") && !isStale(feats)) Deno.exit(0);

const cargoArgs = ["build", "--no-default-features", "--features", feats];
if (profile === "release") cargoArgs.push("--release");
if (targetArg >= 0) cargoArgs.push("--target-dir", targetDir);
console.error(`pluvio: cargo ${cargoArgs.join(" ")}  (in native/; UCX: ${why})`);
const r = await new Deno.Command("cargo", { args: cargoArgs, cwd: here, stdin: "null" })
  .spawn().status;
if (!r.success) {
  console.error(`pluvio: the native build failed (exit ${r.code})`);
  Deno.exit(r.code || 1);
}
if (feats.split(",").includes("ucx-bundled")) installBundledUcx();
Deno.writeTextFileSync(stamp, feats + "\n");
// cargo may keep the old file when nothing changed; mark the build fresh for --if-stale.
const now = new Date();
Deno.utimeSync(lib, now, now);
