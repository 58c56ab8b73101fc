/**
 * Addresses of JavaScript buffers and aligned allocation for O_DIRECT.
 *
 * Taking a pointer (`Deno.UnsafePointer.of`) costs ~250 ns, so the base address of each
 * ArrayBuffer is taken once and cached; a view's address is then base + byteOffset.
 * Non-resizable ArrayBuffers never move, which is what makes the cache sound.
 *
 * @module
 */
import { InvalidArgumentError } from "../errors.ts";

const bases = new WeakMap<ArrayBufferLike, number>();

/** The memory address of the first byte of `view` (0 for an empty buffer). */
export function addressOf(view: ArrayBufferView): number {
  const ab = view.buffer;
  let base = bases.get(ab);
  if (base === undefined) {
    if ((ab as ArrayBuffer).resizable || (ab as SharedArrayBuffer).growable) {
      throw new InvalidArgumentError(
        "resizable or growable ArrayBuffers cannot be used for I/O (their length may change " +
          "while the kernel writes into them); use a fixed-length buffer",
      );
    }
    if (ab.byteLength === 0) return 0;
    const p = Deno.UnsafePointer.of(new Uint8Array(ab));
    base = Number(Deno.UnsafePointer.value(p));
    bases.set(ab, base);
  }
  return base + view.byteOffset;
}

/**
 * Allocates a zeroed `Uint8Array` of `size` bytes whose address is a multiple of `align`
 * (a power of two, default 4096: enough for O_DIRECT on any device). The memory is
 * ordinary garbage-collected memory.
 */
export function allocAligned(size: number, align = 4096): Uint8Array<ArrayBuffer> {
  if (!Number.isSafeInteger(size) || size < 0) {
    throw new InvalidArgumentError(`allocAligned: size ${size} is not a non-negative integer`);
  }
  if (!Number.isSafeInteger(align) || align <= 0 || (align & (align - 1)) !== 0) {
    throw new InvalidArgumentError(`allocAligned: alignment ${align} is not a power of two`);
  }
  const ab = new ArrayBuffer(size + align);
  const base = addressOf(new Uint8Array(ab));
  const skew = (align - (base % align)) % align;
  return new Uint8Array(ab, skew, size);
}
