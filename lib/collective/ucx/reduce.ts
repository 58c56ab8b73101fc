/**
 * Native reduction kernels (`native/src/reduce.rs`, SIMD via AVX2 when the CPU has it)
 * behind one fast FFI call per chunk: `dst[i] = dst[i] op src[i]`.
 *
 * @module
 */
import { check, coreLib } from "../../ffi/library.ts";
import { type DType, dtypeOf, type NumericArray } from "../dtype.ts";
import { InvalidArgumentError } from "../../errors.ts";
import { checkOp, type ReduceOp } from "../ops.ts";

/** Elements per native call (the count is a u32 in the ABI). */
const MAX_CHUNK = 1 << 30;

/**
 * Reduces `src` into `dst` element-wise with `op` (same element type and length,
 * non-overlapping). Integer sums and products wrap around, as in C and MPI.
 */
export function reduceNative<T extends NumericArray>(op: ReduceOp, dst: T, src: T): T {
  const dt = dtypeOf(dst, "dst");
  if (dtypeOf(src, "src") !== dt) {
    throw new InvalidArgumentError(
      `reduce: dst is a ${dst.constructor.name}, src a ${src.constructor.name}`,
    );
  }
  if (src.length !== dst.length) {
    throw new InvalidArgumentError(`reduce: dst has ${dst.length} elements, src ${src.length}`);
  }
  checkOp(op, dt);
  const lib = coreLib();
  for (let off = 0; off < dst.length; off += MAX_CHUNK) {
    const n = Math.min(MAX_CHUNK, dst.length - off);
    const d = off === 0 && n === dst.length ? dst : dst.subarray(off, off + n);
    const s = off === 0 && n === src.length ? src : src.subarray(off, off + n);
    check(lib.pluvio_reduce(dt.index, op.index, d, s, n), `reduce ${op.name} on ${dt.name}`);
  }
  return dst;
}

/**
 * `dst op= src` over two equally long byte ranges holding elements of `d`, for callers
 * that already checked the type, the op and the lengths (the collectives' inner loops:
 * no typed-array views, one FFI call).
 */
export function reduceBytes(op: ReduceOp, d: DType, dst: Uint8Array, src: Uint8Array): void {
  const n = dst.length / d.bytes;
  if (n > MAX_CHUNK) {
    reduceNative(
      op,
      new d.ctor(dst.buffer as ArrayBuffer, dst.byteOffset, n),
      new d.ctor(src.buffer as ArrayBuffer, src.byteOffset, n),
    );
    return;
  }
  const rc = coreLib().pluvio_reduce(d.index, op.index, dst, src, n);
  if (rc < 0) check(rc, `reduce ${op.name} on ${d.name}`);
}
