/**
 * The TypeScript half of the ring: operation slots, batching into the native submission
 * area (one FFI call per batch), draining the native completion area, backpressure
 * when the queue is full, and cancellation.
 *
 * @module
 */
import { CancelledError, ClosedError } from "../errors.ts";
import { errorFromCode } from "../ffi/errno.ts";
import { checkPtr, lastError, openBackend } from "../ffi/library.ts";
import { URING_SYMBOLS } from "../ffi/symbols/uring.ts";
import type { BufferPool } from "./buffers.ts";
import { giveBounce } from "./bounce.ts";
import type { IoUringReactorOptions } from "./builder.ts";
import { COMP, COMP_RECORD_BYTES, Op, SUB, SUB_RECORD_BYTES } from "./layout.ts";
import { Operation, State } from "./operation.ts";

/** The bound symbols of the io_uring backend. */
export type UringLib = Deno.DynamicLibrary<typeof URING_SYMBOLS>["symbols"];

/** Binds the io_uring backend (throws `BackendUnavailableError` if not compiled in). */
export function uringLib(): UringLib {
  return openBackend("uring", URING_SYMBOLS);
}

const TWO32 = 4294967296;
const BACKEND_CODE = { auto: 0, io_uring: 1, threads: 2 } as const;

function noop(): void {}

/** Rings whose close timed out with operations still in the kernel: kept alive forever
 * rather than freeing memory the kernel may still write. */
const leaked: Ring[] = [];

/** One reactor's ring (internal; the public face is `IoUringReactor`). */
export class Ring {
  readonly lib: UringLib;
  readonly eventfd: number;
  /** Most I/O operations batched or in flight at once (the SQ size). */
  readonly capacity: number;
  /** Records per batch (the submission area's size). */
  readonly depth: number;
  readonly sqPoll: boolean;
  /** The engine: the kernel's io_uring or the native thread pool. */
  readonly backend: "io_uring" | "threads";
  /** Called on every submission (the runtime's wake hook). */
  wake: () => void = () => {};
  #handle: Deno.PointerObject | null;
  /** The fixed buffers' memory: referenced while registered with the kernel. */
  #pool: BufferPool | null;
  /** Settled pooled operations, ready for reuse (see `takeOp`). */
  #spare: Operation[] = [];
  #sub: Uint32Array;
  #compU32: Uint32Array;
  #compI32: Int32Array;
  #slots: (Operation | undefined)[];
  #free: Int32Array;
  #freeTop: number;
  #batch = 0;
  #batchOps: (Operation | undefined)[];
  #batchStart = 0;
  #flushQueued = false;
  #io = 0;
  #used = 0;
  #waiting: Operation[] = [];
  #waitHead = 0;
  #waitCount = 0;
  #cancels: Operation[] = [];
  #waitSubmitMs: number;
  #waitCompleteMs: number;
  #lastCompletion = 0;
  #closed = false;
  #closing: Promise<void> | undefined;
  #flushTask = () => {
    this.#flushQueued = false;
    if (this.#handle !== null) this.flush();
  };

  constructor(o: IoUringReactorOptions, pool: BufferPool | null) {
    this.lib = uringLib();
    this.#pool = pool;
    const h = checkPtr(
      this.lib.pluvio_uring_setup(
        o.queueSize,
        o.submitDepth,
        o.sqPollIdleMs ?? -1,
        BigInt(pool?.base ?? 0),
        BigInt(o.bufferSize),
        pool === null ? 0 : o.bufferCount,
        BACKEND_CODE[o.backend],
        o.threads,
      ),
      "io_uring reactor setup",
    );
    this.backend = this.lib.pluvio_uring_backend(h) === 2 ? "threads" : "io_uring";
    this.#handle = h;
    this.capacity = o.queueSize;
    this.depth = o.submitDepth;
    this.#waitSubmitMs = o.waitSubmitTimeout;
    this.#waitCompleteMs = o.waitCompleteTimeout;
    this.eventfd = this.lib.pluvio_uring_eventfd(h);
    this.sqPoll = this.lib.pluvio_uring_is_sqpoll(h) === 1;
    const sub = checkPtr(this.lib.pluvio_uring_submission_area(h), "io_uring submission area");
    this.#sub = new Uint32Array(
      Deno.UnsafePointerView.getArrayBuffer(sub, o.submitDepth * SUB_RECORD_BYTES),
    );
    const compCap = this.lib.pluvio_uring_completion_capacity(h);
    const comp = checkPtr(this.lib.pluvio_uring_completion_area(h), "io_uring completion area");
    const compBuf = Deno.UnsafePointerView.getArrayBuffer(comp, compCap * COMP_RECORD_BYTES);
    this.#compU32 = new Uint32Array(compBuf);
    this.#compI32 = new Int32Array(compBuf);
    // Every I/O operation may have one cancel in flight: twice the queue in slots, which
    // is also the CQ size, so the CQ can never overflow.
    const nslots = 2 * o.queueSize;
    this.#slots = new Array(nslots).fill(undefined);
    this.#free = new Int32Array(nslots);
    for (let i = 0; i < nslots; i++) this.#free[i] = nslots - 1 - i;
    this.#freeTop = nslots;
    this.#batchOps = new Array(o.submitDepth).fill(undefined);
  }

  /** Whether `close()` was called. */
  get closed(): boolean {
    return this.#closed;
  }

  /** Operations batched, in flight or waiting for room; O(1). */
  status(): number {
    return this.#used + this.#waitCount + this.#cancels.length;
  }

  /** Operations batched or in the kernel (not those waiting for room). */
  get inFlight(): number {
    return this.#used;
  }

  /** Operations waiting for room in the queue (backpressure). */
  get waiting(): number {
    return this.#waitCount;
  }

  /**
   * A new operation object for a read or write that nobody keeps after it settles:
   * reused from the ring's pool (no allocation per I/O on the hot path).
   */
  takeOp(code: number): Operation {
    const op = this.#spare.pop();
    if (op === undefined) {
      const fresh = new Operation(code);
      fresh.pooled = true;
      return fresh;
    }
    return op.reuse(code);
  }

  /** Queues `op` (or makes it wait for room) and returns its result promise. */
  submit(op: Operation, signal?: AbortSignal): Promise<number> {
    if (this.#closed) {
      return Promise.reject(new ClosedError(`${op.describe()}: the io_uring reactor is closed`));
    }
    if (signal?.aborted) {
      return Promise.reject(
        new CancelledError(`${op.describe()} cancelled before submission`, {
          cause: signal.reason,
        }),
      );
    }
    const p = new Promise<number>((resolve, reject) => {
      op.resolve = resolve;
      op.reject = reject;
    });
    if (op.owner) op.owner.inflight++;
    if (op.fixed) op.fixed.busy++;
    if (signal) {
      op.signal = signal;
      op.onAbort = () => this.#abort(op);
      signal.addEventListener("abort", op.onAbort, { once: true });
    }
    if (this.#io < this.capacity && this.#waitCount === 0) {
      this.#io++;
      this.#put(op);
    } else {
      op.state = State.Waiting;
      this.#waiting.push(op);
      this.#waitCount++;
    }
    this.wake();
    return p;
  }

  /** Writes `op` into the submission area; hands the batch over when it is full. */
  #put(op: Operation): void {
    if (this.#batch === this.depth) this.flush();
    const slot = this.#free[--this.#freeTop];
    this.#used++;
    this.#slots[slot] = op;
    op.slot = slot;
    const s = this.#sub;
    const w = this.#batch * SUB.words;
    s[w + SUB.op] = op.op | (op.flags << 8);
    s[w + SUB.fd] = op.fd;
    s[w + SUB.off] = op.off >>> 0;
    s[w + SUB.off + 1] = (op.off / TWO32) >>> 0;
    s[w + SUB.addr] = op.addr >>> 0;
    s[w + SUB.addr + 1] = (op.addr / TWO32) >>> 0;
    s[w + SUB.len] = op.len;
    s[w + SUB.aux] = op.aux;
    s[w + SUB.userData] = slot;
    s[w + SUB.userData + 1] = 0;
    s[w + SUB.len64] = op.len64 >>> 0;
    s[w + SUB.len64 + 1] = (op.len64 / TWO32) >>> 0;
    s[w + SUB.addr2] = op.addr2 >>> 0;
    s[w + SUB.addr2 + 1] = (op.addr2 / TWO32) >>> 0;
    s[w + SUB.file] = op.file;
    op.areaIndex = this.#batch;
    op.state = State.Batched;
    this.#batchOps[this.#batch++] = op;
    if (this.#batch === this.depth) {
      this.flush();
    } else if (this.#waitSubmitMs === 0) {
      if (!this.#flushQueued) {
        this.#flushQueued = true;
        queueMicrotask(this.#flushTask);
      }
    } else if (this.#batch === 1) {
      this.#batchStart = performance.now();
    }
  }

  /**
   * Registers `fd` with the kernel ring (no per-request file reference counting);
   * returns its slot, or -1 when no slot is free or the backend has none (then the
   * plain fd serves).
   */
  registerFile(fd: number): number {
    if (this.#handle === null) return -1;
    return this.lib.pluvio_uring_register_file(this.#handle, fd);
  }

  /** Empties a slot from {@link registerFile} once none of its file's operations is in flight. */
  unregisterFile(slot: number): void {
    if (this.#handle === null) return; // the ring is gone, and its file table with it
    const rc = this.lib.pluvio_uring_unregister_file(this.#handle, slot);
    if (rc < 0) throw errorFromCode(rc, `unregistering file slot ${slot}`, lastError());
  }

  /** Hands the batched records to the kernel with one FFI call; returns how many. */
  flush(): number {
    const n = this.#batch;
    if (n === 0 || this.#handle === null) return 0;
    this.#batch = 0;
    return this.#submitted(n, this.lib.pluvio_uring_submit(this.#handle, n));
  }

  /** Marks the `n` batched operations in flight, or fails them if `rc` is an error. */
  #submitted(n: number, rc: number): number {
    const ops = this.#batchOps;
    if (rc < 0) {
      // Nothing was pushed: fail the batch's operations, nothing of theirs is in the kernel.
      const err = errorFromCode(rc, "io_uring submit", lastError());
      for (let i = 0; i < n; i++) {
        const op = ops[i]!;
        ops[i] = undefined;
        this.#release(op);
        if (op.op !== Op.CANCEL) this.#settle(op, 0, err);
      }
      return 0;
    }
    for (let i = 0; i < n; i++) {
      ops[i]!.state = State.InFlight;
      ops[i] = undefined;
    }
    return n;
  }

  /** Dispatches ready completions; returns how many. Never blocks. */
  poll(): number {
    if (this.#handle === null) return 0;
    let n: number;
    const b = this.#batch;
    if (b > 0 && this.#submitDue()) {
      // Submit and reap with one FFI call and one io_uring_enter.
      this.#batch = 0;
      const rc = this.lib.pluvio_uring_submit_reap(this.#handle, b);
      this.#submitted(b, rc);
      n = rc < 0 ? this.lib.pluvio_uring_reap(this.#handle) : rc;
    } else n = this.lib.pluvio_uring_reap(this.#handle);
    if (n < 0) throw errorFromCode(n, "io_uring reap", lastError());
    if (n === 0) return 0;
    const u = this.#compU32;
    const r = this.#compI32;
    for (let i = 0; i < n; i++) {
      const slot = u[i * COMP.words + COMP.userData];
      const res = r[i * COMP.words + COMP.res];
      const op = this.#slots[slot];
      if (op === undefined) continue; // cannot happen: every slot has one CQE
      this.#release(op);
      if (op.op !== Op.CANCEL) this.#settle(op, res);
    }
    if (this.#cancels.length > 0) {
      const cs = this.#cancels;
      this.#cancels = [];
      for (const c of cs) this.#put(c);
    }
    this.#admit();
    if (this.#batch > 0 && this.#waitSubmitMs === 0) this.flush();
    if (this.#waitCompleteMs > 0) this.#lastCompletion = performance.now();
    return n;
  }

  /**
   * Before the executor parks: hands pending submissions over and says how long it may
   * sleep (ns): `Infinity` when the eventfd covers everything.
   */
  beforePark(): number {
    if (this.#handle === null) return Infinity;
    let sleep = Infinity;
    if (this.#batch > 0) {
      if (this.#submitDue()) this.flush();
      else sleep = (this.#waitSubmitMs - (performance.now() - this.#batchStart)) * 1e6;
    }
    if (this.#used > 0) {
      if (this.#waitCompleteMs > 0) {
        const left = this.#waitCompleteMs - (performance.now() - this.#lastCompletion);
        if (left > 0) return 0;
      }
      // Drain the eventfd (completions reaped since the last park left it readable) and
      // poll instead when completions are pending already.
      if (this.lib.pluvio_uring_prepark(this.#handle) !== 0) return 0;
    }
    return sleep;
  }

  #submitDue(): boolean {
    return this.#waitSubmitMs === 0 ||
      performance.now() - this.#batchStart >= this.#waitSubmitMs;
  }

  /** Frees `op`'s slot. */
  #release(op: Operation): void {
    this.#slots[op.slot] = undefined;
    this.#free[this.#freeTop++] = op.slot;
    this.#used--;
    if (op.op !== Op.CANCEL) this.#io--;
  }

  /** Moves operations waiting for room into the batch, FIFO. */
  #admit(): void {
    while (this.#waitCount > 0 && this.#io < this.capacity) {
      const op = this.#waiting[this.#waitHead++];
      if (op.state !== State.Waiting) continue; // cancelled while waiting
      this.#waitCount--;
      this.#io++;
      this.#put(op);
    }
    if (this.#waitCount === 0) {
      this.#waiting = [];
      this.#waitHead = 0;
    } else if (this.#waitHead > 4096 && this.#waitHead * 2 > this.#waiting.length) {
      this.#waiting = this.#waiting.slice(this.#waitHead);
      this.#waitHead = 0;
    }
  }

  /** Settles `op` with the kernel's result `res` (or `err`). */
  #settle(op: Operation, res: number, err?: unknown): void {
    op.state = State.Done;
    if (op.onAbort) {
      op.signal!.removeEventListener("abort", op.onAbort);
      op.onAbort = undefined;
    }
    if (op.fixed) op.fixed.busy--;
    const bounce = op.bounce;
    if (bounce !== undefined) {
      // I/O through a bounce buffer: a read copies into the caller's view if it is
      // still attached (a detached view has length 0).
      const target = op.keep as Uint8Array;
      if (
        op.op === Op.READ && err === undefined && !op.cancelled && res > 0 &&
        target.length >= res
      ) {
        target.set(bounce.subarray(0, res));
      }
      op.bounce = undefined;
      giveBounce(bounce);
    }
    op.keep = op.keep2 = undefined;
    const owner = op.owner;
    if (owner !== undefined && --owner.inflight === 0 && owner.idle !== undefined) {
      const idle = owner.idle;
      owner.idle = undefined;
      queueMicrotask(idle);
    }
    const resolve = op.resolve;
    const reject = op.reject;
    if (op.pooled && !op.cancelled && op.signal === undefined && err === undefined && res >= 0) {
      // Nothing refers to it any more (no abort listener, no waiting-list entry that could
      // be taken for live): reuse it.
      op.resolve = op.reject = noop;
      op.owner = op.fixed = undefined;
      if (this.#spare.length < this.capacity) this.#spare.push(op);
      resolve(res);
      return;
    }
    if (err !== undefined) {
      reject(err);
    } else if (op.cancelled) {
      const closing = this.#closed && !op.signal?.aborted;
      const what = res >= 0
        ? ` (the kernel had already completed it with result ${res})`
        : res === -125
        ? ""
        : ` (it ended with errno ${-res})`;
      reject(
        closing
          ? new ClosedError(`${op.describe()}: the io_uring reactor was closed${what}`)
          : new CancelledError(`${op.describe()} was cancelled${what}`, {
            cause: op.signal?.reason,
          }),
      );
    } else if (res < 0) {
      reject(errorFromCode(res, op.describe()));
    } else {
      resolve(res);
    }
  }

  /** Cancels `op`: drop it if it waits, turn it into a NOP if batched, else async-cancel. */
  #abort(op: Operation): void {
    op.onAbort = undefined;
    if (op.state === State.Waiting) {
      this.#waitCount--;
      op.cancelled = true;
      this.#settle(op, -125);
    } else if (op.state === State.Batched) {
      if (op.cancelled) return;
      op.cancelled = true;
      this.#sub[op.areaIndex * SUB.words + SUB.op] = Op.NOP;
    } else if (op.state === State.InFlight) {
      if (op.cancelled) return;
      op.cancelled = true;
      const c = new Operation(Op.CANCEL);
      c.len64 = op.slot;
      if (this.#freeTop === 0) this.#cancels.push(c);
      else this.#put(c);
      this.wake();
    }
  }

  /**
   * Fails waiting operations, cancels the rest, waits (polling) until the kernel has
   * returned every one, then frees the ring. `beforeFree` runs right before the memory
   * goes (the buffer pool detaches its views).
   */
  close(beforeFree: () => void): Promise<void> {
    if (this.#closing) return this.#closing;
    this.#closed = true;
    this.#closing = (async () => {
      for (let i = this.#waitHead; i < this.#waiting.length; i++) {
        const op = this.#waiting[i];
        if (op.state !== State.Waiting) continue;
        op.cancelled = true;
        this.#settle(op, -125);
      }
      this.#waiting = [];
      this.#waitHead = 0;
      this.#waitCount = 0;
      for (const op of this.#slots) {
        if (op !== undefined && op.op !== Op.CANCEL && op.op !== Op.CLOSE) this.#abort(op);
      }
      this.flush();
      const deadline = Date.now() + 10_000;
      while (this.#used > 0 || this.#cancels.length > 0) {
        this.poll();
        if (this.#used === 0) break;
        if (Date.now() > deadline) {
          leaked.push(this);
          return;
        }
        await new Promise((r) => setTimeout(r, 1));
      }
      beforeFree();
      const h = this.#handle!;
      this.#handle = null;
      this.lib.pluvio_uring_close(h);
      this.#pool = null; // no longer registered: the garbage collector may free it
    })();
    return this.#closing;
  }
}
