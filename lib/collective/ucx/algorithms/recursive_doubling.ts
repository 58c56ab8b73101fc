/**
 * Recursive-doubling allreduce: log2(p) exchanges of the whole buffer (latency-optimal
 * for small messages). For a size that is not a power of two, the first `2 × rem`
 * ranks pair up: even ones hand their data to the odd ones, sit out, and get the result
 * back at the end (MPICH's scheme).
 *
 * Written as {@link Steps}: each exchange first spins on the worker, so a small call
 * whose peers are ready finishes synchronously, without a promise per message.
 *
 * @module
 */
import type { DType } from "../../dtype.ts";
import type { ReduceOp } from "../../ops.ts";
import { DONE } from "../../../ucx/mod.ts";
import { type Call, drive, type Steps } from "../call.ts";

/** Recursive-doubling allreduce of `buf`, in place (`undefined`: finished synchronously). */
export function allreduceRecursiveDoubling(
  c: Call,
  buf: Uint8Array,
  d: DType,
  op: ReduceOp,
): Promise<void> | undefined {
  if (c.size === 1 || buf.length === 0) return undefined;
  return drive(steps(c, buf, d, op));
}

function* steps(c: Call, buf: Uint8Array, d: DType, op: ReduceOp): Steps {
  const p = c.size, r = c.rank;
  let pof2 = 1;
  while (pof2 * 2 <= p) pof2 *= 2;
  const rem = p - pof2;
  const tmp = c.scratch(buf.length);
  let vr: number;
  if (r < 2 * rem) {
    if (r % 2 === 0) {
      const s = c.send(r + 1, 0, buf);
      if (s !== DONE) yield s;
      vr = -1;
    } else {
      yield c.recv(r - 1, 0, tmp);
      c.reduce(op, d, buf, tmp);
      vr = r >> 1;
    }
  } else vr = r - rem;
  if (vr >= 0) {
    let step = 1;
    for (let mask = 1; mask < pof2; mask <<= 1, step++) {
      const vd = vr ^ mask;
      const peer = vd < rem ? vd * 2 + 1 : vd + rem;
      // Resolves once tmp is filled and buf was sent: only then reduce into buf.
      const wait = c.exchange(step, peer, buf, peer, tmp);
      if (wait !== undefined) yield wait;
      c.reduce(op, d, buf, tmp);
    }
  }
  const last = 64;
  if (r < 2 * rem) {
    if (r % 2 === 1) {
      const s = c.send(r - 1, last, buf);
      if (s !== DONE) yield s;
    } else yield c.recv(r + 1, last, buf);
  }
}
