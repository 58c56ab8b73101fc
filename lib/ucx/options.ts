/**
 * Options shared by the UCX calls, and the checks of their arguments (lengths, tags,
 * spins), made before anything is submitted.
 *
 * @module
 */
import { InvalidArgumentError } from "../errors.ts";

/** Options taking an `AbortSignal`. */
export interface SignalOptions {
  /** Aborts the operation (or the wait for it) with a `CancelledError`. */
  signal?: AbortSignal;
}

/** Options of the receives that can busy-wait first. */
export interface SpinOptions extends SignalOptions {
  /**
   * When nothing has arrived yet, progress the worker synchronously for up to this many
   * microseconds before waiting through the event loop (default 0; at most 1 000 000).
   * Busy-waiting is how one-way latencies of a fraction of a microsecond are reached: it
   * holds the JavaScript thread (no timers or other tasks run) for at most this long.
   */
  spinUs?: number;
}

/** The largest length a native call takes (lengths travel as u32). */
export const MAX_U32 = 0xffff_ffff;
/** The largest tag. */
export const MAX_TAG = 0xffff_ffff_ffff_ffffn;

/** `spinUs` in nanoseconds, checked (0 when not given). */
export function spinNs(o: SpinOptions | undefined): number {
  const us = o?.spinUs;
  if (us === undefined || us === 0) return 0;
  if (typeof us !== "number" || !(us >= 0 && us <= 1_000_000)) {
    throw new InvalidArgumentError(`spinUs must be a number of µs in 0..1000000, got ${us}`);
  }
  return Math.round(us * 1000);
}

/** Checks `b` fits the 32-bit lengths of the native calls. */
export function checkLength(b: Uint8Array, what: string): void {
  if (b.length > MAX_U32) {
    throw new InvalidArgumentError(
      `${what} is ${b.length} bytes; at most ${MAX_U32} are supported`,
    );
  }
}

/** A 64-bit tag from a bigint or a non-negative safe integer. */
export function toTag(tag: bigint | number, what: string): bigint {
  if (typeof tag === "number") {
    if (!Number.isSafeInteger(tag) || tag < 0) {
      throw new InvalidArgumentError(`${what}: a number tag must be a non-negative safe integer`);
    }
    return BigInt(tag);
  }
  if (typeof tag !== "bigint" || tag < 0n || tag > MAX_TAG) {
    throw new InvalidArgumentError(`${what}: tag must fit in 64 bits`);
  }
  return tag;
}

/** A shared empty buffer. */
export const EMPTY: Uint8Array = new Uint8Array(0);

/**
 * The bytes of `data` as a `Uint8Array` view (no copy); `undefined` is empty. Anything
 * else than an `ArrayBuffer` or a view of one (a number, a string, an array, a
 * `SharedArrayBuffer`) is refused with `InvalidArgumentError` naming `what`.
 */
export function asBytes(data: unknown, what: string | (() => string)): Uint8Array {
  if (data instanceof Uint8Array) return data;
  if (data === undefined) return EMPTY;
  if (ArrayBuffer.isView(data)) {
    return new Uint8Array(data.buffer, data.byteOffset, data.byteLength);
  }
  if (data instanceof ArrayBuffer) return new Uint8Array(data);
  const w = typeof what === "string" ? what : what();
  const got = data === null ? "null" : Array.isArray(data) ? "an array" : typeof data;
  throw new InvalidArgumentError(
    `${w}: expected an ArrayBuffer or a typed array / DataView, got ${got}`,
  );
}
