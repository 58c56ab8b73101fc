/**
 * The Reactor interface: how an I/O backend plugs into the executor.
 *
 * A reactor owns a source of completions (an io_uring CQ, a UCX worker, MPI requests,
 * a timer heap). The executor polls only reactors that have work: a reactor calls the
 * `wake` hook it receives in {@link Reactor.attach} whenever it submits work, and the
 * executor keeps polling it while {@link Reactor.status} is nonzero.
 *
 * @module
 */
import type { SpinBudget } from "./idle_policy.ts";

/** Hooks the runtime gives a reactor when it is registered. */
export interface ReactorHooks {
  /**
   * Tell the executor this reactor has (new) work: it joins the set of polled
   * reactors, and a parked executor wakes up. O(1); call it on every submission.
   */
  wake(): void;
  /**
   * Removes the reactor from the runtime (as `unregisterReactor` does, also while
   * operations are in flight): for a reactor that is closing, so its park fd leaves the
   * parker before the fd is closed. The runtime then calls `detach`.
   */
  unregister?(): void;
}

/** A readiness fd the runtime's parking notifier waits on. */
export interface ParkFd {
  /** The file descriptor (readable when `poll()` would find work). */
  fd: number;
  /** Whether the notifier reads 8 bytes from it on wake (an eventfd nobody else reads). */
  drain: boolean;
}

/** A pluggable completion source driven by the executor. */
export interface Reactor {
  /**
   * Dispatches ready completions (resolving their promises) and returns how many it
   * dispatched. Must never block.
   */
  poll(): number;
  /**
   * Whether the last `poll()` made progress that completed nothing yet (bytes of a
   * transfer moved). The executor counts such a turn as busy, not idle: it keeps polling
   * instead of backing off and parking while data flows, and still yields to the event
   * loop every millisecond. Leave it undefined or false when nothing moved.
   */
  readonly active?: boolean;
  /** The number of operations in flight; O(1) (a counter, never a scan). */
  status(): number;
  /** Called once by `Runtime.registerReactor` with the runtime's hooks. */
  attach?(hooks: ReactorHooks): void;
  /** Called by `Runtime` when the reactor is removed or the runtime is closed. */
  detach?(): void;
  /** An fd that becomes readable when this reactor has completions, if it has one. */
  readonly parkFd?: ParkFd | null;
  /**
   * Asked right before the executor parks (after a poll that found nothing).
   * Returns how long, in nanoseconds, the executor may sleep before it must poll this
   * reactor again: `Infinity` when `parkFd` covers every completion, `0` when it must not
   * park now. Reactors without this method and without a `parkFd` are polled with a
   * backoff (50 µs growing to 1 ms).
   */
  beforePark?(): number;
  /**
   * This reactor's adaptive spin budget (see `SpinBudget`). With {@link wantsSpin}: when a
   * turn finds nothing, the executor busy-polls up to `spin.budgetUs()` µs while
   * `wantsSpin()` is true, and reports to it how long the awaited completion took
   * (`hit`) or that the spin found nothing (`miss`). With {@link deadlines}: the executor
   * wakes from a park `spin.budgetUs()` early and busy-polls to the deadline, reporting
   * how late each native wake-up arrived.
   */
  readonly spin?: SpinBudget | null;
  /**
   * Whether this reactor now has work worth spinning for (a receive pending on a live
   * endpoint, say); asked once when the executor runs out of work. Needs {@link spin}.
   */
  wantsSpin?(): boolean;
  /**
   * How many idle executor turns this reactor's pending work is worth polling before the
   * executor parks (after any spin of its {@link spin} budget): a reactor whose
   * completions take longer than a park and wake-up (an io_uring device: tens of µs and
   * more) sets it low, since every polling and yielding turn then only burns CPU. Read
   * when an idle period begins; the executor parks after the largest value among the
   * reactors with work (timers excepted), a reactor without it counting as the runtime's
   * `PLUVIO_IDLE_SLEEP_AFTER`, which also caps it. Undefined: the runtime's setting.
   */
  readonly parkAfter?: number;
  /**
   * Whether {@link beforePark} returns exact deadlines (a timer) rather than a poll
   * interval: the executor then wakes early by `spin.budgetUs()` and busy-polls the rest,
   * so completions are on time whatever the machine's wake latency.
   */
  readonly deadlines?: boolean;
}
