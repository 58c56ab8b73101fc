/**
 * The runtime running on this thread (one at a time, as in Pluvio: one executor per
 * thread).
 *
 * @module
 */
import { RuntimeStateError } from "../errors.ts";
import type { Runtime } from "./runtime.ts";

let current: Runtime | null = null;

/** The runtime whose `run()` is in progress on this thread; throws when none is. */
export function currentRuntime(): Runtime {
  if (current === null) {
    throw new RuntimeStateError(
      "no pluvio runtime is running on this thread: call this inside runtime.run(...)",
    );
  }
  return current;
}

/** The running runtime, or null. */
export function maybeCurrentRuntime(): Runtime | null {
  return current;
}

/** Sets the running runtime (used by `Runtime.run`). */
export function setCurrentRuntime(rt: Runtime | null): void {
  current = rt;
}
