/**
 * Addresses of JavaScript buffers, and memory the kernel may safely write.
 *
 * Taking a pointer (`Deno.UnsafePointer.of`) costs ~250 ns, so the base address of each
 * ArrayBuffer is taken once and cached; a view's address is then base + byteOffset.
 * Non-resizable ArrayBuffers never move, which is what makes the cache sound.
 *
 * The memory rule: an ordinary ArrayBuffer can be detached while an operation is in
 * flight (`buffer.transfer()`, `postMessage(…, [buffer])`), which frees or moves its
 * memory under the kernel. So the kernel only ever writes memory that cannot be
 * detached: buffers from {@link allocAligned} (and `DmaFile.alloc`) and the fixed-buffer
 * pool live in `WebAssembly.Memory` objects, whose buffers JavaScript cannot detach,
 * and which an in-flight operation keeps referenced; `SharedArrayBuffer`s cannot be
 * detached either. Any other buffer is copied through such memory (a bounce buffer).
 *
 * @module
 */
import { InvalidArgumentError } from "../errors.ts";

const bases = new WeakMap<ArrayBufferLike, number>();
/** Buffers JavaScript cannot detach (WebAssembly memory we made). */
const stable = new WeakSet<ArrayBufferLike>();

/** WebAssembly's page: the granularity of non-detachable memory. */
export const WASM_PAGE = 65536;

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
 * Whether the kernel may use `view`'s memory directly: nothing JavaScript does can free
 * or move it while an operation holds a reference to the view.
 */
export function isStable(view: ArrayBufferView): boolean {
  const ab = view.buffer;
  return stable.has(ab) || ab instanceof SharedArrayBuffer;
}

/**
 * `bytes` (rounded up to whole WebAssembly pages, at most 4 GiB) of zeroed memory that
 * cannot be detached, 64 KiB aligned.
 */
export function stableMemory(bytes: number, what: string): ArrayBuffer {
  const pages = Math.max(1, Math.ceil(bytes / WASM_PAGE));
  if (pages > 65536) {
    throw new InvalidArgumentError(`${what}: ${bytes} bytes exceed the 4 GiB a buffer can hold`);
  }
  const ab = new WebAssembly.Memory({ initial: pages, maximum: pages }).buffer as ArrayBuffer;
  stable.add(ab);
  return ab;
}

/**
 * Allocates a zeroed `Uint8Array` of `size` bytes whose address is a multiple of `align`
 * (a power of two, default 4096: enough for O_DIRECT on any device). The memory cannot
 * be detached (`buffer.transfer()` throws a `TypeError`), so I/O uses it directly, with
 * no copy; it is garbage-collected like any buffer once unreferenced. Allocation costs
 * ~10 µs and rounds up to 64 KiB: allocate buffers once and reuse them.
 */
export function allocAligned(size: number, align = 4096): Uint8Array<ArrayBuffer> {
  if (!Number.isSafeInteger(size) || size < 0) {
    throw new InvalidArgumentError(
      `allocAligned: size ${show(size)} is not a non-negative integer`,
    );
  }
  if (!Number.isSafeInteger(align) || align <= 0 || (align & (align - 1)) !== 0) {
    throw new InvalidArgumentError(`allocAligned: alignment ${show(align)} is not a power of two`);
  }
  const extra = align > WASM_PAGE ? align : 0;
  const ab = stableMemory(size + extra, "allocAligned");
  const base = addressOf(new Uint8Array(ab));
  const skew = (align - (base % align)) % align;
  return new Uint8Array(ab, skew, size);
}

/** A value for an error message: numbers as they are, anything else with its type. */
export function show(v: unknown): string {
  if (typeof v === "number") return String(v);
  if (typeof v === "string") return `${JSON.stringify(v)} (a string)`;
  if (v === null) return "null";
  if (typeof v === "object") return `(${v.constructor?.name ?? "an object"})`;
  return `${String(v)} (${typeof v})`;
}
