/**
 * Binomial trees rooted anywhere: broadcast (ceil(log2 p) rounds, latency-optimal for
 * small buffers) and reduce (the same tree run leaves-to-root).
 *
 * @module
 */
import type { DType } from "../../dtype.ts";
import type { ReduceOp } from "../../ops.ts";
import type { Call } from "../call.ts";

/** Binomial-tree broadcast of `buf` from `root`. */
export async function broadcastBinomial(c: Call, buf: Uint8Array, root: number): Promise<void> {
  const p = c.size;
  if (p === 1 || buf.length === 0) return;
  const vr = (c.rank - root + p) % p;
  let mask = 1;
  while (mask < p) {
    if (vr & mask) {
      await c.recv((vr - mask + root) % p, 0, buf);
      break;
    }
    mask <<= 1;
  }
  const sends: Promise<void>[] = [];
  for (mask >>= 1; mask > 0; mask >>= 1) {
    if (vr + mask < p) sends.push(c.send((vr + mask + root) % p, 0, buf));
  }
  await Promise.all(sends);
}

/**
 * Binomial-tree reduce of `acc` (this rank's contribution, reduced in place) to `root`:
 * each rank folds in its children's partial results, then hands its own to its parent.
 */
export async function reduceBinomial(
  c: Call,
  acc: Uint8Array,
  d: DType,
  op: ReduceOp,
  root: number,
): Promise<void> {
  const p = c.size;
  if (p === 1 || acc.length === 0) return;
  const vr = (c.rank - root + p) % p;
  let tmp: Uint8Array | null = null;
  for (let mask = 1; mask < p; mask <<= 1) {
    if (vr & mask) {
      await c.send((vr - mask + root) % p, 0, acc);
      return;
    }
    if (vr + mask < p) {
      tmp ??= c.scratch(acc.length);
      await c.recv((vr + mask + root) % p, 0, tmp);
      c.reduce(op, d, acc, tmp);
    }
  }
}
