/**
 * Timers on the running runtime: `sleep`, `sleepUntil`, `Delay` and `interval`.
 *
 * @module
 */
import { CancelledError, InvalidArgumentError, TimeoutError } from "../errors.ts";
import { currentRuntime } from "../runtime/current.ts";
import type { TimerEntry } from "./heap.ts";
import type { TimerReactor } from "./reactor.ts";

/** Options of the timer functions. */
export interface TimerOptions {
  /** Cancels the timer: the promise rejects with a {@link CancelledError}. */
  signal?: AbortSignal;
}

function cancelled(signal: AbortSignal): CancelledError | TimeoutError {
  const r = signal.reason;
  // A timeout() deadline is passed through as is, so the operation sees why it stopped.
  if (r instanceof CancelledError || r instanceof TimeoutError) return r;
  return new CancelledError("timer cancelled", { cause: r });
}

function checkMs(ms: number, what: string): void {
  if (typeof ms !== "number" || Number.isNaN(ms)) {
    throw new InvalidArgumentError(`${what} must be a number of milliseconds, got ${ms}`);
  }
}

function at(timer: TimerReactor, deadline: number, signal?: AbortSignal): Promise<void> {
  if (signal?.aborted) return Promise.reject(cancelled(signal));
  return new Promise<void>((resolve, reject) => {
    if (!signal) {
      timer.add(deadline, resolve);
      return;
    }
    const onAbort = () => {
      timer.cancel(entry);
      reject(cancelled(signal));
    };
    const entry = timer.add(deadline, () => {
      signal.removeEventListener("abort", onAbort);
      resolve();
    });
    signal.addEventListener("abort", onAbort, { once: true });
  });
}

/** Resolves after `ms` milliseconds (sub-millisecond precision) on the running runtime. */
export function sleep(ms: number, options: TimerOptions = {}): Promise<void> {
  checkMs(ms, "sleep(ms)");
  return at(currentRuntime().timer, performance.now() + ms, options.signal);
}

/** Resolves when `performance.now()` reaches `deadline` (milliseconds). */
export function sleepUntil(deadline: number, options: TimerOptions = {}): Promise<void> {
  checkMs(deadline, "sleepUntil(deadline)");
  return at(currentRuntime().timer, deadline, options.signal);
}

/**
 * A timer with a deadline that can be moved (`reset`) or cancelled; await it like a
 * promise. Cancelling rejects it with {@link CancelledError}.
 */
export class Delay implements PromiseLike<void> {
  #timer: TimerReactor;
  #entry: TimerEntry | null = null;
  #deadline: number;
  #promise: Promise<void>;
  #resolve!: () => void;
  #reject!: (e: unknown) => void;
  #settled = false;

  /** Starts a delay of `ms` milliseconds on the running runtime. */
  constructor(ms: number, options: TimerOptions = {}) {
    checkMs(ms, "Delay(ms)");
    this.#timer = currentRuntime().timer;
    this.#deadline = performance.now() + ms;
    this.#promise = new Promise<void>((res, rej) => {
      this.#resolve = res;
      this.#reject = rej;
    });
    this.#promise.catch(() => {}); // a never-awaited cancelled Delay is not an error
    const signal = options.signal;
    if (signal?.aborted) this.cancel(signal.reason);
    else {
      signal?.addEventListener("abort", () => this.cancel(signal.reason), { once: true });
      this.#arm();
    }
  }

  #arm(): void {
    this.#entry = this.#timer.add(this.#deadline, () => {
      this.#entry = null;
      this.#settled = true;
      this.#resolve();
    });
  }

  /** The deadline on the `performance.now()` clock (ms). */
  get deadline(): number {
    return this.#deadline;
  }

  /** Whether the delay has fired or been cancelled. */
  get settled(): boolean {
    return this.#settled;
  }

  /** Moves the deadline to `ms` from now; returns false if it already settled. */
  reset(ms: number): boolean {
    checkMs(ms, "Delay.reset(ms)");
    if (this.#settled) return false;
    if (this.#entry) this.#timer.cancel(this.#entry);
    this.#deadline = performance.now() + ms;
    this.#arm();
    return true;
  }

  /** Cancels the delay (rejecting it with {@link CancelledError}); false if settled. */
  cancel(reason?: unknown): boolean {
    if (this.#settled) return false;
    this.#settled = true;
    if (this.#entry) this.#timer.cancel(this.#entry);
    this.#entry = null;
    this.#reject(
      reason instanceof CancelledError ? reason : new CancelledError("delay cancelled", {
        cause: reason,
      }),
    );
    return true;
  }

  /** Awaits the deadline. */
  then<R1 = void, R2 = never>(
    onfulfilled?: ((value: void) => R1 | PromiseLike<R1>) | null,
    onrejected?: ((reason: unknown) => R2 | PromiseLike<R2>) | null,
  ): Promise<R1 | R2> {
    return this.#promise.then(onfulfilled, onrejected);
  }
}

/**
 * Ticks every `ms` milliseconds on a fixed schedule (tick k is due at start + k·ms, so
 * there is no drift; a consumer that falls behind gets the missed ticks at once).
 * Yields the tick number, starting at 1. Ends quietly when `signal` aborts.
 */
export async function* interval(
  ms: number,
  options: TimerOptions = {},
): AsyncGenerator<number, void, void> {
  checkMs(ms, "interval(ms)");
  if (!(ms > 0)) throw new InvalidArgumentError(`interval(ms) needs ms > 0, got ${ms}`);
  const timer = currentRuntime().timer;
  const start = performance.now();
  for (let k = 1;; k++) {
    try {
      await at(timer, start + k * ms, options.signal);
    } catch (e) {
      if (e instanceof CancelledError) return;
      throw e;
    }
    yield k;
  }
}
