/**
 * MpiReactor: drains in-flight MPI requests with `MPI_Testsome` inside the executor, and
 * advances the point-to-point allreduces (`native/src/mpi/p2p.rs`) in the same poll.
 *
 * Requests live in a native table (dense, so `MPI_Testsome` looks only at what is in
 * flight); each poll is one FFI call that writes `(id, error)` pairs into a completion
 * ring read through an `Int32Array` built once. MPI has no file descriptor to park on, so
 * while requests are in flight {@link MpiReactor.beforePark} asks the executor to come
 * back after a backoff (20 µs doubling to 1 ms, after a short spin window following each
 * submission or completion) instead of spinning a core.
 *
 * @module
 */
import { CancelledError, ClosedError, InvalidArgumentError, OsError } from "../../errors.ts";
import type { ReactorHooks } from "../../runtime/reactor.ts";
import type { Reactor } from "../../runtime/reactor.ts";
import {
  exclusive,
  mpiBusy,
  mpiLib,
  onBusyEnd,
  requestError,
  syncError,
  syncPtrError,
} from "./native.ts";
import { TimeoutError } from "../../errors.ts";
import type { CollectiveOptions } from "../types.ts";

/** Options of `new MpiReactor()`. */
export interface MpiReactorOptions {
  /**
   * The most requests in flight at once (default 1024, at most 1 << 20). Further ones
   * wait in submission order and are posted as earlier ones complete.
   */
  capacity?: number;
  /**
   * How long (ns) after the last submission or completion the executor keeps polling
   * without parking while requests are in flight (default 500 µs). MPI makes progress
   * only inside `MPI_Testsome`, so a large transfer advances only while it is polled; a
   * longer window helps bandwidth-bound collectives at the cost of CPU. 0 disables it.
   */
  spinNs?: number;
  /**
   * How long one `poll()` keeps calling `MPI_Testsome` natively while nothing completes
   * (ns, default 1000, at most 100000). Polling in a native loop drives MPI's progress
   * much more often than one FFI call per executor turn; 0 tests once.
   */
  pollSpinNs?: number;
  /**
   * How long a submission tests its request natively right after posting it (ns,
   * default 5000, at most 100000; 0: not at all). A small collective whose peers are
   * ready completes within it, and its promise settles without waiting for the
   * executor's next turn.
   */
  postSpinNs?: number;
  /**
   * How long a point-to-point allreduce is driven natively at submission while no step
   * of it completes (ns, default 20000, at most 200000; 0: one try). With the peers ready
   * most calls are over within it, at the speed of a blocking call and without an
   * executor turn; a call that is not hands over to the executor's polling. The whole
   * submission never spins more than 200 µs.
   */
  syncSpinNs?: number;
  /** First backoff before the executor polls again, after the spin window (ns). */
  minBackoffNs?: number;
  /** Longest backoff (ns); the backoff doubles from the first up to this. */
  maxBackoffNs?: number;
}

/** What to do at MPI completion: `code` is 0 or the MPI error; `abandoned` if nobody waits. */
export type OnComplete = (code: number, abandoned: boolean) => void;

interface Op {
  what: string;
  /** Buffers MPI reads or writes: referenced here until the request completes. */
  refs: unknown;
  /** Posts a request under `id` (0, 1 when already over, or a negative code); null for a
   * blocking call. */
  start: ((id: number) => number) | null;
  /** A blocking MPI call run on a helper thread, in queue order (split). */
  call: (() => Promise<unknown>) | null;
  /** What the promise resolves to. */
  result: unknown;
  resolve: (v: unknown) => void;
  reject: (e: unknown) => void;
  settled: boolean;
  done: OnComplete | undefined;
  cleanup: (() => void) | undefined;
}

const live = new Set<MpiReactor>();

/** Requests in flight or waiting, over every open MPI reactor (finalize refuses if > 0). */
export function requestsEverywhere(): number {
  let n = 0;
  for (const r of live) n += r.status();
  return n;
}

let submitImpl: (
  r: MpiReactor,
  what: string,
  refs: unknown,
  start: ((id: number) => number) | null,
  call: (() => Promise<unknown>) | null,
  result: unknown,
  options: CollectiveOptions | undefined,
  done: OnComplete | undefined,
) => Promise<unknown>;
let handleImpl: (r: MpiReactor) => Deno.PointerObject;
let submitSyncImpl: (
  r: MpiReactor,
  what: string,
  refs: unknown,
  start: (id: number, spinNs: number) => number,
  result: unknown,
  options: CollectiveOptions | undefined,
  done: OnComplete | undefined,
) => Promise<unknown>;

/**
 * Submits one request: `start(id)` posts it natively under `id` (returning 0 or a
 * negative code); `refs` stays referenced until it completes; the promise resolves to
 * `result`. Posting waits, in order, while the table is full or a blocking MPI call runs.
 * Internal to the MPI backend.
 */
export function submit<T>(
  r: MpiReactor,
  what: string,
  refs: unknown,
  start: (id: number) => number,
  result: T,
  options?: CollectiveOptions,
  done?: OnComplete,
): Promise<T> {
  return submitImpl(r, what, refs, start, null, result, options, done) as Promise<T>;
}

/**
 * Submits one request whose `start(id, spinNs)` may finish it at once: it posts under
 * `id`, drives it natively for up to `spinNs`, and returns 1 when it is already over (the
 * promise then settles without an executor turn and nothing stays in the reactor), 0
 * when its completion comes through the ring, or a negative code. With nothing waiting
 * ahead of it, the call starts right away with the reactor's `syncSpinNs`; otherwise it
 * waits in order like {@link submit} (then with no spin). Internal to the MPI backend.
 */
export function submitSync<T>(
  r: MpiReactor,
  what: string,
  refs: unknown,
  start: (id: number, spinNs: number) => number,
  result: T,
  options?: CollectiveOptions,
  done?: OnComplete,
): Promise<T> {
  return submitSyncImpl(r, what, refs, start, result, options, done) as Promise<T>;
}

/**
 * Runs `call`, which makes one blocking MPI call as a `nonblocking` FFI call, in
 * submission order with the requests of `r` (so every rank sees the same sequence),
 * with the main thread making no MPI call meanwhile. Internal to the MPI backend.
 */
export function submitBlocking<T>(
  r: MpiReactor,
  what: string,
  call: () => Promise<T>,
  options?: CollectiveOptions,
  done?: OnComplete,
): Promise<T> {
  return submitImpl(r, what, null, null, call, undefined, options, done) as Promise<T>;
}

/** The native handle of `r` (throws `ClosedError` once closed). Internal. */
export function reactorHandle(r: MpiReactor): Deno.PointerObject {
  return handleImpl(r);
}

/**
 * The reactor of the MPI backend. Register it with a runtime
 * (`runtime.registerReactor("mpi", reactor)`) and create communicators on it with
 * `MpiCommunicator.world(reactor)`. Use one per process; MPI must be initialised first.
 */
export class MpiReactor implements Reactor {
  #handle: Deno.PointerObject | null;
  readonly #ring: Int32Array;
  readonly #slots: (Op | undefined)[];
  readonly #free: number[];
  #inflight = 0;
  #queue: Op[] = [];
  #queueHead = 0;
  #blocking = 0;
  #hooks: ReactorHooks | undefined;
  #backoff: number;
  readonly #minBackoff: number;
  readonly #maxBackoff: number;
  readonly #spinMs: number;
  readonly #pollSpin: number;
  readonly #postSpin: number;
  readonly #syncSpin: number;
  /** Bumped on every submission and completion; beforePark notices the change. */
  #activity = 0;
  #seen = -1;
  #hotUntil = 0;
  #broken: Error | null = null;
  readonly #unsubscribe: () => void;

  static {
    submitImpl = (r, what, refs, start, call, result, options, done) =>
      r.#submit(what, refs, start, call, result, options, done);
    handleImpl = (r) => r.#live();
    submitSyncImpl = (r, what, refs, start, result, options, done) =>
      r.#submitSync(what, refs, start, result, options, done);
  }

  /** Creates a reactor; MPI must be initialised (`init()`). */
  constructor(options: MpiReactorOptions = {}) {
    const capacity = options.capacity ?? 1024;
    if (!Number.isInteger(capacity) || capacity < 1 || capacity > 1 << 20) {
      throw new InvalidArgumentError(
        `MpiReactor capacity must be an integer in 1..1048576; got ${capacity}`,
      );
    }
    this.#minBackoff = options.minBackoffNs ?? 20_000;
    this.#maxBackoff = options.maxBackoffNs ?? 1_000_000;
    if (!(this.#minBackoff > 0 && this.#maxBackoff >= this.#minBackoff)) {
      throw new InvalidArgumentError(
        `MpiReactor backoff needs 0 < minBackoffNs <= maxBackoffNs; got ${this.#minBackoff}, ${this.#maxBackoff}`,
      );
    }
    const spin = options.spinNs ?? 500_000;
    if (!(spin >= 0)) {
      throw new InvalidArgumentError(`MpiReactor spinNs must be >= 0; got ${spin}`);
    }
    this.#spinMs = spin / 1e6;
    const pollSpin = options.pollSpinNs ?? 1000;
    if (!Number.isInteger(pollSpin) || pollSpin < 0 || pollSpin > 100_000) {
      throw new InvalidArgumentError(
        `MpiReactor pollSpinNs must be an integer in 0..100000; got ${pollSpin}`,
      );
    }
    this.#pollSpin = pollSpin;
    const postSpin = options.postSpinNs ?? 5000;
    if (!Number.isInteger(postSpin) || postSpin < 0 || postSpin > 100_000) {
      throw new InvalidArgumentError(
        `MpiReactor postSpinNs must be an integer in 0..100000; got ${postSpin}`,
      );
    }
    this.#postSpin = postSpin;
    const syncSpin = options.syncSpinNs ?? 20_000;
    if (!Number.isInteger(syncSpin) || syncSpin < 0 || syncSpin > 200_000) {
      throw new InvalidArgumentError(
        `MpiReactor syncSpinNs must be an integer in 0..200000; got ${syncSpin}`,
      );
    }
    this.#syncSpin = syncSpin;
    this.#backoff = this.#minBackoff;
    const lib = mpiLib();
    const h = lib.pluvio_mpi_reactor_create(capacity);
    if (h === null) throw syncPtrError("MpiReactor");
    const ring = lib.pluvio_mpi_reactor_ring(h);
    if (ring === null) throw syncPtrError("MpiReactor ring");
    this.#handle = h;
    this.#ring = new Int32Array(Deno.UnsafePointerView.getArrayBuffer(ring, capacity * 8));
    this.#slots = new Array(capacity).fill(undefined);
    this.#free = Array.from({ length: capacity }, (_, i) => capacity - 1 - i);
    this.#unsubscribe = onBusyEnd(() => {
      if (this.status() > 0) this.#hooks?.wake();
    });
    live.add(this);
  }

  /** Requests in flight plus those waiting to be posted. O(1). */
  status(): number {
    if (this.#broken) return 0;
    return this.#inflight + this.#blocking + this.#queue.length - this.#queueHead;
  }

  /** Called by the runtime when the reactor is registered. */
  attach(hooks: ReactorHooks): void {
    this.#hooks = hooks;
  }

  /** Called by the runtime when the reactor is removed. */
  detach(): void {
    this.#hooks = undefined;
  }

  /**
   * How long, in nanoseconds, the executor may sleep before polling again: `Infinity`
   * when nothing is in flight; 0 (keep polling) within the spin window after the last
   * submission or completion; else the current backoff, which doubles up to the maximum.
   */
  beforePark(): number {
    if (this.status() === 0) return Infinity;
    // Only blocking calls on a helper thread: their end wakes the executor. Polling or
    // spinning meanwhile would take a core from MPI's own busy-polling helper thread (and
    // the peer ranks'), which slows the blocking call down by orders of magnitude.
    if (this.#inflight === 0 && this.#queue.length === this.#queueHead) return Infinity;
    const now = performance.now();
    if (this.#activity !== this.#seen) {
      this.#seen = this.#activity;
      this.#hotUntil = now + this.#spinMs;
      this.#backoff = this.#minBackoff;
    }
    if (now < this.#hotUntil) return 0;
    const b = this.#backoff;
    this.#backoff = Math.min(b * 2, this.#maxBackoff);
    return b;
  }

  /**
   * Tests the requests in flight (natively, for at most `pollSpinNs` while none
   * completes), settles the completed ones and posts waiting ones. Never blocks.
   */
  poll(): number {
    return this.#pollNow(this.#pollSpin);
  }

  #pollNow(spinNs: number): number {
    if (this.#handle === null || this.#broken || mpiBusy()) return 0;
    let n = 0;
    if (this.#inflight > 0) {
      n = mpiLib().pluvio_mpi_reactor_poll(this.#handle, spinNs);
      if (n < 0) {
        this.#fail(syncError(n, "MPI_Testsome"));
        return 0;
      }
      const ring = this.#ring;
      for (let k = 0; k < n; k++) {
        const id = ring[2 * k];
        const op = this.#slots[id]!;
        this.#slots[id] = undefined;
        this.#free.push(id);
        this.#inflight--;
        this.#finish(op, ring[2 * k + 1]);
      }
      if (n > 0) this.#activity++;
    }
    if (this.#queueHead < this.#queue.length) this.#drain();
    return n;
  }

  /**
   * Frees the native request table. Throws while requests are in flight or waiting
   * (their buffers are still in use by MPI).
   */
  close(): void {
    if (this.#handle === null) return;
    const n = this.status();
    if (n > 0) {
      throw new OsError("EBUSY", `MpiReactor.close: ${n} requests are still in flight`, {
        errno: 16,
      });
    }
    const rc = mpiLib().pluvio_mpi_reactor_destroy(this.#handle);
    if (rc < 0) throw syncError(rc, "MpiReactor.close");
    this.#handle = null;
    this.#unsubscribe();
    live.delete(this);
  }

  /** Same as {@link MpiReactor.close}. */
  [Symbol.dispose](): void {
    this.close();
  }

  #live(): Deno.PointerObject {
    if (this.#handle === null) throw new ClosedError("the MpiReactor is closed");
    return this.#handle;
  }

  #submit(
    what: string,
    refs: unknown,
    start: ((id: number) => number) | null,
    call: (() => Promise<unknown>) | null,
    result: unknown,
    options: CollectiveOptions | undefined,
    done: OnComplete | undefined,
  ): Promise<unknown> {
    const early = this.#refuse(what, options);
    if (early !== null) {
      done?.(-1, false); // nothing was posted: the caller's bookkeeping must still unwind
      return Promise.reject(early);
    }
    const signal = options?.signal;
    const timeout = options?.timeout;
    const { promise, resolve, reject } = Promise.withResolvers<unknown>();
    const op: Op = {
      what,
      refs,
      start,
      call,
      result,
      resolve,
      reject,
      settled: false,
      done,
      cleanup: undefined,
    };
    if (signal !== undefined || timeout !== undefined) this.#watch(op, signal, timeout);
    if (
      call !== null || this.#queueHead < this.#queue.length || this.#free.length === 0 ||
      mpiBusy()
    ) {
      this.#queue.push(op);
      this.#drain();
    } else {
      this.#post(op);
      if (this.#postSpin > 0) this.#pollNow(this.#postSpin);
    }
    this.#activity++;
    this.#hooks?.wake();
    return promise;
  }

  #submitSync(
    what: string,
    refs: unknown,
    start: (id: number, spinNs: number) => number,
    result: unknown,
    options: CollectiveOptions | undefined,
    done: OnComplete | undefined,
  ): Promise<unknown> {
    if (
      this.#handle === null || this.#broken || this.#queueHead < this.#queue.length ||
      this.#free.length === 0 || mpiBusy() || options?.signal?.aborted ||
      (options?.timeout !== undefined && !(options.timeout >= 0 && options.timeout <= 2 ** 31 - 1))
    ) {
      return this.#submit(what, refs, (id) => start(id, 0), null, result, options, done);
    }
    const id = this.#free.pop()!;
    let rc: number;
    try {
      rc = start(id, this.#syncSpin);
    } catch (e) {
      this.#free.push(id);
      done?.(-1, false);
      return Promise.reject(e);
    }
    if (rc === 1) {
      this.#free.push(id);
      done?.(0, false);
      return Promise.resolve(result);
    }
    if (rc < 0) {
      this.#free.push(id);
      done?.(-1, false);
      return Promise.reject(syncError(rc, what));
    }
    const { promise, resolve, reject } = Promise.withResolvers<unknown>();
    const op: Op = {
      what,
      refs,
      start: null,
      call: null,
      result,
      resolve,
      reject,
      settled: false,
      done,
      cleanup: undefined,
    };
    if (options?.signal !== undefined || options?.timeout !== undefined) {
      this.#watch(op, options.signal, options.timeout);
    }
    this.#slots[id] = op;
    this.#inflight++;
    this.#activity++;
    this.#hooks?.wake();
    return promise;
  }

  /** Why a submission cannot start at all, or null. */
  #refuse(what: string, options: CollectiveOptions | undefined): Error | null {
    if (this.#handle === null) return new ClosedError(`${what}: the MpiReactor is closed`);
    if (this.#broken) return this.#broken;
    const signal = options?.signal;
    const timeout = options?.timeout;
    if (signal?.aborted) {
      return new CancelledError(`${what} cancelled before it started`, { cause: signal.reason });
    }
    if (timeout !== undefined && !(timeout >= 0 && timeout <= 2 ** 31 - 1)) {
      return new InvalidArgumentError(`${what}: timeout must be 0..2147483647 ms; got ${timeout}`);
    }
    return null;
  }

  #watch(op: Op, signal: AbortSignal | undefined, timeout: number | undefined): void {
    let timer: ReturnType<typeof setTimeout> | undefined;
    const onAbort = () => {
      this.#abandon(op, new CancelledError(`${op.what} cancelled`, { cause: signal!.reason }));
    };
    if (timeout !== undefined) {
      timer = setTimeout(() => {
        this.#abandon(op, new TimeoutError(`${op.what} did not complete within ${timeout} ms`));
      }, timeout);
    }
    signal?.addEventListener("abort", onAbort, { once: true });
    op.cleanup = () => {
      if (timer !== undefined) clearTimeout(timer);
      signal?.removeEventListener("abort", onAbort);
    };
  }

  /** Rejects the caller's promise; the request itself still runs (and is posted, if it is
   * still waiting, so every rank sees the same sequence of collectives). */
  #abandon(op: Op, e: Error): void {
    if (op.settled) return;
    op.settled = true;
    op.cleanup?.();
    op.cleanup = undefined;
    op.reject(e);
  }

  #post(op: Op): void {
    const id = this.#free.pop()!;
    let rc: number;
    let err: unknown;
    try {
      rc = op.start!(id);
    } catch (e) {
      rc = -1;
      err = e;
    }
    if (rc === 1) {
      // Already over (a point-to-point call that needed no wait): nothing in flight.
      this.#free.push(id);
      this.#finish(op, 0);
      return;
    }
    if (rc >= 0) {
      this.#slots[id] = op;
      this.#inflight++;
      return;
    }
    this.#free.push(id);
    const e = err ?? syncError(rc, op.what);
    op.done?.(-1, op.settled);
    op.cleanup?.();
    if (!op.settled) {
      op.settled = true;
      op.reject(e);
    }
  }

  #finish(op: Op, code: number): void {
    op.cleanup?.();
    op.done?.(code, op.settled);
    if (op.settled) return;
    op.settled = true;
    if (code === 0) op.resolve(op.result);
    else op.reject(requestError(op.what, code));
  }

  /** Posts waiting requests in order while there is room and no blocking call runs. */
  #drain(): void {
    const q = this.#queue;
    while (this.#queueHead < q.length && !mpiBusy()) {
      const op = q[this.#queueHead];
      if (op.call === null && this.#free.length === 0) break;
      q[this.#queueHead++] = undefined as unknown as Op;
      if (op.call !== null) this.#runBlocking(op);
      else this.#post(op);
    }
    if (this.#queueHead === q.length) {
      this.#queue = [];
      this.#queueHead = 0;
    }
  }

  #runBlocking(op: Op): void {
    this.#blocking++;
    const settle = (ok: boolean, v: unknown) => {
      this.#blocking--;
      op.cleanup?.();
      op.done?.(ok ? 0 : -1, op.settled);
      if (!op.settled) {
        op.settled = true;
        if (ok) op.resolve(v);
        else op.reject(v);
      }
      this.#hooks?.wake();
    };
    exclusive(op.call!).then((v) => settle(true, v), (e) => settle(false, e));
  }

  /** `MPI_Testsome` itself failed: nothing in flight can be trusted any more. The
   * requests' buffers stay referenced (MPI may still hold them); everyone is told. */
  #fail(e: Error): void {
    this.#broken = e;
    for (const op of this.#slots) {
      if (op && !op.settled) {
        op.settled = true;
        op.cleanup?.();
        op.reject(e);
      }
    }
    for (let i = this.#queueHead; i < this.#queue.length; i++) {
      const op = this.#queue[i];
      if (!op.settled) {
        op.settled = true;
        op.cleanup?.();
        op.reject(e);
      }
    }
  }
}
