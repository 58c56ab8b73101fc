/**
 * Running `ucx_perftest` (the one built with the UCX that libpluvio links) next to
 * pluvio, pinned like it: shared by `ucx_bench.ts` and `sides.ts`.
 *
 * @module
 */

const root = new URL("../../", import.meta.url).pathname;

/**
 * The prefix (with `include/`, `lib/`, `bin/`) of the UCX that libpluvio loads: the
 * site's installation (`/usr` for Debian's libucx-dev) or the bundled copy beside it.
 */
export function ucxPrefix(): string {
  const lib = Deno.env.get("PLUVIO_LIB_PATH") || `${root}native/target/release/libpluvio.so`;
  const ldd = new Deno.Command("ldd", { args: [lib] }).outputSync();
  const line = new TextDecoder().decode(ldd.stdout).split("\n").find((l) =>
    l.includes("libucp.so")
  );
  const path = line?.match(/=>\s*(\S+)/)?.[1];
  if (!path || path === "not") {
    throw new Error("libpluvio.so does not resolve libucp.so: build it first");
  }
  return Deno.realPathSync(path).replace(/\/lib(64)?(\/[^/]*-linux-gnu)?\/libucp\.so[.0-9]*$/, "");
}

/**
 * Environment for UCX's own tools at {@link ucxPrefix}: a bundled UCX's tools take their
 * libraries from beside them (their own run path names the build directory).
 */
export function ucxEnv(): Record<string, string> {
  const prefix = ucxPrefix();
  return prefix === "/usr" ? {} : { LD_LIBRARY_PATH: `${prefix}/lib` };
}

/** The version of the UCX at {@link ucxPrefix} (`ucx_info -v`), e.g. `1.13.1`. */
export function ucxVersionText(): string {
  const o = new Deno.Command(`${ucxPrefix()}/bin/ucx_info`, { args: ["-v"], env: ucxEnv() })
    .outputSync();
  return new TextDecoder().decode(o.stdout).match(/Version\s+(\S+)/)?.[1] ?? "unknown";
}

/** The `ucx_perftest` built with the UCX that libpluvio links. */
export function perftestPath(): string {
  return `${ucxPrefix()}/bin/ucx_perftest`;
}

const PORT_BASE = 20000 + (Deno.pid % 20000);
let portSeq = 0;

/** Pins both processes of a pair to their own CPU when possible (client 0, server 1). */
export const PIN: boolean = navigator.hardwareConcurrency >= 2 &&
  (await new Deno.Command("taskset", { args: ["-c", "0", "true"] }).output().then(
    (o) => o.success,
    () => false,
  ));

/** `exe args` run on `cpu` (through taskset when pinning). */
export function onCpu(cpu: number, exe: string, args: string[]): [string, string[]] {
  return PIN ? ["taskset", ["-c", String(cpu), exe, ...args]] : [exe, args];
}

/** One ucx_perftest run (server + client); returns [one-way µs avg, MiB/s overall]. */
export async function perftest(
  test: string,
  size: number,
  iters: number,
  env: Record<string, string>,
  extra: string[],
): Promise<{ lat: number; bw: number }> {
  let last = "";
  // The server needs a moment to listen, longer on a busy machine: retry a few times.
  for (let attempt = 1; attempt <= 5; attempt++) {
    const r = await perftestOnce(test, size, iters, env, extra, 200 * attempt);
    if (typeof r !== "string") return r;
    last = r;
  }
  throw new Error(`ucx_perftest ${test} ${size}: no result after 5 attempts\n${last}`);
}

async function perftestOnce(
  test: string,
  size: number,
  iters: number,
  env: Record<string, string>,
  extra: string[],
  waitMs: number,
): Promise<{ lat: number; bw: number } | string> {
  const exe = perftestPath();
  env = { ...env, ...ucxEnv() };
  const port = String(PORT_BASE + (portSeq++ % 1000));
  const [sExe, sArgs] = onCpu(1, exe, ["-p", port, ...extra]);
  const server = new Deno.Command(sExe, { args: sArgs, env, stdout: "null", stderr: "null" })
    .spawn();
  await new Promise((r) => setTimeout(r, waitMs));
  const [cExe, cArgs] = onCpu(0, exe, [
    "127.0.0.1",
    ...["-p", port, "-t", test, "-s", String(size), "-n", String(iters)],
    ...extra,
  ]);
  const client = new Deno.Command(cExe, {
    args: cArgs,
    env,
    stdout: "piped",
    stderr: "piped",
    signal: AbortSignal.timeout(60_000),
  });
  try {
    const out = await client.output();
    const text = new TextDecoder().decode(out.stdout);
    const final = text.split("\n").find((l) => l.startsWith("Final:"));
    if (!final) return text + new TextDecoder().decode(out.stderr);
    const f = final.trim().split(/\s+/).map(Number);
    return { lat: f[3], bw: f[6] };
  } finally {
    try {
      server.kill("SIGKILL");
    } catch { /* exited */ }
    await server.status;
  }
}
