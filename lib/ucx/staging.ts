/**
 * Staging memory: where UCX reads and writes instead of a buffer JavaScript could
 * detach while an operation is in flight.
 *
 * The memory rule (the same as the io_uring backend's, see `lib/uring/memory.ts`):
 * `buffer.transfer()` or `postMessage(…, [buffer])` detaches an ordinary ArrayBuffer and
 * lets V8 free its memory at once, while UCX may still write a receive into it or read
 * a zero-copy or rendezvous send out of it. So UCX only ever touches memory JavaScript
 * cannot free: `WebAssembly.Memory`-backed buffers (`allocAligned`, the staging slots
 * here), `SharedArrayBuffer`s and pluvio's own native areas. Any other buffer is
 * staged: a receive lands in a slot and is copied into the caller's view on completion
 * (when the view was detached meanwhile, the operation rejects and nothing is written);
 * a send is copied into a slot at submission. Slots come from shared 64 KiB chunks (a
 * power-of-two size class each) and are reused once native code reported the
 * operation finished; a slot of an aborted operation is left to the GC, since UCX may
 * still be using it.
 *
 * @module
 */
import { InvalidArgumentError } from "../errors.ts";
import { isStable, stableMemory, WASM_PAGE } from "../uring/memory.ts";
import { MISFIT } from "./layout.ts";

/** The smallest slot. */
const MIN_SLOT = 256;
/** Slots kept per size class above a chunk (each is its own WebAssembly memory). */
const KEEP_LARGE = 4;
/** Free slots by size class (log2 of the slot size). */
const free: Uint8Array<ArrayBuffer>[][] = [];

/** Whether UCX may use `v` directly: JavaScript cannot free its memory (or it is empty). */
export function direct(v: Uint8Array): boolean {
  return v.length === 0 || isStable(v);
}

/** A staging slot of at least `n` (> 0) bytes; its first `n` bytes as a view. */
export function takeSlot(n: number): Uint8Array<ArrayBuffer> {
  const cls = Math.max(8, 32 - Math.clz32(Math.max(n, MIN_SLOT) - 1));
  const list = free[cls] ??= [];
  let slot = list.pop();
  if (slot === undefined) {
    const size = 2 ** cls;
    const ab = stableMemory(Math.max(size, WASM_PAGE), "a UCX staging buffer");
    for (let off = size; off + size <= ab.byteLength && size < WASM_PAGE; off += size) {
      list.push(new Uint8Array(ab, off, size));
    }
    slot = new Uint8Array(ab, 0, size);
  }
  return new Uint8Array(slot.buffer, slot.byteOffset, n);
}

/** Gives a slot from {@link takeSlot} back (native code no longer uses it). */
export function giveSlot(v: Uint8Array<ArrayBuffer> | null): void {
  if (v === null) return;
  const cls = Math.max(8, 32 - Math.clz32(Math.max(v.length, MIN_SLOT) - 1));
  const list = free[cls] ??= [];
  if (2 ** cls >= WASM_PAGE && list.length >= KEEP_LARGE) return;
  list.push(new Uint8Array(v.buffer, v.byteOffset, 2 ** cls));
}

/** A slot holding a copy of `v` (a send's data, staged at submission). */
export function copyToSlot(v: Uint8Array): Uint8Array<ArrayBuffer> {
  const s = takeSlot(v.length);
  s.set(v);
  return s;
}

/** What a finished operation reports, as far as staging needs it. */
export interface Result {
  /** Bytes received. */
  length: number;
  /** Header bytes (posted AM receives). */
  tagLo: number;
  /** `MISFIT` for a posted AM receive whose message did not fit. */
  tagHi: number;
}

/** The staging of one operation, finished when native code reports its success. */
export interface Finish {
  /** Lands what arrived and gives the slots back; returns an error to reject with. */
  finish(r: Result, what: () => string): Error | undefined;
}

/** The copies an `amSendMany` sends from: they go back once it finished. */
export class SendSlots implements Finish {
  readonly header: Uint8Array<ArrayBuffer> | null;
  readonly slots: Uint8Array<ArrayBuffer>[];

  /** Copies `header` (or null) and `slots`. */
  constructor(header: Uint8Array<ArrayBuffer> | null, slots: Uint8Array<ArrayBuffer>[]) {
    this.header = header;
    this.slots = slots;
  }

  /** Gives the copies back. */
  finish(): undefined {
    giveSlot(this.header);
    for (const s of this.slots) giveSlot(s);
  }
}

/** What a staged operation is: which result lengths go where on completion. */
export const enum Staged {
  /** A send: the slots only go back. */
  SEND,
  /** A receive of `length` bytes into `a` (tag receive, rendezvous pull). */
  RECV,
  /** A posted AM receive: `length` bytes into `a`, `tagLo` header bytes into `b`. */
  AM,
}

/**
 * The staging of one operation: up to two caller views and their slots (null: the
 * view is used directly). {@link Staging.finish} runs when native code reports success.
 */
export class Staging implements Finish {
  readonly kind: Staged;
  readonly a: Uint8Array | null;
  readonly sa: Uint8Array<ArrayBuffer> | null;
  readonly b: Uint8Array | null;
  readonly sb: Uint8Array<ArrayBuffer> | null;

  /** Staging of kind `kind`: view `a` through slot `sa`, view `b` through slot `sb`. */
  constructor(
    kind: Staged,
    a: Uint8Array | null,
    sa: Uint8Array<ArrayBuffer> | null,
    b: Uint8Array | null = null,
    sb: Uint8Array<ArrayBuffer> | null = null,
  ) {
    this.kind = kind;
    this.a = a;
    this.sa = sa;
    this.b = b;
    this.sb = sb;
  }

  /**
   * Copies what arrived into the caller's views and gives the slots back; returns the
   * error to reject with instead when a staged view was detached meanwhile (then
   * nothing is written).
   */
  finish(r: Result, what: () => string): Error | undefined {
    const { sa, sb } = this;
    try {
      if (this.kind === Staged.SEND || (this.kind === Staged.AM && r.tagHi === MISFIT)) return;
      const a = this.a!, b = this.b;
      if (
        (sa !== null && (a.buffer as ArrayBuffer).detached) ||
        (sb !== null && (b!.buffer as ArrayBuffer).detached)
      ) {
        return new InvalidArgumentError(
          `${what()}: the buffer was detached (ArrayBuffer.transfer or postMessage) while ` +
            `the receive was in flight; the message was received and dropped, nothing was ` +
            `written (allocAligned buffers cannot be detached)`,
        );
      }
      if (sa !== null && r.length > 0) a.set(new Uint8Array(sa.buffer, sa.byteOffset, r.length));
      if (sb !== null && r.tagLo > 0) b!.set(new Uint8Array(sb.buffer, sb.byteOffset, r.tagLo));
    } finally {
      giveSlot(sa);
      giveSlot(sb);
    }
  }
}
