/**
 * Element types of collective buffers: every numeric TypedArray.
 *
 * Each {@link DType} carries the facts backends need (element size, integer or float,
 * bigint or number, value range) and the index the native side uses for it.
 *
 * @module
 */
import { InvalidArgumentError } from "../errors.ts";

/** A buffer a collective can work on. */
export type NumericArray =
  | Float32Array
  | Float64Array
  | Int8Array
  | Int16Array
  | Int32Array
  | Uint8Array
  | Uint16Array
  | Uint32Array
  | BigInt64Array
  | BigUint64Array;

/** Short names of the element types. */
export type DTypeName = "f32" | "f64" | "i8" | "i16" | "i32" | "i64" | "u8" | "u16" | "u32" | "u64";

/** Constructor of a {@link NumericArray}. */
export type NumericArrayConstructor =
  | Float32ArrayConstructor
  | Float64ArrayConstructor
  | Int8ArrayConstructor
  | Int16ArrayConstructor
  | Int32ArrayConstructor
  | Uint8ArrayConstructor
  | Uint16ArrayConstructor
  | Uint32ArrayConstructor
  | BigInt64ArrayConstructor
  | BigUint64ArrayConstructor;

/** An element type. */
export interface DType {
  /** Short name, e.g. `"f32"`. */
  readonly name: DTypeName;
  /** The TypedArray class, e.g. `Float32Array`. */
  readonly ctor: NumericArrayConstructor;
  /** Index of the type in the native tables (`native/src/mpi/types.rs`). */
  readonly index: number;
  /** Bytes per element. */
  readonly bytes: number;
  /** `"float"`, signed `"int"` or unsigned `"uint"`. */
  readonly kind: "float" | "int" | "uint";
  /** Whether elements are `bigint` (64-bit integer types). */
  readonly bigint: boolean;
  /** Smallest value (`-Infinity` for floats). */
  readonly min: number | bigint;
  /** Largest value (`Infinity` for floats). */
  readonly max: number | bigint;
}

function dt(
  name: DTypeName,
  ctor: NumericArrayConstructor,
  index: number,
  kind: DType["kind"],
  min: number | bigint,
  max: number | bigint,
): DType {
  return Object.freeze({
    name,
    ctor,
    index,
    bytes: ctor.BYTES_PER_ELEMENT,
    kind,
    bigint: typeof min === "bigint",
    min,
    max,
  });
}

/** Every supported element type, in native index order. */
export const DTYPES: readonly DType[] = Object.freeze([
  dt("f32", Float32Array, 0, "float", -Infinity, Infinity),
  dt("f64", Float64Array, 1, "float", -Infinity, Infinity),
  dt("i8", Int8Array, 2, "int", -128, 127),
  dt("i16", Int16Array, 3, "int", -32768, 32767),
  dt("i32", Int32Array, 4, "int", -2147483648, 2147483647),
  dt("i64", BigInt64Array, 5, "int", -(1n << 63n), (1n << 63n) - 1n),
  dt("u8", Uint8Array, 6, "uint", 0, 255),
  dt("u16", Uint16Array, 7, "uint", 0, 65535),
  dt("u32", Uint32Array, 8, "uint", 0, 4294967295),
  dt("u64", BigUint64Array, 9, "uint", 0n, (1n << 64n) - 1n),
]);

const BY_CTOR = new Map<unknown, DType>(DTYPES.map((d) => [d.ctor, d]));

/**
 * The element type of `buf`, or an {@link InvalidArgumentError} naming `what` when `buf`
 * is not one of the supported TypedArrays (a `Uint8ClampedArray`, a `DataView`, an
 * `ArrayBuffer`, a plain array, ...).
 */
export function dtypeOf(buf: unknown, what = "buffer"): DType {
  const d = buf === null || typeof buf !== "object" ? undefined : BY_CTOR.get(buf.constructor);
  if (d !== undefined) return d;
  if (ArrayBuffer.isView(buf)) {
    for (const t of DTYPES) if (buf instanceof t.ctor) return t; // a subclass
  }
  const given = buf === null
    ? "null"
    : typeof buf === "object"
    ? (buf.constructor?.name ?? "object")
    : typeof buf;
  throw new InvalidArgumentError(
    `${what} must be one of ${DTYPES.map((t) => t.ctor.name).join(", ")}; got ${given}`,
  );
}
