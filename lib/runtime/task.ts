/**
 * Tasks and their join handles.
 *
 * A task is its {@link JoinHandle}: one object per spawn. Spawn+join is a hot path
 * whose cost is mostly allocation, GC and write barriers (many tasks alive at once get
 * promoted to the old generation), so a handle is small (5 fields) and nothing writes
 * into it after it settles: what few tasks need (a name, a signal, a spawn-signal link,
 * an awaiter from before it settled) lives in one lazily created object; the state and
 * flags share a number; the function and then its outcome share a slot; an async task
 * function's promise is followed by two bound functions (no closure context) whose
 * reaction promise is dropped; joining a settled task makes a fresh settled promise. No
 * list links live tasks: when the main task fails, the runtime aborts the tasks that
 * have an abort controller and the rest see the cancellation lazily
 * (`TaskOwner.cancelBelow`). The runtime drives handles through {@link tasks}, which user
 * code never sees.
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

/** The runtime's side of its tasks: bookkeeping and cancelling them all. */
export interface TaskOwner {
  /** Records that `task` settled. */
  taskSettled(task: JoinHandle<unknown>): void;
  /** `task` created its abort controller: {@link cancelAll} must abort it. */
  watch(task: JoinHandle<unknown>): void;
  /**
   * Tasks with a smaller id that were running when the main task failed are cancelled
   * with {@link cancelReason} (0: none were). A task without an abort controller is
   * cancelled lazily: its signal is born aborted and a failure counts as cancelled.
   */
  cancelBelow: number;
  /** The reason of that cancellation. */
  cancelReason: unknown;
}

const RUNNING = 0, COMPLETED = 1, FAILED = 2, CANCELLED = 3;
/** OBSERVED: someone asked for the outcome. SWEPT: it settled after a cancel-all that covered it. */
const STATE_MASK = 3, OBSERVED = 4, SWEPT = 8;
const STATES: readonly TaskState[] = ["running", "completed", "failed", "cancelled"];

/** What few tasks need: a name, a signal, a spawn-signal link, an early awaiter. */
interface Extras {
  name: string | undefined;
  controller: AbortController | null;
  unlink: (() => void) | null;
  /** The outcome promise of an awaiter from before the task settled, and its resolvers. */
  p: Promise<unknown> | null;
  res: ((v: never) => void) | null;
  rej: ((e: unknown) => void) | null;
}

/** The runtime's access to tasks (internal: not exported by the package). */
export interface TaskOps {
  /** A new task that runs `fn` when {@link TaskOps.start}ed. */
  create<T>(id: number, name: string | undefined, owner: TaskOwner, fn: TaskFn<T>): JoinHandle<T>;
  /** Runs the task function (on a microtask, never in the spawner). */
  start(t: JoinHandle<unknown>): void;
  /** Cancels the task when `signal` aborts (before it starts). */
  link(t: JoinHandle<unknown>, signal: AbortSignal): void;
  /** The task's outcome promise (the same one each time); marks it observed. */
  promise<T>(t: JoinHandle<T>): Promise<T>;
  /** Whether someone asked for the outcome. */
  observed(t: JoinHandle<unknown>): boolean;
  /** The error of a failed or cancelled task. */
  error(t: JoinHandle<unknown>): unknown;
}

// Assigned in JoinHandle's static block, which may touch its private fields.
let ops!: TaskOps;
/** An async task function's reactions, bound to the task (`this`) at its start. */
let onOk!: (this: JoinHandle<unknown>, v: unknown) => void;
let onErr!: (this: JoinHandle<unknown>, e: unknown) => void;

/**
 * A handle on a spawned task: await it for the task's result (a failed task's error
 * rejects it, a cancelled one rejects with {@link CancelledError}), or `cancel()` it.
 * Handles are created by `spawn()`.
 */
export class JoinHandle<T> implements Promise<T> {
  readonly #id: number;
  /** State (low 2 bits), OBSERVED and SWEPT. */
  #s = RUNNING;
  /** The task function until it starts; then the value, or the error once it failed. */
  #v: unknown;
  #owner: TaskOwner;
  #x: Extras | null = null;

  private constructor(id: number, name: string | undefined, owner: TaskOwner, fn: TaskFn<T>) {
    this.#id = id;
    this.#owner = owner;
    this.#v = fn;
    if (name !== undefined) this.#extras().name = name;
  }

  static {
    onOk = function (this: JoinHandle<unknown>, v: unknown) {
      this.#succeed(v);
    };
    onErr = function (this: JoinHandle<unknown>, e: unknown) {
      this.#fail(e);
    };
    ops = {
      create: (id, name, owner, fn) => new JoinHandle(id, name, owner, fn),
      start: (t) => t.#start(),
      link: (t, signal) => t.#link(signal),
      promise: (t) => t.#promise(),
      observed: (t) => (t.#s & OBSERVED) !== 0,
      error: (t) => {
        const st = t.#s & STATE_MASK;
        return st === FAILED || st === CANCELLED ? t.#v : undefined;
      },
    };
  }

  /** Tag for `Object.prototype.toString`; also makes a handle a structural Promise. */
  get [Symbol.toStringTag](): string {
    return "JoinHandle";
  }

  /** The task's id, unique within its runtime. */
  get id(): number {
    return this.#id;
  }

  /** The task's name (`task-<id>` unless one was given). */
  get name(): string {
    return this.#x?.name ?? `task-${this.#id}`;
  }

  /** The task's current state. */
  get state(): TaskState {
    return STATES[this.#s & STATE_MASK];
  }

  /** The signal the task function received; aborted when the task is cancelled. */
  get signal(): AbortSignal {
    return this.#controller().signal;
  }

  /**
   * Cancels the task: its signal aborts with a {@link CancelledError} (cancelling the
   * operations it passed the signal to). Awaiting the handle then rejects with that
   * error once the task function settles, unless it had already completed.
   */
  cancel(reason?: unknown): void {
    if ((this.#s & STATE_MASK) !== RUNNING || this.#aborted()) return;
    this.#controller().abort(this.#cancelError(reason));
  }

  #cancelError(reason: unknown): CancelledError {
    return reason instanceof CancelledError
      ? reason
      : new CancelledError(`task "${this.name}" (#${this.#id}) was cancelled`, {
        cause: reason,
      });
  }

  /** Whether the runtime's cancel-all covers this task (see `TaskOwner.cancelBelow`). */
  #swept(): boolean {
    return (this.#s & STATE_MASK) === RUNNING
      ? this.#id < this.#owner.cancelBelow
      : (this.#s & SWEPT) !== 0;
  }

  /** Awaits the task's result. */
  then<R1 = T, R2 = never>(
    onfulfilled?: ((value: T) => R1 | PromiseLike<R1>) | null,
    onrejected?: ((reason: unknown) => R2 | PromiseLike<R2>) | null,
  ): Promise<R1 | R2> {
    return this.#outcome().then(onfulfilled, onrejected);
  }

  /** Awaits the task, handling its failure. */
  catch<R = never>(onrejected?: ((reason: unknown) => R | PromiseLike<R>) | null): Promise<T | R> {
    return this.#outcome().catch(onrejected);
  }

  /** Runs `onfinally` when the task settles. */
  finally(onfinally?: (() => void) | null): Promise<T> {
    return this.#outcome().finally(onfinally);
  }

  #extras(): Extras {
    return this.#x ??= {
      name: undefined,
      controller: null,
      unlink: null,
      p: null,
      res: null,
      rej: null,
    };
  }

  /** The task's abort controller (created on first use; aborted if a cancel-all covers it). */
  #controller(): AbortController {
    const x = this.#extras();
    if (x.controller !== null) return x.controller;
    const c = x.controller = new AbortController();
    if (this.#swept()) c.abort(this.#cancelError(this.#owner.cancelReason));
    else if ((this.#s & STATE_MASK) === RUNNING) this.#owner.watch(this as JoinHandle<unknown>);
    return c;
  }

  #aborted(): boolean {
    const c = this.#x?.controller;
    return c != null ? c.signal.aborted : this.#swept();
  }

  #link(signal: AbortSignal): void {
    if (signal.aborted) this.cancel(signal.reason);
    else {
      const onAbort = () => this.cancel(signal.reason);
      signal.addEventListener("abort", onAbort, { once: true });
      this.#extras().unlink = () => signal.removeEventListener("abort", onAbort);
    }
  }

  #start(): void {
    const fn = this.#v as TaskFn<T>;
    this.#v = undefined;
    let r: T | PromiseLike<T>;
    try {
      r = fn.length === 0 ? (fn as () => T)() : fn(this.#controller().signal);
    } catch (e) {
      this.#fail(e);
      return;
    }
    if (r !== null && typeof r === "object" && typeof (r as PromiseLike<T>).then === "function") {
      // Follows the function's promise with two bound functions (no closure context, no
      // outcome promise kept: the reaction's promise is dropped once it ran).
      Promise.resolve(r).then(onOk.bind(this), onErr.bind(this));
    } else this.#succeed(r as T);
  }

  #succeed(v: T): void {
    this.#s = (this.#s & OBSERVED) | COMPLETED;
    this.#v = v;
    this.#settle();
    const res = this.#x?.res;
    if (res) (res as (v: T) => void)(v); // awaited before it settled
  }

  #fail(e: unknown): void {
    if (this.#aborted()) {
      const reason = this.#controller().signal.reason;
      this.#s = (this.#s & OBSERVED) | CANCELLED;
      this.#v = e instanceof CancelledError ? e : reason;
    } else {
      this.#s = (this.#s & OBSERVED) | FAILED;
      this.#v = e;
    }
    this.#settle();
    const rej = this.#x?.rej;
    if (rej) rej(this.#v); // awaited before it settled
  }

  #settle(): void {
    if (this.#id < this.#owner.cancelBelow) this.#s |= SWEPT;
    const x = this.#x;
    if (x !== null && x.unlink !== null) {
      x.unlink();
      x.unlink = null;
    }
    this.#owner.taskSettled(this as JoinHandle<unknown>);
  }

  /**
   * The task's outcome for one awaiter: a settled task's is a new settled promise (so
   * joining a task that settled long ago writes nothing into it), a running task's is
   * the one promise it settles when it does.
   */
  #outcome(): Promise<T> {
    this.#s |= OBSERVED;
    const st = this.#s & STATE_MASK;
    if (st === COMPLETED) return Promise.resolve(this.#v as T);
    if (st !== RUNNING) return Promise.reject(this.#v);
    const x = this.#extras();
    return (x.p ??= new Promise<T>((res, rej) => {
      x.res = res as (v: never) => void;
      x.rej = rej;
    })) as Promise<T>;
  }

  /** The task's outcome promise, the same one each time. */
  #promise(): Promise<T> {
    const x = this.#x;
    if (x !== null && x.p !== null) {
      this.#s |= OBSERVED;
      return x.p as Promise<T>;
    }
    const p = this.#outcome();
    this.#extras().p = p;
    return p;
  }
}

/** The runtime's access to tasks (see {@link TaskOps}). */
export const tasks: TaskOps = ops;
