/**
 * Runtime benchmark: pluvio's executor against what plain Deno gives, side by side.
 *
 *   deno task bench:runtime            (writes bench/results/runtime.md)
 *
 * Rows: spawn+join throughput vs bare async functions; one executor turn with 0 vs 8
 * idle reactors; park→wake latency; sleep(1) overshoot vs setTimeout(1); CPU while
 * parked vs a pending setTimeout; and the idle back-off sweep behind the defaults.
 *
 * @module
 */
import { coreLib } from "../lib/ffi/library.ts";
import { type Reactor, Runtime, sleep, spawn } from "../mod.ts";

const REPS = 5;
const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[xs.length >> 1];
const fmt = (x: number, d = 1) =>
  x >= 1e6 ? `${(x / 1e6).toFixed(2)}M` : x >= 1e4 ? `${(x / 1e3).toFixed(0)}k` : x.toFixed(d);
const cpuMs = () => Number(coreLib().pluvio_process_cpu_ns()) / 1e6;

async function spawnJoin(n: number): Promise<number> {
  const rt = new Runtime();
  return await rt.run(async () => {
    const hs = new Array(n);
    const t0 = performance.now();
    for (let i = 0; i < n; i++) hs[i] = spawn(() => i);
    for (let i = 0; i < n; i++) await hs[i];
    return n / ((performance.now() - t0) / 1e3);
  });
}

async function barePromises(n: number): Promise<number> {
  const ps = new Array(n);
  const t0 = performance.now();
  // deno-lint-ignore require-await
  for (let i = 0; i < n; i++) ps[i] = (async () => i)();
  for (let i = 0; i < n; i++) await ps[i];
  return n / ((performance.now() - t0) / 1e3);
}

/** ns per operation on a reactor that is always ready, with `idle` idle reactors. */
async function turnCost(idle: number, ops: number): Promise<number> {
  const rt = new Runtime();
  for (let i = 0; i < idle; i++) rt.registerReactor(`idle${i}`, { poll: () => 0, status: () => 0 });
  const waiters: Array<() => void> = [];
  let wake = () => {};
  const ready: Reactor = {
    attach: (h) => wake = h.wake,
    poll: () => {
      const n = waiters.length;
      for (let i = 0; i < n; i++) waiters[i]();
      waiters.length = 0;
      return n;
    },
    status: () => waiters.length,
  };
  rt.registerReactor("ready", ready);
  return await rt.run(async () => {
    const t0 = performance.now();
    for (let i = 0; i < ops; i++) {
      await new Promise<void>((r) => {
        waiters.push(r);
        wake();
      });
    }
    return (performance.now() - t0) * 1e6 / ops;
  });
}

async function sleepOvershoot(
  ms: number,
  n: number,
  idle?: { sleepAfter: number },
): Promise<{ p50: number; wakeP50: number; cpu: number }> {
  const rt = new Runtime(idle ? { idle } : {});
  return await rt.run(async () => {
    await sleep(2);
    const over: number[] = [];
    const c0 = cpuMs();
    const w0 = performance.now();
    for (let i = 0; i < n; i++) {
      const t = performance.now();
      await sleep(ms);
      over.push((performance.now() - t - ms) * 1000);
    }
    const cpu = (cpuMs() - c0) / (performance.now() - w0);
    return { p50: median(over), wakeP50: rt.stats().executor.wakeLatencyP50Us, cpu };
  });
}

async function setTimeoutOvershoot(ms: number, n: number): Promise<number> {
  const over: number[] = [];
  for (let i = 0; i < n; i++) {
    const t = performance.now();
    await new Promise((r) => setTimeout(r, ms));
    over.push((performance.now() - t - ms) * 1000);
  }
  return median(over);
}

async function parkedCpu(): Promise<number> {
  const rt = new Runtime();
  return await rt.run(async () => {
    await sleep(2);
    const c0 = cpuMs(), t0 = performance.now();
    await sleep(1000);
    return (cpuMs() - c0) / (performance.now() - t0);
  });
}

async function setTimeoutCpu(): Promise<number> {
  const c0 = cpuMs(), t0 = performance.now();
  await new Promise((r) => setTimeout(r, 1000));
  return (cpuMs() - c0) / (performance.now() - t0);
}

const rows: string[][] = [];
const row = (...c: string[]) => {
  rows.push(c);
  console.log(c.join(" | "));
};

const N = 200_000;
const sj: number[] = [], bp: number[] = [];
for (let r = 0; r < REPS; r++) {
  sj.push(await spawnJoin(N));
  bp.push(await barePromises(N));
}
row(
  "spawn+join throughput (tasks/s)",
  fmt(median(sj)),
  fmt(median(bp)) + " (bare async fns)",
  (median(sj) / median(bp)).toFixed(2),
  "≥ 1M tasks/s",
);

const t0s: number[] = [], t8s: number[] = [];
for (let r = 0; r < REPS; r++) {
  t0s.push(await turnCost(0, 100_000));
  t8s.push(await turnCost(8, 100_000));
}
row(
  "executor turn + completion, 8 idle reactors (ns/op)",
  fmt(median(t8s)),
  fmt(median(t0s)) + " (0 idle reactors)",
  (median(t8s) / median(t0s)).toFixed(2),
  "idle reactors cost ~0",
);

const sl: { p50: number; wakeP50: number; cpu: number }[] = [], st: number[] = [];
for (let r = 0; r < REPS; r++) {
  sl.push(await sleepOvershoot(1, 200));
  st.push(await setTimeoutOvershoot(1, 200));
}
row(
  "park→wake latency p50 (µs, native fire → JS)",
  median(sl.map((s) => s.wakeP50)).toFixed(1),
  "—",
  "—",
  "≤ 20 µs",
);
row(
  "sleep(1) overshoot p50 (µs)",
  median(sl.map((s) => s.p50)).toFixed(1),
  median(st).toFixed(1) + " (setTimeout(1))",
  (median(sl.map((s) => s.p50)) / median(st)).toFixed(3),
  "≤ 100 µs",
);

const pc: number[] = [], tc: number[] = [];
for (let r = 0; r < 3; r++) {
  pc.push(await parkedCpu());
  tc.push(await setTimeoutCpu());
}
row(
  "CPU while parked 1 s (% of a core)",
  (median(pc) * 100).toFixed(2),
  (median(tc) * 100).toFixed(2) + " (pending setTimeout)",
  "—",
  "≤ 2 %",
);

const sweep: string[] = [];
for (const sleepAfter of [8, 32, 96, 1024]) {
  const s: { p50: number; cpu: number }[] = [];
  for (let r = 0; r < 3; r++) s.push(await sleepOvershoot(0.05, 300, { sleepAfter }));
  sweep.push(
    `| ${sleepAfter} | ${median(s.map((x) => x.p50)).toFixed(1)} | ${
      (median(s.map((x) => x.cpu)) * 100).toFixed(1)
    } |`,
  );
  console.log(sweep.at(-1));
}

const md = `# Runtime benchmark

Command: \`deno task bench:runtime\` (${
  new Date().toISOString().slice(0, 10)
}, ${navigator.hardwareConcurrency} cores, Deno ${Deno.version.deno}). Medians of ${REPS} runs (3 for CPU rows).

| what | pluvio | plain Deno | ratio | target |
|---|---|---|---|---|
${rows.map((r) => `| ${r.join(" | ")} |`).join("\n")}

Idle back-off sweep behind the defaults (\`PLUVIO_IDLE_SLEEP_AFTER\`: idle executor turns
before parking; \`sleep(0.05)\` overshoot and CPU while sleeping it 300 times):

| sleepAfter | sleep(0.05) overshoot p50 (µs) | CPU (% of a core) |
|---|---|---|
${sweep.join("\n")}
`;
const out = new URL("./results/runtime.md", import.meta.url);
Deno.writeTextFileSync(out, md);
console.log(`\nwrote ${out.pathname}`);
