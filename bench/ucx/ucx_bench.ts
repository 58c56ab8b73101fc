/**
 * `deno task bench:ucx`: UCX Active Messages through pluvio next to `ucx_perftest`
 * (`ucp_am_lat` / `ucp_am_bw`, the perftest of the same UCX 1.12.1 that pluvio links)
 * and next to Deno's own TCP on loopback, at 8 B, 4 KiB and 1 MiB, in one run.
 *
 * Configurations: default transports (shared memory), `UCX_TLS=tcp`, and default
 * transports with peer-failure handling (`ucx_perftest -e` / pluvio's default
 * `errorHandling: "peer"`). Prints a table of medians and ratios and writes it to
 * `bench/results/ucx.md`.
 *
 * Usage: `deno run -A bench/ucx/ucx_bench.ts [rounds]`
 *
 * @module
 */

const here = new URL(".", import.meta.url).pathname;
const root = new URL("../../", import.meta.url).pathname;
const rounds = Number(Deno.args[0] ?? 5);
const SIZES = [8, 4096, 1 << 20];

function perftestPath(): string {
  const lib = Deno.realPathSync(`${root}native/target/release/libucp.so.0`);
  return lib.replace(/\/lib\/libucp\.so[.0-9]*$/, "/bin/ucx_perftest");
}

function median(v: number[]): number {
  const s = [...v].sort((a, b) => a - b);
  return s[s.length >> 1];
}

const PORT_BASE = 20000 + (Deno.pid % 20000);
let portSeq = 0;

/** One ucx_perftest run (server + client); returns [one-way µs avg, MiB/s overall]. */
async function perftest(
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
  const port = String(PORT_BASE + (portSeq++ % 1000));
  const server = new Deno.Command(exe, {
    args: ["-p", port, ...extra],
    env,
    stdout: "null",
    stderr: "null",
  }).spawn();
  await new Promise((r) => setTimeout(r, waitMs));
  const client = new Deno.Command(exe, {
    args: ["127.0.0.1", "-p", port, "-t", test, "-s", String(size), "-n", String(iters), ...extra],
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

async function perftestSeries(env: Record<string, string>, extra: string[]) {
  const lat: Record<number, number> = {}, bw: Record<number, number> = {};
  for (const size of SIZES) {
    const li = size >= 1 << 20 ? 1000 : 20_000;
    const bi = size >= 1 << 20 ? 2000 : size >= 4096 ? 100_000 : 200_000;
    const l: number[] = [], b: number[] = [];
    for (let r = 0; r < rounds; r++) {
      l.push((await perftest("ucp_am_lat", size, li, env, extra)).lat);
    }
    for (let r = 0; r < rounds; r++) b.push((await perftest("ucp_am_bw", size, bi, env, extra)).bw);
    lat[size] = median(l);
    bw[size] = median(b);
  }
  return { lat, bw };
}

async function childJson(args: string[], env: Record<string, string>) {
  const out = await new Deno.Command(Deno.execPath(), {
    args: ["run", "-A", ...args],
    env,
    stdout: "piped",
    stderr: "inherit",
    stdin: "null",
    signal: AbortSignal.timeout(300_000),
  }).output();
  if (!out.success) throw new Error(`${args.join(" ")} failed (${out.code})`);
  const lines = new TextDecoder().decode(out.stdout).trim().split("\n");
  return JSON.parse(lines[lines.length - 1]) as {
    lat: Record<number, number>;
    latEvent?: Record<number, number>;
    bw: Record<number, number>;
  };
}

async function denoTcp() {
  const server = new Deno.Command(Deno.execPath(), {
    args: ["run", "-A", `${here}tcp_side.ts`, "server"],
    stdout: "piped",
    stdin: "null",
  }).spawn();
  const reader = server.stdout.pipeThrough(new TextDecoderStream()).getReader();
  const port = (await reader.read()).value!.trim();
  reader.releaseLock();
  try {
    return await childJson(
      [`${here}tcp_side.ts`, "client", port, SIZES.join(","), String(rounds)],
      {},
    );
  } finally {
    await server.status;
  }
}

const fmtSize = (s: number) =>
  s >= 1 << 20 ? `${s >> 20} MiB` : s >= 1024 ? `${s >> 10} KiB` : `${s} B`;
const f = (v: number, d = 2) => v >= 100 ? v.toFixed(0) : v.toFixed(d);

const configs: { name: string; env: Record<string, string>; extra: string[]; eh: string }[] = [
  { name: "default transports (shm), no peer-failure handling", env: {}, extra: [], eh: "none" },
  { name: "UCX_TLS=tcp, no peer-failure handling", env: { UCX_TLS: "tcp" }, extra: [], eh: "none" },
  {
    name: "default transports, peer-failure handling (perftest -e)",
    env: {},
    extra: ["-e"],
    eh: "peer",
  },
];

const started = new Date().toISOString();
const load0 = Deno.loadavg();
const rows: string[] = [];
const tcp = await denoTcp();
console.error(`deno tcp: ${JSON.stringify(tcp)}`);
for (const c of configs) {
  const pt = await perftestSeries(c.env, c.extra);
  console.error(`perftest ${c.name}: ${JSON.stringify(pt)}`);
  const pl = await childJson([`${here}pluvio_client.ts`, SIZES.join(","), String(rounds)], {
    ...c.env,
    PLUVIO_BENCH_EH: c.eh,
  });
  console.error(`pluvio ${c.name}: ${JSON.stringify(pl)}`);
  for (const s of SIZES) {
    rows.push(
      `| ${c.name} | ${fmtSize(s)} | ${f(pt.lat[s])} | ${f(pl.lat[s])} | ${
        f(pl.lat[s] / pt.lat[s])
      }× | ${f(pl.latEvent![s])} | ` +
        `${f(tcp.lat[s])} | ${f(tcp.lat[s] / pl.lat[s])}× | ${f(pt.bw[s])} | ${f(pl.bw[s])} | ` +
        `${f(pl.bw[s] / pt.bw[s])}× | ${f(tcp.bw[s])} |`,
    );
  }
}
const load1 = Deno.loadavg();

const table = [
  "| configuration | size | perftest lat µs | pluvio lat µs (spin) | pluvio/perftest | pluvio lat µs (no spin) | Deno TCP lat µs | TCP/pluvio | perftest MiB/s | pluvio MiB/s | pluvio/perftest | Deno TCP MiB/s |",
  "|---|---|---|---|---|---|---|---|---|---|---|---|",
  ...rows,
].join("\n");
console.log(table);

const md = `# UCX benchmark: pluvio vs ucx_perftest vs Deno TCP

Command: \`deno task bench:ucx\` (= \`deno run -A bench/ucx/ucx_bench.ts ${rounds}\`), run ${started}.

- Reference: \`ucx_perftest\` 1.12.1 built by \`ucx1-sys\` (the same UCX libpluvio links),
  \`ucp_am_lat\` (average one-way latency) and \`ucp_am_bw\` (overall bandwidth), client and
  server as two processes on 127.0.0.1.
- pluvio: \`bench/ucx/pluvio_client.ts\` + \`bench/ucx/pong.ts\`, two Deno processes, each in a
  pluvio \`Runtime\` (default idle policy: spin, yield, park on the UCX event fd). Latency =
  AM ping-pong (payload echoed back), one-way = round trip / 2, measured twice: "spin" with
  both sides receiving with \`recv({ spinUs: 50 })\` (busy-wait on the worker, like
  perftest), "no spin" woken through the runtime's reactor; bandwidth = AM sends of
  the size with 32 in flight, the receiver pulling rendezvous payloads into its buffers,
  timed until the receiver confirms the last one.
- Deno TCP: \`Deno.connect\`/\`Deno.listen\` on loopback (noDelay), same patterns
  (\`bench/ucx/tcp_side.ts\`); shown next to each configuration, measured once.
- Every figure is the median of ${rounds} rounds; ratios are taken within this run.
- Machine: 2 cores, shared: load average ${load0.map((x) => x.toFixed(1)).join(" ")} at the
  start, ${load1.map((x) => x.toFixed(1)).join(" ")} at the end (other engineers' builds and
  benchmarks were running), so absolute figures are noisy; ratios are side by side.
- UCX 1.12 cannot watch shared-memory peers: with peer-failure handling (pluvio's default,
  and \`ucx_perftest -e\`) Active Messages go over TCP even on one host.

${table}
`;
Deno.mkdirSync(`${root}bench/results`, { recursive: true });
Deno.writeTextFileSync(`${root}bench/results/ucx.md`, md);
console.error(`wrote bench/results/ucx.md`);
