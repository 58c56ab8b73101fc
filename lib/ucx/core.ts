/**
 * {@link WorkerCore}: the native worker handle and its request lifecycle — the one
 * place where a submission's result becomes a finished operation or a {@link Request}
 * in flight, where requests are spun on, counted by the reactor, aborted and settled.
 * Endpoints, messages, streams and receivers hold the core, never the public `Worker`.
 *
 * @module
 */
import { ClosedError } from "../errors.ts";
import { abortError } from "./mailbox.ts";
import { IMM_WORDS, POLL_MOVED, Wait } from "./layout.ts";
import { checkUcx, eventError, ucxError, type UcxSymbols } from "./native.ts";
import { MAX_U32 } from "./options.ts";
import { type OpResult, OpTable, Request } from "./request.ts";
import type { UcxReactor } from "./reactor.ts";
import { lastError } from "../ffi/library.ts";

const TWO32 = 4294967296;

/** Something whose eager payload sits in the arena until it is copied out. */
export interface ArenaHolder {
  /** Copies the payload out of the arena (the worker is about to progress). */
  detach(): void;
}

/** The native worker, its requests in flight and their lifecycle. */
export class WorkerCore {
  /** Native symbols. */
  readonly sym: UcxSymbols;
  #ptr: Deno.PointerObject | null;
  /** The reactor that polls the worker. */
  readonly reactor: UcxReactor;
  /** Requests in flight. */
  readonly ops: OpTable = new OpTable();
  /** Result area of submissions that finished at once: [len lo, len hi, tag lo, tag hi]. */
  readonly imm: Uint32Array;
  /** Hands the `n` events a progress call left in the ring to the decoder. */
  dispatch: (n: number) => void = () => {};
  /** Messages whose eager payload is still in the arena (the first `#lazyN`). */
  #lazy: (ArenaHolder | undefined)[] = [];
  #lazyN = 0;
  /**
   * Whether the last {@link WorkerCore.poll} found UCX making progress (a transfer
   * moving) with nothing finished yet.
   */
  moved = false;

  /** The core of native worker `ptr`. */
  constructor(sym: UcxSymbols, ptr: Deno.PointerObject, reactor: UcxReactor) {
    this.sym = sym;
    this.#ptr = ptr;
    this.reactor = reactor;
    const imm = sym.pluvio_ucx_worker_imm(ptr);
    if (imm === null) throw new ClosedError("the UCX worker has no result area");
    this.imm = new Uint32Array(Deno.UnsafePointerView.getArrayBuffer(imm, IMM_WORDS * 4));
  }

  /** Native worker handle (throws `ClosedError` once the worker is closed). */
  get ptr(): Deno.PointerObject {
    const p = this.#ptr;
    if (p === null) throw new ClosedError("the UCX worker is closed");
    return p;
  }

  /** Whether the worker was closed. */
  get closed(): boolean {
    return this.#ptr === null;
  }

  /**
   * The one handler of a submission's native result `rc` for op `id`: `null` when UCX
   * finished it at once (its result in {@link WorkerCore.immResult}), else its
   * {@link Request}, in flight and not yet counted by the reactor. A failed submission
   * throws its typed error (`what` names it).
   */
  submit(rc: number, id: number, what: string | (() => string), refs: unknown): Request | null {
    if (rc === 1) {
      this.ops.release(id);
      return null;
    }
    if (rc < 0) {
      this.ops.release(id);
      throw ucxError(rc, typeof what === "string" ? what : what(), lastError());
    }
    const req = new Request(id, what, refs);
    this.ops.set(req);
    return req;
  }

  /** The result of the latest submission that finished at once. */
  immResult(): OpResult {
    const imm = this.imm;
    return { length: imm[0] + imm[1] * TWO32, tagLo: imm[2], tagHi: imm[3] };
  }

  /**
   * Progresses the worker for up to `ns` nanoseconds or until `req` is done, dispatching
   * every event meanwhile: the synchronous fast path, which finishes a request early
   * without a promise or an executor turn. With `yieldCpu`, gives the CPU away between
   * progress calls (more ranks than cores). Returns `req.done`.
   */
  spinOn(req: Request, ns: number, yieldCpu = false): boolean {
    if (req.done || ns <= 0) return req.done;
    const p = this.#ptr;
    if (p === null) return req.done;
    this.wait(p, req.id, Math.min(ns, MAX_U32), yieldCpu ? Wait.YIELD : 0);
    return req.done;
  }

  /**
   * The promise of `req`: from now on the reactor counts it (so the executor polls for
   * it), and an abort of `signal` ends it (rejecting, and cancelling the receive in
   * UCX, unless `req.abort` says otherwise). Settled at once when already done.
   */
  settle(req: Request, signal?: AbortSignal): Promise<OpResult> {
    if (!req.done) {
      if (signal?.aborted) {
        this.#abortOne(req, signal);
      } else {
        if (!req.counted) {
          req.counted = true;
          this.reactor.begin();
        }
        if (signal) this.#listen(req, signal);
      }
    }
    return req.promise();
  }

  /** {@link WorkerCore.spinOn} for `ns` (when > 0), then {@link WorkerCore.settle}. */
  await(req: Request, signal: AbortSignal | undefined, ns: number): Promise<OpResult> {
    if (ns > 0) this.spinOn(req, ns);
    return this.settle(req, signal);
  }

  /** Finishes request `id` from its completion event (code < 0: failed). */
  complete(id: number, code: number, ucs: number, result: OpResult): void {
    const req = this.ops.take(id);
    if (req === undefined) return;
    this.#finished(req);
    if (req.done) return; // settled early by an abort; the slot only waited for native
    if (code < 0) req.reject(eventError(code, ucs, req.describe()));
    else req.resolve(result);
  }

  /** Takes `req` off the table without a completion (withdrawn): rejects it with `e`. */
  withdraw(req: Request, e: unknown): void {
    if (this.ops.take(req.id) === undefined) return;
    this.#finished(req);
    req.reject(e);
  }

  /**
   * Rejects `req` with `e` and stops counting it, leaving it in the table until native
   * code reports it (a send to a shared-memory peer that died may never finish: the
   * worker's close releases it).
   */
  abandon(req: Request, e: unknown): void {
    if (this.ops.get(req.id) !== req) return;
    this.#finished(req);
    req.reject(e);
  }

  /** Uncounts `req` and removes its abort listener (it left the table). */
  #finished(req: Request): void {
    if (req.counted) {
      req.counted = false;
      this.reactor.end();
    }
    req.unlisten?.();
    req.unlisten = undefined;
  }

  // One abort listener per signal, not per operation: EventTarget listeners cost ~1 µs
  // to add and remove, more than a small message itself. It is removed as soon as no
  // request uses the signal any more, so a finished program exits even when its
  // signals' timers (`AbortSignal.timeout`) run on.
  #sig: AbortSignal | null = null;
  #sigIds = new Set<Request>();
  #sigOff: (() => void) | null = null;

  /** Makes an abort of `signal` end `req`. */
  #listen(req: Request, signal: AbortSignal): void {
    if (signal !== this.#sig) {
      const set = new Set<Request>();
      const onAbort = () => this.#aborted(signal, set);
      signal.addEventListener("abort", onAbort, { once: true });
      this.#sig = signal;
      this.#sigIds = set;
      this.#sigOff = () => signal.removeEventListener("abort", onAbort);
    }
    const set = this.#sigIds;
    const off = this.#sigOff!;
    set.add(req);
    req.unlisten = () => {
      set.delete(req);
      if (set.size === 0) {
        off();
        if (this.#sigIds === set) this.#sig = null;
      }
    };
  }

  #aborted(signal: AbortSignal, set: Set<Request>): void {
    if (this.#sig === signal) this.#sig = null;
    const reqs = [...set];
    set.clear();
    for (const req of reqs) {
      req.unlisten = undefined;
      if (!req.done) this.#abortOne(req, signal);
    }
  }

  /**
   * Ends `req` for an abort of `signal`: `req.abort`, else reject it and cancel it in
   * UCX (a send cannot be cancelled and finishes on its own; either way the request
   * keeps its buffers until native code reports it done).
   */
  #abortOne(req: Request, signal: AbortSignal): void {
    const e = abortError(signal, req.describe());
    if (req.abort) {
      req.abort(e);
      return;
    }
    req.reject(e);
    if (this.#ptr !== null) this.sym.pluvio_ucx_cancel(this.#ptr, req.id);
  }

  /** Registers a message whose payload is in the arena until the next progress call. */
  holdLazy(m: ArenaHolder): void {
    this.#lazy[this.#lazyN++] = m;
  }

  /** Copies every payload still in the arena out (before the worker progresses again). */
  detachLazy(): void {
    const l = this.#lazy;
    for (let i = 0; i < this.#lazyN; i++) {
      l[i]!.detach();
      l[i] = undefined;
    }
    this.#lazyN = 0;
  }

  /**
   * One `pluvio_ucx_worker_wait` on live handle `p` (for op `op`, or `Wait.ANY`);
   * dispatches the events it left in the ring and returns their number.
   */
  wait(p: Deno.PointerObject, op: number, ns: number, flags: number): number {
    if (this.#lazyN > 0) this.detachLazy();
    const n = this.sym.pluvio_ucx_worker_wait(p, op, ns, flags);
    if (n < 0) checkUcx(n, "progressing the UCX worker");
    else if (n > 0) this.dispatch(n);
    return n;
  }

  /**
   * Progresses until any event arrives or `ns` pass (with `resume`: until the deadline
   * of the previous spin), dispatching what arrived; returns the events (0: time is up).
   */
  spinAny(ns: number, resume: boolean): number {
    return this.wait(this.ptr, Wait.ANY, Math.min(ns, MAX_U32), resume ? Wait.RESUME : 0);
  }

  /** Progresses UCX and dispatches what finished; returns the events handled. */
  poll(): number {
    const p = this.#ptr;
    if (p === null) return 0;
    if (this.#lazyN > 0) this.detachLazy();
    const n = this.sym.pluvio_ucx_worker_poll(p);
    this.moved = n === POLL_MOVED;
    if (n <= 0 || n === POLL_MOVED) {
      if (n < 0) checkUcx(n, "polling the UCX worker");
      return 0;
    }
    this.dispatch(n);
    return n;
  }

  /** Arms the event fd; false when there is work now. */
  arm(): boolean {
    const p = this.#ptr;
    if (p === null) return true;
    if (this.#lazyN > 0) this.detachLazy();
    return checkUcx(this.sym.pluvio_ucx_worker_arm(p), "arming the UCX worker") === 1;
  }

  /**
   * Marks the worker closed and rejects every request in flight with `ClosedError`;
   * returns the native handle to destroy (null when already closed).
   */
  shut(): Deno.PointerObject | null {
    const p = this.#ptr;
    if (p === null) return null;
    this.detachLazy();
    this.#ptr = null;
    const closed = new ClosedError("the UCX worker was closed");
    for (const req of [...this.ops.values()]) this.withdraw(req, closed);
    return p;
  }
}

/** Tag of a finished op, from its two 32-bit halves. */
export function tagOf(lo: number, hi: number): bigint {
  if (hi === 0 && lo === 0) return 0n;
  return (BigInt(hi >>> 0) << 32n) | BigInt(lo >>> 0);
}

const cores = new WeakMap<object, WorkerCore>();

/** Records the core of a public worker object (`lowlevel.ts` finds it there). */
export function registerCore(worker: object, core: WorkerCore): void {
  cores.set(worker, core);
}

/** The core of a public worker object (throws for anything else). */
export function coreOf(worker: object): WorkerCore {
  const c = cores.get(worker);
  if (c === undefined) throw new TypeError("not a UCX worker");
  return c;
}
