/**
 * Helpers of the UCX collective rank scripts: deterministic per-rank contributions and
 * locally computed expected results.
 *
 * @module
 */
import { type DType, DTYPES, type NumericArray } from "../../lib/collective/dtype.ts";
import { reduceInto, type ReduceOp } from "../../lib/collective/ops.ts";

/** Rank `rank`'s contribution: small integers, so every op is exact in every type. */
export function contrib(d: DType, rank: number, n: number, salt = 0): NumericArray {
  const a = new d.ctor(n);
  for (let i = 0; i < n; i++) {
    const v = ((rank * 7 + i * 3 + salt) % 11) + 1;
    (a as unknown as (number | bigint)[])[i] = d.bigint ? BigInt(v) : v;
  }
  return a;
}

/** The reduction of every rank's {@link contrib} with `op`, computed locally. */
export function expected(d: DType, op: ReduceOp, size: number, n: number, salt = 0): NumericArray {
  const acc = contrib(d, 0, n, salt);
  for (let r = 1; r < size; r++) reduceInto(op, d, acc, contrib(d, r, n, salt));
  return acc;
}

/** Throws naming the first differing element. */
export function same(what: string, got: NumericArray, want: NumericArray): void {
  if (got.length !== want.length) {
    throw new Error(`${what}: length ${got.length}, expected ${want.length}`);
  }
  for (let i = 0; i < got.length; i++) {
    if (got[i] !== want[i]) {
      throw new Error(`${what}: element ${i} is ${got[i]}, expected ${want[i]}`);
    }
  }
}

/** The dtype named `name`. */
export function dtype(name: string): DType {
  return DTYPES.find((d) => d.name === name)!;
}
