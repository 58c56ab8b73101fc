/**
 * Reduction operations: `Sum`, `Prod`, `Min`, `Max` for every element type and
 * `BitAnd`, `BitOr`, `BitXor` for integer types.
 *
 * Each op knows its identity per type (the float identities of `Min`/`Max` are
 * `+Infinity`/`-Infinity`, not the finite extremes) and can reduce locally with the same
 * element semantics as C: integer results wrap, `f32` results round to single precision.
 *
 * @module
 */
import { InvalidArgumentError } from "../errors.ts";
import type { DType, NumericArray } from "./dtype.ts";

/** Names of the reduction operations. */
export type ReduceOpName = "sum" | "prod" | "min" | "max" | "band" | "bor" | "bxor";

/** A reduction operation. Use the exported constants, e.g. `Sum`. */
export interface ReduceOp {
  /** Short name, e.g. `"sum"`. */
  readonly name: ReduceOpName;
  /** Index in the native tables (`native/src/mpi/types.rs`). */
  readonly index: number;
  /** Whether the op is bitwise (integer types only). */
  readonly bitwise: boolean;
  /** The identity element for type `dtype` (`x op identity === x`). */
  identity(dtype: DType): number | bigint;
}

// deno-lint-ignore no-explicit-any
type Combine = (a: any, b: any, dtype: DType) => number | bigint;

interface OpDef extends ReduceOp {
  readonly combine: Combine;
}

function def(
  name: ReduceOpName,
  index: number,
  bitwise: boolean,
  identity: (d: DType) => number | bigint,
  combine: Combine,
): ReduceOp {
  const op: OpDef = Object.freeze({ name, index, bitwise, identity, combine });
  return op;
}

const zero = (d: DType) => d.bigint ? 0n : 0;

/** Element-wise sum. */
export const Sum: ReduceOp = def("sum", 0, false, zero, (a, b) => a + b);
/** Element-wise product (32-bit integers multiply with wrap-around, like C). */
export const Prod: ReduceOp = def(
  "prod",
  1,
  false,
  (d) => d.bigint ? 1n : 1,
  (a, b, d) => (d.bytes === 4 && d.kind !== "float") ? Math.imul(a, b) : a * b,
);
/** Element-wise minimum; identity `+Infinity` for floats, the type's maximum otherwise. */
export const Min: ReduceOp = def("min", 2, false, (d) => d.max, (a, b) => b < a ? b : a);
/** Element-wise maximum; identity `-Infinity` for floats, the type's minimum otherwise. */
export const Max: ReduceOp = def("max", 3, false, (d) => d.min, (a, b) => b > a ? b : a);
/** Bitwise AND (integer types only); identity all ones. */
export const BitAnd: ReduceOp = def(
  "band",
  4,
  true,
  (d) => d.bigint ? (d.kind === "int" ? -1n : d.max) : (d.kind === "int" ? -1 : d.max),
  (a, b) => a & b,
);
/** Bitwise OR (integer types only). */
export const BitOr: ReduceOp = def("bor", 5, true, zero, (a, b) => a | b);
/** Bitwise XOR (integer types only). */
export const BitXor: ReduceOp = def("bxor", 6, true, zero, (a, b) => a ^ b);

/** Every reduction operation, in native index order. */
export const REDUCE_OPS: readonly ReduceOp[] = Object.freeze([
  Sum,
  Prod,
  Min,
  Max,
  BitAnd,
  BitOr,
  BitXor,
]);

/** Whether `op` is defined for `dtype` (bitwise ops are not defined for floats). */
export function opAllowed(op: ReduceOp, dtype: DType): boolean {
  return !(op.bitwise && dtype.kind === "float");
}

/**
 * Throws {@link InvalidArgumentError} unless `op` is one of this module's operations and
 * is defined for `dtype`. Backends call it before posting anything.
 */
export function checkOp(op: ReduceOp, dtype: DType): void {
  if (op === null || op === undefined || REDUCE_OPS[op.index] !== op) {
    throw new InvalidArgumentError(
      `unknown reduction ${
        String(op?.name ?? op)
      }; use Sum, Prod, Min, Max, BitAnd, BitOr or BitXor`,
    );
  }
  if (!opAllowed(op, dtype)) {
    throw new InvalidArgumentError(
      `reduction '${op.name}' is not defined for ${dtype.ctor.name} (bitwise ops need an integer type)`,
    );
  }
}

/**
 * `target[i] = target[i] op source[i]` for every element, with C semantics (wrap-around
 * integers, single-precision `f32`). Used for local reductions and reference values.
 */
export function reduceInto<T extends NumericArray>(
  op: ReduceOp,
  dtype: DType,
  target: T,
  source: T,
): T {
  checkOp(op, dtype);
  if (source.length !== target.length) {
    throw new InvalidArgumentError(
      `reduceInto: source has ${source.length} elements, target ${target.length}`,
    );
  }
  const f = (op as OpDef).combine;
  // deno-lint-ignore no-explicit-any
  const t = target as any, s = source as any;
  for (let i = 0; i < t.length; i++) t[i] = f(t[i], s[i], dtype);
  return target;
}
