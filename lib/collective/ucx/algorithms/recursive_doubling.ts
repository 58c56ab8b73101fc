/**
 * Recursive-doubling allreduce: log2(p) exchanges of the whole buffer (latency-optimal
 * for small messages). For a size that is not a power of two, the first `2 × rem`
 * ranks pair up: even ones hand their data to the odd ones, sit out, and get the result
 * back at the end (MPICH's scheme).
 *
 * @module
 */
import type { DType } from "../../dtype.ts";
import type { ReduceOp } from "../../ops.ts";
import type { Call } from "../call.ts";

/** Recursive-doubling allreduce of `buf`, in place. */
export async function allreduceRecursiveDoubling(
  c: Call,
  buf: Uint8Array,
  d: DType,
  op: ReduceOp,
): Promise<void> {
  const p = c.size, r = c.rank;
  if (p === 1 || buf.length === 0) return;
  let pof2 = 1;
  while (pof2 * 2 <= p) pof2 *= 2;
  const rem = p - pof2;
  const tmp = c.scratch(buf.length);
  let vr: number;
  if (r < 2 * rem) {
    if (r % 2 === 0) {
      await c.send(r + 1, 0, buf);
      vr = -1;
    } else {
      await c.recv(r - 1, 0, tmp);
      c.reduce(op, d, buf, tmp);
      vr = r >> 1;
    }
  } else vr = r - rem;
  if (vr >= 0) {
    let step = 1;
    for (let mask = 1; mask < pof2; mask <<= 1, step++) {
      const vd = vr ^ mask;
      const peer = vd < rem ? vd * 2 + 1 : vd + rem;
      const got = c.recv(peer, step, tmp);
      const sent = c.send(peer, step, buf);
      await got;
      await sent; // buf is read by the send: reduce into it only afterwards
      c.reduce(op, d, buf, tmp);
    }
  }
  const last = 64;
  if (r < 2 * rem) {
    if (r % 2 === 1) await c.send(r - 1, last, buf);
    else await c.recv(r + 1, last, buf);
  }
}
