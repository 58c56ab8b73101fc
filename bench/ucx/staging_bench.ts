/**
 * `deno task bench:ucx:staging`: what staging costs. The same AM ping-pong as
 * `bench:ucx` (`pluvio_client.ts` ↔ `pong.ts`, shared memory, `errorHandling: "none"`),
 * once with `allocAligned` buffers (WebAssembly memory: UCX uses them directly) and once
 * with ordinary `new Uint8Array(n)` buffers (detachable: sends are copied into staging
 * memory at submission, receives land in staging memory and are copied out; see
 * `lib/ucx/staging.ts`). Both pairs run side by side, rounds alternating; prints the
 * medians of the one-way latency and the median of the per-round ratios.
 *
 * Usage: `deno run -A bench/ucx/staging_bench.ts [rounds]`
 *
 * @module
 */
import { PluvioPair } from "./pair.ts";

const rounds = Number(Deno.args[0] ?? 7);

const median = (v: number[]) => [...v].sort((a, b) => a - b)[v.length >> 1];
const CASES = [
  { size: 8, mode: "plain", iters: 20_000 },
  { size: 1 << 20, mode: "plain", iters: 500 },
  { size: 1 << 20, mode: "sync", iters: 500 },
];
const aligned = new PluvioPair({ PLUVIO_BENCH_BUFFERS: "aligned" });
const ordinary = new PluvioPair({ PLUVIO_BENCH_BUFFERS: "ordinary" });
await aligned.line(); // connected and warmed up
await ordinary.line();
const res = CASES.map(() => ({ a: [] as number[], o: [] as number[], r: [] as number[] }));
try {
  for (let round = 0; round < rounds; round++) {
    for (const [i, c] of CASES.entries()) {
      const cmd = `lat ${c.size} ${c.mode} ${c.iters}`;
      // Alternate which goes first.
      const first = round % 2 === 0 ? aligned : ordinary;
      const x = (await first.run(cmd)).us;
      const y = (await (first === aligned ? ordinary : aligned).run(cmd)).us;
      const [a, o] = first === aligned ? [x, y] : [y, x];
      res[i].a.push(a);
      res[i].o.push(o);
      res[i].r.push(o / a);
    }
  }
} finally {
  await aligned.close();
  await ordinary.close();
}
console.log(`| size | mode | allocAligned µs | new Uint8Array µs | ratio |`);
console.log(`|---|---|---|---|---|`);
for (const [i, c] of CASES.entries()) {
  const r = res[i];
  console.log(
    `| ${c.size} B | ${c.mode} | ${median(r.a).toFixed(2)} | ${median(r.o).toFixed(2)} | ${
      median(r.r).toFixed(2)
    } |`,
  );
}
