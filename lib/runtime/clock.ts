/**
 * The executor's clock: monotonic milliseconds, like `performance.now()` but read
 * through one fast FFI call (~30 ns) instead of ~110–190 ns per `performance.now()` call
 * in Deno 2.9. The executor reads it on every busy-poll turn, so on the latency path of
 * every message it waits for. The origin is the boot, not the process start: compare
 * its readings with each other only.
 *
 * @module
 */
import { coreLib } from "../ffi/library.ts";

interface Clock {
  pluvio_now_ms(): number;
}

/** The native clock, or `performance` when the native library cannot be loaded. */
function load(): Clock {
  try {
    return coreLib();
  } catch {
    return { pluvio_now_ms: () => performance.now() };
  }
}

let clock: Clock | null = null;

/** Monotonic time in milliseconds (fractional, ns resolution). */
export function nowMs(): number {
  return (clock ??= load()).pluvio_now_ms();
}
