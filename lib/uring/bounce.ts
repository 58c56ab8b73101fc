/**
 * Bounce buffers: non-detachable memory that stands in for a buffer the kernel must not
 * write directly (an ordinary ArrayBuffer could be detached, freeing its memory, while
 * the operation is in flight; see `memory.ts`). Writes copy into the bounce buffer
 * before submission, reads copy out of it at completion, into the caller's view if it
 * is still attached. Bounce buffers are reused (a few per size).
 *
 * @module
 */
import { allocAligned, WASM_PAGE } from "./memory.ts";

const free = new Map<number, Uint8Array<ArrayBuffer>[]>();
const KEEP = 8;

/** A bounce buffer of at least `size` bytes, 4096-aligned; its first `size` bytes as a view. */
export function takeBounce(size: number): Uint8Array<ArrayBuffer> {
  const cls = Math.max(1, Math.ceil(size / WASM_PAGE));
  const list = free.get(cls);
  const whole = list?.pop() ?? allocAligned(cls * WASM_PAGE);
  return whole.subarray(0, size);
}

/** Gives a bounce buffer from {@link takeBounce} back. */
export function giveBounce(view: Uint8Array<ArrayBuffer>): void {
  const whole = new Uint8Array(
    view.buffer,
    view.byteOffset,
    view.buffer.byteLength - view.byteOffset,
  );
  const cls = whole.length / WASM_PAGE;
  let list = free.get(cls);
  if (list === undefined) free.set(cls, list = []);
  if (list.length < KEEP) list.push(whole);
}
