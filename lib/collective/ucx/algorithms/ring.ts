/**
 * Ring algorithms: reduce-scatter and allgather over neighbours, and the ring allreduce
 * built from them (bandwidth-optimal: each rank moves 2 (p-1)/p of the buffer).
 *
 * @module
 */
import type { DType } from "../../dtype.ts";
import type { ReduceOp } from "../../ops.ts";
import { blocks, type Call, mod } from "../call.ts";

/**
 * Ring reduce-scatter over the byte ranges `blk` of `buf`: after `p - 1` steps (tags
 * `step0 ..`), rank `r` holds the reduction of block `(r + shift + 1) mod p`. Receives
 * are double-buffered so the next one is posted before this one is reduced.
 */
export async function ringReduceScatter(
  c: Call,
  buf: Uint8Array,
  blk: [number, number][],
  d: DType,
  op: ReduceOp,
  shift: number,
  step0: number,
): Promise<void> {
  const p = c.size, r = c.rank;
  const right = (r + 1) % p, left = (r + p - 1) % p;
  let max = 0;
  for (const [s, e] of blk) max = Math.max(max, e - s);
  if (max === 0) return;
  const tmp = [c.scratch(max), c.scratch(max)];
  const sends: Promise<void>[] = [];
  const post = (s: number) => {
    const [a, b] = blk[mod(r + shift - s - 1, p)];
    return b > a ? c.recv(left, step0 + s, tmp[s & 1].subarray(0, b - a)) : null;
  };
  let pending = post(0);
  for (let s = 0; s < p - 1; s++) {
    const [ss, se] = blk[mod(r + shift - s, p)];
    if (se > ss) sends.push(c.send(right, step0 + s, buf.subarray(ss, se)));
    const got = pending;
    if (got) await got;
    pending = s + 1 < p - 1 ? post(s + 1) : null;
    const [rs, re] = blk[mod(r + shift - s - 1, p)];
    if (re > rs) c.reduce(op, d, buf.subarray(rs, re), tmp[s & 1].subarray(0, re - rs));
  }
  await Promise.all(sends);
}

/**
 * Ring allgather over the byte ranges `blk` of `buf`, where rank `r` starts with block
 * `(r + own) mod p`: every receive is posted up front straight into its block, and each
 * block is passed on as soon as it arrives.
 */
export async function ringAllgather(
  c: Call,
  buf: Uint8Array,
  blk: [number, number][],
  own: number,
  step0: number,
): Promise<void> {
  const p = c.size, r = c.rank;
  const right = (r + 1) % p, left = (r + p - 1) % p;
  const recvs: (Promise<void> | null)[] = [];
  for (let s = 0; s < p - 1; s++) {
    const [a, b] = blk[mod(r + own - s - 1, p)];
    recvs.push(b > a ? c.recv(left, step0 + s, buf.subarray(a, b)) : null);
  }
  const sends: Promise<void>[] = [];
  for (let s = 0; s < p - 1; s++) {
    if (s > 0 && recvs[s - 1]) await recvs[s - 1];
    const [a, b] = blk[mod(r + own - s, p)];
    if (b > a) sends.push(c.send(right, step0 + s, buf.subarray(a, b)));
  }
  if (recvs[p - 2]) await recvs[p - 2];
  await Promise.all(sends);
}

/** Ring allreduce: reduce-scatter then allgather, in place on `buf` (`n` elements). */
export async function allreduceRing(
  c: Call,
  buf: Uint8Array,
  d: DType,
  op: ReduceOp,
): Promise<void> {
  if (c.size === 1) return;
  const blk = blocks(buf.length / d.bytes, c.size, d.bytes);
  await ringReduceScatter(c, buf, blk, d, op, 0, 0);
  await ringAllgather(c, buf, blk, 1, c.size);
}
