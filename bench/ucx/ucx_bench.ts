/**
 * `deno task bench:ucx`: UCX Active Messages through pluvio next to `ucx_perftest`
 * (`ucp_am_lat` / `ucp_am_bw`, the perftest of the same UCX that pluvio links)
 * and next to Deno's own TCP on loopback, at 8 B, 4 KiB and 1 MiB, in one run.
 *
 * Configurations: default transports (shared memory), `UCX_TLS=tcp`, and default
 * transports with peer-failure handling (`ucx_perftest -e` / pluvio's default
 * `errorHandling: "peer"`). Prints a table of medians and ratios and writes it to
 * `bench/results/ucx.md`.
 *
 * Each side's two processes are pinned to CPUs 0 and 1 (when there are two and `taskset`
 * is there), and perftest and pluvio rounds alternate: on these VMs the cross-core
 * latency moves between ~0.07 and ~0.3 µs over minutes, so only rounds taken side by
 * side compare. Ratios are medians of the per-round ratios.
 *
 * Usage: `deno run -A bench/ucx/ucx_bench.ts [rounds]`
 *
 * @module
 */

import { onCpu, perftest, perftestPath, PIN, ucxVersionText } from "./perftest.ts";
import { PluvioPair } from "./pair.ts";

const here = new URL(".", import.meta.url).pathname;
const root = new URL("../../", import.meta.url).pathname;
const rounds = Number(Deno.args[0] ?? 5);
const SIZES = [8, 4096, 1 << 20];

function median(v: number[]): number {
  const s = [...v].sort((a, b) => a - b);
  return s[s.length >> 1];
}

/** Latency iterations (perftest and pluvio alike), by size. */
const latIters = (size: number) => size >= 1 << 20 ? 500 : 20_000;
/** Bandwidth messages, by size. */
const bwCount = (size: number) => size >= 1 << 20 ? 10_000 : size >= 4096 ? 100_000 : 200_000;

interface Row {
  pt: number;
  plain: number;
  rPlain: number;
  cold: number;
  rCold: number;
  free: number;
  sync: number;
  spin: number;
  ptBw: number;
  bw: number;
  bwEach: number;
  rSync: number;
  rSpin: number;
  rBw: number;
  rBwEach: number;
}

/** One configuration: perftest and pluvio rounds alternating, size by size. */
async function series(
  env: Record<string, string>,
  extra: string[],
  eh: string,
): Promise<Record<number, Row>> {
  const pair = new PluvioPair({ ...env, PLUVIO_BENCH_EH: eh });
  const rows: Record<number, Row> = {};
  try {
    await pair.line(); // connected and warmed up
    for (const size of SIZES) {
      const n = latIters(size);
      const c = bwCount(size);
      const all: Row[] = [];
      for (let r = 0; r < rounds; r++) {
        const pt = (await perftest("ucp_am_lat", size, n, env, extra)).lat;
        const plain = (await pair.run(`lat ${size} plain ${n}`)).us;
        // Cold (a fresh pair, first 1 000 round trips) and unpinned: the 8 B plain path.
        const cold = size === 8 ? await coldPlain(env, eh) : NaN;
        const free = size === 8 ? await unpinnedPlain(env, eh, n) : NaN;
        const sync = (await pair.run(`lat ${size} sync ${n}`)).us;
        const spin = (await pair.run(`lat ${size} spin ${n}`)).us;
        const ptBw = (await perftest("ucp_am_bw", size, c, env, extra)).bw;
        const bw = (await pair.run(`bw ${size} ${c} many`)).mibs;
        const bwEach = (await pair.run(`bw ${size} ${c} each`)).mibs;
        const row = {
          pt,
          plain,
          rPlain: plain / pt,
          cold,
          rCold: cold / plain,
          free,
          sync,
          spin,
          ptBw,
          bw,
          bwEach,
          rSync: 0,
          rSpin: 0,
          rBw: 0,
          rBwEach: 0,
        };
        row.rSync = sync / pt;
        row.rSpin = spin / pt;
        row.rBw = bw / ptBw;
        row.rBwEach = bwEach / ptBw;
        all.push(row);
        console.error(`  ${size} B round ${r}: ${JSON.stringify(row)}`);
      }
      const med = (k: keyof Row) => median(all.map((x) => x[k]));
      const keys = Object.keys(all[0]) as (keyof Row)[];
      rows[size] = Object.fromEntries(keys.map((k) => [k, med(k)])) as unknown as Row;
    }
  } finally {
    await pair.close();
  }
  return rows;
}

/** Mean one-way µs of the first 1 000 plain 8 B round trips of a fresh process pair. */
async function coldPlain(env: Record<string, string>, eh: string): Promise<number> {
  const pair = new PluvioPair({ ...env, PLUVIO_BENCH_EH: eh, PLUVIO_BENCH_COLD: "1" });
  try {
    return (await pair.line()).us;
  } finally {
    await pair.close();
  }
}

/** The warm 8 B plain path of a pair that is not pinned (what a user runs). */
async function unpinnedPlain(env: Record<string, string>, eh: string, n: number) {
  const pair = new PluvioPair({ ...env, PLUVIO_BENCH_EH: eh }, false);
  try {
    await pair.line();
    return (await pair.run(`lat 8 plain ${n}`)).us;
  } finally {
    await pair.close();
  }
}

async function denoTcp() {
  const [exe, args] = onCpu(1, Deno.execPath(), ["run", "-A", `${here}tcp_side.ts`, "server"]);
  const server = new Deno.Command(exe, { args, stdout: "piped", stdin: "null" }).spawn();
  const reader = server.stdout.pipeThrough(new TextDecoderStream()).getReader();
  const port = (await reader.read()).value!.trim();
  reader.releaseLock();
  try {
    const [cExe, cArgs] = onCpu(0, Deno.execPath(), [
      "run",
      "-A",
      `${here}tcp_side.ts`,
      "client",
      port,
      SIZES.join(","),
      String(rounds),
    ]);
    const out = await new Deno.Command(cExe, {
      args: cArgs,
      stdout: "piped",
      stderr: "inherit",
      stdin: "null",
      signal: AbortSignal.timeout(300_000),
    }).output();
    if (!out.success) throw new Error(`tcp_side.ts client failed (${out.code})`);
    const lines = new TextDecoder().decode(out.stdout).trim().split("\n");
    return JSON.parse(lines[lines.length - 1]) as {
      lat: Record<number, number>;
      bw: Record<number, number>;
    };
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
    name: 'default endpoints (no options: "auto", shared memory watched through pidfds)',
    env: {},
    extra: [],
    eh: "default",
  },
  {
    name: 'errorHandling "peer" (UCX peer-failure handling, perftest -e)',
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
  console.error(`${c.name}:`);
  const r = await series(c.env, c.extra, c.eh);
  for (const s of SIZES) {
    const x = r[s];
    rows.push(
      `| ${c.name} | ${fmtSize(s)} | ${f(x.pt)} | ${f(x.plain)} | ${f(x.rPlain)}× | ` +
        `${s === 8 ? `${f(x.cold)} | ${f(x.rCold)}× | ${f(x.free)}` : "– | – | –"} | ` +
        `${f(x.sync)} | ${f(x.rSync)}× | ${f(x.spin)} | ` +
        `${f(x.rSpin)}× | ${f(tcp.lat[s])} | ${f(tcp.lat[s] / x.spin)}× | ` +
        `${f(x.ptBw)} | ${f(x.bw)} | ${f(x.rBw)}× | ${f(x.bwEach)} | ${f(x.rBwEach)}× | ` +
        `${f(tcp.bw[s])} |`,
    );
  }
}
const load1 = Deno.loadavg();

const table = [
  "| configuration | size | perftest lat µs | pluvio plain await µs | ×perftest | plain cold µs | ×warm | plain unpinned µs | pluvio tryRecvInto µs | ×perftest | pluvio recv spin µs | ×perftest | Deno TCP lat µs | TCP / recv spin | perftest MiB/s | pluvio amSendMany MiB/s | ×perftest | pluvio amSend loop MiB/s | ×perftest | Deno TCP MiB/s |",
  "|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|",
  ...rows,
].join("\n");
console.log(table);

const md = `# UCX benchmark: pluvio vs ucx_perftest vs Deno TCP

Command: \`deno task bench:ucx\` (= \`deno run -A bench/ucx/ucx_bench.ts ${rounds}\`), run ${started}.

- Reference: \`ucx_perftest\` of UCX ${ucxVersionText()} (\`${perftestPath()}\`, the same UCX
  libpluvio links),
  \`ucp_am_lat\` (average one-way latency) and \`ucp_am_bw\` (overall bandwidth), client and
  server as two processes on 127.0.0.1.
- pluvio: \`bench/ucx/pluvio_client.ts\` + \`bench/ucx/pong.ts\`, two Deno processes, each in a
  pluvio \`Runtime\`. Latency = AM ping-pong (the reply carries as many bytes, sent from a
  buffer of its own as perftest's is; sends awaited), one-way = round trip / 2, with three
  ways of receiving on both sides, the plain one first:
  **plain await** — the code a newcomer writes, no options: \`await ep.amSend(1, h, d)\`,
  \`for await (const m of stream)\`, \`await m.recvData(buf)\` (the pong side
  \`await stream.recv()\`); it is fast through the runtime's adaptive spin (the executor
  busy-polls the UCX reactor for a learnt budget, ≤ 200 µs, while a receive is pending on a
  live endpoint). **plain cold**: the mean of the first 1 000 round trips of a fresh
  process pair (no JIT warm-up), beside the warm figure; **plain unpinned**: the warm plain
  path of a pair left to the scheduler (no \`taskset\`), what a user runs. Then the expert
  paths:
  \`stream.tryRecvInto(buf, { header, spinUs: 50 })\` (synchronous, no promise per message;
  eager payloads land in \`buf\` straight from UCX; the send's \`await\` overlaps the flight
  of the message), \`await stream.recv({ spinUs: 50 })\` (busy-waits
  like perftest, then resolves a promise). Bandwidth = AM sends of the size with 32
  in flight (perftest's \`ucp_am_bw\` window), timed until the receiver confirms the last one,
  sent two ways: one \`endpoint.amSendMany(id, list, { window: 32 })\` (native code submits
  the next send as one completes: no JavaScript turn per message), and an \`amSend\` per
  message from a JavaScript loop (sends UCX finished at once return \`DONE\` and are not
  awaited). Messages under 64 KiB are
  received with \`stream.tryRecvInto(buf)\` in a loop (synchronous, no promise per message);
  64 KiB and up by an \`AmReceiver\` with 8 posted receives (reposted as they fill;
  rendezvous pulls start in the UCX callback, as perftest's), all landing in one buffer as
  perftest's do (payloads are not read). Each process allocates its
  send and receive buffers once, page-aligned, as perftest does; like perftest's, the send
  buffers are never written (see \`pluvio_client.ts\` on why that matters at 1 MiB).
- ${
  PIN
    ? "Pinned: each pair's client on CPU 0, its server (pong) on CPU 1, through `taskset`"
    : "Not pinned (fewer than 2 CPUs or no `taskset`)"
}.
  perftest and pluvio rounds alternate (latency, then bandwidth, size by size): the
  cross-core latency of these VMs moves between ~0.07 and ~0.3 µs over minutes, so only
  side-by-side rounds compare. Figures are medians of ${rounds} rounds; the ×perftest
  columns are medians of the per-round ratios.
- Deno TCP: \`Deno.connect\`/\`Deno.listen\` on loopback (noDelay), same patterns
  (\`bench/ucx/tcp_side.ts\`, pinned the same way); measured once, before the rest.
- Machine: 2 cores; load average ${load0.map((x) => x.toFixed(1)).join(" ")} at the start,
  ${load1.map((x) => x.toFixed(1)).join(" ")} at the end.
- UCX cannot watch shared-memory peers: with peer-failure handling (\`errorHandling:
  "peer"\`, and \`ucx_perftest -e\`) Active Messages go over TCP even on one host. The
  default endpoints (\`"auto"\`) of two processes on one host use shared memory and watch
  each other's pid through pidfds instead.

${table}
`;
Deno.mkdirSync(`${root}bench/results`, { recursive: true });
Deno.writeTextFileSync(`${root}bench/results/ucx.md`, md);
console.error(`wrote bench/results/ucx.md`);
