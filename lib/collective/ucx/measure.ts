/**
 * The timing loop shared by `deno task tune` and `deno task bench:coll` (the statistic
 * of `bench/mpi/osu_coll.c`): warm up (30 000 calls up to 1 KiB: JIT tiers), run `iters`
 * calls in 5 batches, take the median batch's mean per call, and the maximum of that over
 * the ranks.
 *
 * @module
 */
import { Max } from "../ops.ts";
import type { Collective } from "../types.ts";

const BATCHES = 5;

/**
 * Calls per measurement for a message of `bytes` (fewer for large messages). Small
 * messages need thousands of calls: shorter loops mostly measure JIT warm-up.
 */
export function itersFor(bytes: number): number {
  if (bytes <= 1024) return 5000;
  if (bytes <= 65536) return 1000;
  if (bytes <= 1 << 20) return 100;
  if (bytes <= 4 << 20) return 20;
  return 10;
}

/** Message sizes from 4 B to `maxBytes`, ×4 apart. */
export function sizes(maxBytes: number): number[] {
  const out: number[] = [];
  for (let b = 4; b <= maxBytes; b *= 4) out.push(b);
  return out;
}

/**
 * Microseconds per call of `one` (median batch, maximum over the ranks of `c`), over
 * `iters` calls (default {@link itersFor}). Every rank must call it with the same `bytes`.
 */
export async function timeCalls(
  c: Collective,
  bytes: number,
  one: () => Promise<unknown>,
  iters: number = itersFor(bytes),
): Promise<number> {
  const per = Math.max(1, Math.floor(iters / BATCHES));
  // JavaScript reaches its optimised code only after thousands of calls: warm small
  // messages up for 30 000 calls, larger ones for a tenth of the loop.
  const warm = bytes <= 1024 ? 30_000 : Math.floor(iters / 10) + 1;
  for (let i = 0; i < warm; i++) await one();
  await c.barrier();
  const batch: number[] = [];
  for (let k = 0; k < BATCHES; k++) {
    const t0 = performance.now();
    for (let i = 0; i < per; i++) await one();
    batch.push((performance.now() - t0) * 1000 / per);
  }
  batch.sort((x, y) => x - y);
  const worst = new Float64Array([batch[BATCHES >> 1]]);
  await c.allreduce(worst, Max);
  return worst[0];
}
