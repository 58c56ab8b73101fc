/**
 * pluvio for Deno: a high-performance asynchronous I/O runtime.
 *
 * One executor per thread (`Runtime`) over pluggable reactors: timers (built in),
 * io_uring direct file I/O (`./uring`), UCX messaging (`./ucx`) and non-blocking
 * collectives over MPI or UCX (`./collective`).
 *
 * ```ts
 * import { Runtime, sleep, spawn, select } from "./mod.ts";
 *
 * const rt = new Runtime();
 * const out = await rt.run(async () => {
 *   const h = spawn(async (signal) => { await sleep(5, { signal }); return 42; });
 *   const r = await select((signal) => sleep(1000, { signal }), h);
 *   return r.right; // 42: the 1 s sleep lost and was cancelled
 * });
 * ```
 *
 * @module
 */
export {
  BackendUnavailableError,
  CancelledError,
  ClosedError,
  InvalidArgumentError,
  NativeLibraryError,
  OsError,
  PeerError,
  PluvioError,
  type PluvioErrorOptions,
  QueueFullError,
  RuntimeStateError,
  TimeoutError,
} from "./lib/errors.ts";
export {
  type ReactorStats,
  type RunOptions,
  Runtime,
  type RuntimeOptions,
  type RuntimeStats,
} from "./lib/runtime/runtime.ts";
export type { ParkFd, Reactor, ReactorHooks } from "./lib/runtime/reactor.ts";
export { JoinHandle, type SpawnOptions, type TaskFn, type TaskState } from "./lib/runtime/task.ts";
export { currentRuntime } from "./lib/runtime/current.ts";
export { DEFAULT_IDLE, type IdleConfig, type ParkMode } from "./lib/runtime/idle.ts";
export { SpinBudget, type SpinBudgetOptions } from "./lib/runtime/idle_policy.ts";
export { TimerReactor } from "./lib/timer/reactor.ts";
export type { TimerEntry } from "./lib/timer/heap.ts";
export { Delay, interval, sleep, sleepUntil, type TimerOptions } from "./lib/timer/sleep.ts";
export {
  type CombinatorOptions,
  type Either,
  type Op,
  select,
  timeout,
} from "./lib/combinators.ts";
export { ABI_VERSION, type Backend, hasBackend, libraryPath } from "./lib/ffi/library.ts";

import { currentRuntime } from "./lib/runtime/current.ts";
import type {
  JoinHandle as Handle,
  SpawnOptions as Opts,
  TaskFn as Fn,
} from "./lib/runtime/task.ts";

/** Spawns a task on the running runtime (see `Runtime.spawn`). */
export function spawn<T>(fn: Fn<T>, options?: Opts): Handle<T> {
  return currentRuntime().spawn(fn, options);
}
