/**
 * `select`, `Either` and `timeout`: composing cancellable operations.
 *
 * An operation is either a function that receives an `AbortSignal` (and should pass it
 * to what it awaits) or a {@link JoinHandle}; the loser of a `select` and an operation
 * that times out are cancelled through that signal / handle.
 *
 * @module
 */
import { CancelledError, TimeoutError } from "./errors.ts";
import { JoinHandle } from "./runtime/task.ts";
import { currentRuntime } from "./runtime/current.ts";

/** Either a left or a right value (the winner of {@link select}). */
export type Either<A, B> = { left: A; right?: undefined } | { right: B; left?: undefined };

/** A cancellable operation: a function of an `AbortSignal`, or a task's handle. */
export type Op<T> = ((signal: AbortSignal) => PromiseLike<T> | T) | JoinHandle<T>;

/** Options of {@link select} and {@link timeout}. */
export interface CombinatorOptions {
  /** Cancels both operations (the result rejects with {@link CancelledError}). */
  signal?: AbortSignal;
}

interface Started<T> {
  promise: Promise<T>;
  cancel(reason: unknown): void;
}

function start<T>(op: Op<T>, parent?: AbortSignal): Started<T> {
  if (op instanceof JoinHandle) {
    return { promise: Promise.resolve(op), cancel: (r) => op.cancel(r) };
  }
  const ac = new AbortController();
  let promise: Promise<T>;
  try {
    promise = Promise.resolve(op(parent ? AbortSignal.any([ac.signal, parent]) : ac.signal));
  } catch (e) {
    promise = Promise.reject(e);
  }
  return { promise, cancel: (r) => ac.abort(r) };
}

/**
 * Runs `a` and `b` concurrently and resolves with the first to finish as
 * `{ left }` / `{ right }`; the other is cancelled through its signal (its eventual
 * outcome is discarded). If the first to settle fails, the other is cancelled and the
 * failure rejects the result.
 */
export function select<A, B>(
  a: Op<A>,
  b: Op<B>,
  options: CombinatorOptions = {},
): Promise<Either<A, B>> {
  const parent = options.signal;
  if (parent?.aborted) {
    return Promise.reject(new CancelledError("select cancelled", { cause: parent.reason }));
  }
  const sa = start(a, parent);
  const sb = start(b, parent);
  return new Promise<Either<A, B>>((resolve, reject) => {
    let done = false;
    const lost = new CancelledError("lost a select()");
    const finish = (loser: Started<unknown>, f: () => void) => {
      if (done) return;
      done = true;
      loser.cancel(lost);
      f();
    };
    sa.promise.then(
      (v) => finish(sb, () => resolve({ left: v })),
      (e) => finish(sb, () => reject(e)),
    );
    sb.promise.then(
      (v) => finish(sa, () => resolve({ right: v })),
      (e) => finish(sa, () => reject(e)),
    );
  });
}

/**
 * Runs `op` with a deadline of `ms` milliseconds: resolves with its result, or rejects
 * with {@link TimeoutError} and cancels it (its signal aborts with that same error).
 * Needs a running runtime (the deadline is a runtime timer).
 */
export function timeout<T>(ms: number, op: Op<T>, options: CombinatorOptions = {}): Promise<T> {
  const timer = currentRuntime().timer; // throws outside a runtime, before starting op
  const parent = options.signal;
  if (parent?.aborted) {
    return Promise.reject(new CancelledError("timeout() cancelled", { cause: parent.reason }));
  }
  const s = start(op, parent);
  return new Promise<T>((resolve, reject) => {
    let done = false;
    const entry = timer.add(performance.now() + ms, () => {
      if (done) return;
      done = true;
      const e = new TimeoutError(`operation timed out after ${ms} ms`);
      s.cancel(e);
      reject(e);
    });
    s.promise.then(
      (v) => {
        if (done) return;
        done = true;
        timer.cancel(entry);
        resolve(v);
      },
      (e) => {
        if (done) return;
        done = true;
        timer.cancel(entry);
        reject(e);
      },
    );
  });
}
