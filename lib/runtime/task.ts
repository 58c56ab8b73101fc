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

const noop = () => {};

const RUNNING = 0, COMPLETED = 1, FAILED = 2, CANCELLED = 3;
const STATE_MASK = 3, OBSERVED = 4;
const STATES: readonly TaskState[] = ["running", "completed", "failed", "cancelled"];

/** What few tasks need: a name, a signal, a spawn-signal link, an early awaiter. */
interface Extras {
  name: string | undefined;
  controller: AbortController | null;
  unlink: (() => void) | null;
  res: ((v: never) => void) | null;
  rej: ((e: unknown) => void) | null;
}

/**
 * A spawned task (internal; users hold its {@link JoinHandle}).
 *
 * Kept small because spawn+join is a hot path whose cost is mostly allocation and GC
 * (8 fields): what few tasks need lives in one lazily created {@link Extras}, the state
 * and the observed flag share a number, and the function and then its outcome share a
 * slot. An async task function's outcome promise is the one promise that follows it.
 */
export class Task<T> {
  readonly id: number;
  /** State (low 2 bits) and OBSERVED. */
  #s = RUNNING;
  /** Intrusive list of live tasks (the runtime cancels them all when main fails). */
  prev: Task<unknown> | null = null;
  next: Task<unknown> | null = null;
  /** The task function until it starts; then the value, or the error once it failed. */
  #v: unknown;
  #owner: TaskOwner;
  /** The outcome promise, created by the first `promise()` or by an async start. */
  #p: Promise<T> | null = null;
  #x: Extras | null = null;

  constructor(id: number, name: string | undefined, owner: TaskOwner, fn: TaskFn<T>) {
    this.id = id;
    this.#owner = owner;
    this.#v = fn;
    if (name !== undefined) this.#extras().name = name;
  }

  #extras(): Extras {
    return this.#x ??= { name: undefined, controller: null, unlink: null, res: null, rej: null };
  }

  /** The task's name (`task-<id>` unless one was given). */
  get name(): string {
    return this.#x?.name ?? `task-${this.id}`;
  }

  /** The task's state. */
  get state(): TaskState {
    return STATES[this.#s & STATE_MASK];
  }

  /** Whether someone asked for the outcome ({@link promise}). */
  get observed(): boolean {
    return (this.#s & OBSERVED) !== 0;
  }

  /** The error of a failed or cancelled task. */
  get error(): unknown {
    const st = this.#s & STATE_MASK;
    return st === FAILED || st === CANCELLED ? this.#v : undefined;
  }

  /** The task's abort controller (created on first use). */
  get controller(): AbortController {
    const x = this.#extras();
    return x.controller ??= new AbortController();
  }

  /** Whether cancellation was requested. */
  get aborted(): boolean {
    const c = this.#x?.controller;
    return c != null && c.signal.aborted;
  }

  /** Links the spawn option `signal` to this task (before it starts). */
  link(signal: AbortSignal): void {
    if (signal.aborted) this.cancel(signal.reason);
    else {
      const onAbort = () => this.cancel(signal.reason);
      signal.addEventListener("abort", onAbort, { once: true });
      this.#extras().unlink = () => signal.removeEventListener("abort", onAbort);
    }
  }

  /** Runs the task function (the runtime calls it on a microtask, never in the spawner). */
  start(): void {
    const fn = this.#v as TaskFn<T>;
    this.#v = undefined;
    let r: T | PromiseLike<T>;
    try {
      r = fn.length === 0 ? (fn as () => T)() : fn(this.controller.signal);
    } catch (e) {
      this.#fail(e);
      const rej = this.#x?.rej;
      if (rej) rej(this.#v);
      return;
    }
    if (r !== null && typeof r === "object" && typeof (r as PromiseLike<T>).then === "function") {
      const p = this.#follow(r as PromiseLike<T>);
      if (this.#p === null) this.#p = p;
      else p.then(this.#x!.res as (v: T) => void, this.#x!.rej); // awaited before it started
    } else {
      this.#succeed(r as T);
      const res = this.#x?.res;
      if (res) (res as (v: T) => void)(r as T);
    }
  }

  /** Follows an async task function's promise; its own promise is the task's outcome. */
  async #follow(r: PromiseLike<T>): Promise<T> {
    let v: T;
    try {
      v = await r;
    } catch (e) {
      this.#fail(e);
      // Nobody awaits it (yet): the runtime reports it if it stays unobserved.
      if (!this.observed && this.#p !== null) this.#p.catch(noop);
      throw this.#v;
    }
    this.#succeed(v);
    return v;
  }

  /** Requests cancellation: aborts the task's signal with a {@link CancelledError}. */
  cancel(reason?: unknown): void {
    if ((this.#s & STATE_MASK) !== RUNNING || this.aborted) return;
    const err = reason instanceof CancelledError
      ? reason
      : new CancelledError(`task "${this.name}" (#${this.id}) was cancelled`, {
        cause: reason,
      });
    this.controller.abort(err);
  }

  #succeed(v: T): void {
    this.#s = (this.#s & OBSERVED) | COMPLETED;
    this.#v = v;
    this.#settle();
  }

  #fail(e: unknown): void {
    if (this.aborted) {
      this.#s = (this.#s & OBSERVED) | CANCELLED;
      const reason = this.controller.signal.reason;
      this.#v = e instanceof CancelledError ? e : reason;
    } else {
      this.#s = (this.#s & OBSERVED) | FAILED;
      this.#v = e;
    }
    this.#settle();
  }

  #settle(): void {
    const x = this.#x;
    if (x !== null && x.unlink !== null) {
      x.unlink();
      x.unlink = null;
    }
    this.#owner.taskSettled(this as Task<unknown>);
  }

  /** A promise of the task's outcome (the same one each time); marks the task observed. */
  promise(): Promise<T> {
    this.#s |= OBSERVED;
    if (this.#p !== null) return this.#p;
    const st = this.#s & STATE_MASK;
    if (st === COMPLETED) return this.#p = Promise.resolve(this.#v as T);
    if (st !== RUNNING) return this.#p = Promise.reject(this.#v);
    const x = this.#extras();
    return this.#p = new Promise<T>((res, rej) => {
      x.res = res as (v: never) => void;
      x.rej = rej;
    });
  }
}

/**
 * A handle on a spawned task: await it for the task's result (a failed task's error
 * rejects it, a cancelled one rejects with {@link CancelledError}), or `cancel()` it.
 */
export class JoinHandle<T> implements Promise<T> {
  #task: Task<T>;

  /** Tag for `Object.prototype.toString`; also makes a handle a structural Promise. */
  get [Symbol.toStringTag](): string {
    return "JoinHandle";
  }

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
