/**
 * Tasks and their join handles.
 *
 * @module
 */
import { CancelledError } from "../errors.ts";

/** What a task function receives and returns. */
export type TaskFn<T> = (signal: AbortSignal) => T | PromiseLike<T>;

/** Options of `spawn`. */
export interface SpawnOptions {
  /** A name for errors and stats. */
  name?: string;
  /** Cancels the task when aborted. */
  signal?: AbortSignal;
}

/** The state of a task. */
export type TaskState = "running" | "completed" | "failed" | "cancelled";

/** Called by the task when it settles (the runtime's bookkeeping). */
export interface TaskOwner {
  /** Records that `task` settled. */
  taskSettled(task: Task<unknown>): void;
}

/** A spawned task (internal; users hold its {@link JoinHandle}). */
export class Task<T> {
  readonly id: number;
  readonly name: string;
  /** Created lazily: a task function that takes no parameter never sees its signal. */
  #controller: AbortController | null = null;
  state: TaskState = "running";
  /** Intrusive list of live tasks (the runtime cancels them all when main fails). */
  prev: Task<unknown> | null = null;
  next: Task<unknown> | null = null;
  value: T | undefined = undefined;
  error: unknown = undefined;
  observed = false;
  #owner: TaskOwner;
  #waiters: Array<[(v: T) => void, (e: unknown) => void]> | null = null;
  #unlink: (() => void) | null = null;

  constructor(id: number, name: string, owner: TaskOwner) {
    this.id = id;
    this.name = name;
    this.#owner = owner;
  }

  /** The task's abort controller (created on first use). */
  get controller(): AbortController {
    return this.#controller ??= new AbortController();
  }

  /** Whether cancellation was requested. */
  get aborted(): boolean {
    return this.#controller !== null && this.#controller.signal.aborted;
  }

  /** Starts `fn` on a microtask (never inline in the spawner). */
  start(fn: TaskFn<T>, signal: AbortSignal | undefined): void {
    if (signal) {
      if (signal.aborted) this.cancel(signal.reason);
      else {
        const onAbort = () => this.cancel(signal.reason);
        signal.addEventListener("abort", onAbort, { once: true });
        this.#unlink = () => signal.removeEventListener("abort", onAbort);
      }
    }
    queueMicrotask(() => {
      let r: T | PromiseLike<T>;
      try {
        r = fn.length === 0 ? (fn as () => T)() : fn(this.controller.signal);
      } catch (e) {
        this.#fail(e);
        return;
      }
      if (r !== null && typeof r === "object" && typeof (r as PromiseLike<T>).then === "function") {
        (r as PromiseLike<T>).then((v) => this.#succeed(v), (e) => this.#fail(e));
      } else this.#succeed(r as T);
    });
  }

  /** Requests cancellation: aborts the task's signal with a {@link CancelledError}. */
  cancel(reason?: unknown): void {
    if (this.state !== "running" || this.aborted) return;
    const err = reason instanceof CancelledError
      ? reason
      : new CancelledError(`task "${this.name}" (#${this.id}) was cancelled`, {
        cause: reason,
      });
    this.controller.abort(err);
  }

  #succeed(v: T): void {
    this.state = "completed";
    this.value = v;
    this.#settle();
  }

  #fail(e: unknown): void {
    if (this.aborted) {
      this.state = "cancelled";
      const reason = this.controller.signal.reason;
      this.error = e instanceof CancelledError ? e : reason;
    } else {
      this.state = "failed";
      this.error = e;
    }
    this.#settle();
  }

  #settle(): void {
    this.#unlink?.();
    this.#unlink = null;
    this.#owner.taskSettled(this as Task<unknown>);
    const w = this.#waiters;
    if (w) {
      this.#waiters = null;
      for (const [res, rej] of w) {
        if (this.state === "completed") res(this.value as T);
        else rej(this.error);
      }
    }
  }

  /** A promise of the task's outcome; marks the task observed. */
  promise(): Promise<T> {
    this.observed = true;
    if (this.state === "completed") return Promise.resolve(this.value as T);
    if (this.state !== "running") return Promise.reject(this.error);
    return new Promise<T>((res, rej) => (this.#waiters ??= []).push([res, rej]));
  }
}

/**
 * A handle on a spawned task: await it for the task's result (a failed task's error
 * rejects it, a cancelled one rejects with {@link CancelledError}), or `cancel()` it.
 */
export class JoinHandle<T> implements Promise<T> {
  #task: Task<T>;
  /** Tag for `Object.prototype.toString`; also makes a handle a structural Promise. */
  readonly [Symbol.toStringTag] = "JoinHandle";

  /** Wraps a task (created by `Runtime.spawn`). */
  constructor(task: Task<T>) {
    this.#task = task;
  }

  /** The task's id, unique within its runtime. */
  get id(): number {
    return this.#task.id;
  }

  /** The task's name. */
  get name(): string {
    return this.#task.name;
  }

  /** The task's current state. */
  get state(): TaskState {
    return this.#task.state;
  }

  /** The signal the task function received; aborted when the task is cancelled. */
  get signal(): AbortSignal {
    return this.#task.controller.signal;
  }

  /**
   * Cancels the task: its signal aborts with a {@link CancelledError} (cancelling the
   * operations it passed the signal to). Awaiting the handle then rejects with that
   * error once the task function settles, unless it had already completed.
   */
  cancel(reason?: unknown): void {
    this.#task.cancel(reason);
  }

  /** Awaits the task's result. */
  then<R1 = T, R2 = never>(
    onfulfilled?: ((value: T) => R1 | PromiseLike<R1>) | null,
    onrejected?: ((reason: unknown) => R2 | PromiseLike<R2>) | null,
  ): Promise<R1 | R2> {
    return this.#task.promise().then(onfulfilled, onrejected);
  }

  /** Awaits the task, handling its failure. */
  catch<R = never>(onrejected?: ((reason: unknown) => R | PromiseLike<R>) | null): Promise<T | R> {
    return this.#task.promise().catch(onrejected);
  }

  /** Runs `onfinally` when the task settles. */
  finally(onfinally?: (() => void) | null): Promise<T> {
    return this.#task.promise().finally(onfinally);
  }
}
