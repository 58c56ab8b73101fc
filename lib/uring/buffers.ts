/**
 * The fixed-buffer pool: page-aligned buffers registered once with the ring, handed out
 * as {@link FixedBuffer} leases in FIFO order.
 *
 * @module
 */
import { CancelledError, ClosedError, InvalidArgumentError } from "../errors.ts";
import { addressOf } from "./memory.ts";
import { checkOptions } from "./options.ts";

/** Options of {@link BufferPool.acquire}. */
export interface AcquireOptions {
  /** Gives up waiting: the promise rejects with `CancelledError`. */
  signal?: AbortSignal;
}

interface Waiter {
  resolve(b: FixedBuffer): void;
  reject(e: unknown): void;
  signal?: AbortSignal;
  onAbort?: () => void;
  done: boolean;
}

/**
 * A lease on one registered buffer of the pool. Use it with `DmaFile.readFixed` /
 * `writeFixed`; give it back with {@link FixedBuffer.release} (or `using`). Each
 * acquisition is a new lease, so releasing a lease twice is an error, never a second
 * buffer returned to the pool.
 */
export class FixedBuffer {
  /** The buffer's index in the ring's registered buffer table. */
  readonly index: number;
  /** The buffer's memory address (for the kernel). */
  readonly address: number;
  #bytes: Uint8Array<ArrayBuffer>;
  #pool: BufferPool;
  #released = false;
  /** In-flight operations using this buffer (internal bookkeeping). */
  busy = 0;

  /** @internal Created by {@link BufferPool}. */
  constructor(pool: BufferPool, index: number, bytes: Uint8Array<ArrayBuffer>, address: number) {
    this.#pool = pool;
    this.index = index;
    this.#bytes = bytes;
    this.address = address;
  }

  /** The buffer's bytes (`size` of them). Throws once the lease is released. */
  get bytes(): Uint8Array<ArrayBuffer> {
    if (this.#released) {
      throw new ClosedError(`FixedBuffer #${this.index} was released; acquire a new one`);
    }
    return this.#bytes;
  }

  /** Capacity in bytes. */
  get size(): number {
    return this.#bytes.length;
  }

  /** The pool this buffer belongs to. */
  get pool(): BufferPool {
    return this.#pool;
  }

  /** Whether this lease was released. */
  get released(): boolean {
    return this.#released;
  }

  /**
   * Returns the buffer to the pool (to the longest waiting `acquire`, if any).
   * Throws `InvalidArgumentError` when released twice or while an operation uses it.
   */
  release(): void {
    if (this.#released) {
      throw new InvalidArgumentError(
        `FixedBuffer #${this.index} was already released (double release)`,
      );
    }
    if (this.busy > 0) {
      throw new InvalidArgumentError(
        `FixedBuffer #${this.index} is in use by ${this.busy} in-flight operation(s); ` +
          "release it after they complete",
      );
    }
    this.#released = true;
    this.#pool.giveBack(this.index);
  }

  /** Releases the buffer unless it already was (for `using`). */
  [Symbol.dispose](): void {
    if (!this.#released) this.release();
  }
}

/**
 * The pool of registered buffers of one reactor. Its memory is one `WebAssembly.Memory`
 * (JavaScript cannot detach it, so the kernel never writes freed memory); it stays
 * readable through views that are still referenced after the reactor is closed.
 */
export class BufferPool {
  /** Bytes per buffer. */
  readonly bufferSize: number;
  /** Number of buffers. */
  readonly count: number;
  #memory: ArrayBuffer;
  #base: number;
  #views: Uint8Array<ArrayBuffer>[] = [];
  #free: number[] = [];
  #waiters: Waiter[] = [];
  #waitHead = 0;
  #closed = false;

  /** @internal Splits `memory` (non-detachable) into `count` buffers of `bufferSize`. */
  constructor(memory: ArrayBuffer, bufferSize: number, count: number) {
    this.bufferSize = bufferSize;
    this.count = count;
    this.#memory = memory;
    this.#base = addressOf(new Uint8Array(memory));
    for (let i = 0; i < count; i++) {
      this.#views.push(new Uint8Array(this.#memory, i * bufferSize, bufferSize));
    }
    // Hand out low indices first (pop from the end).
    for (let i = count - 1; i >= 0; i--) this.#free.push(i);
  }

  /** Buffers free right now. */
  get available(): number {
    return this.#free.length;
  }

  /** Callers waiting in `acquire`. */
  get waiting(): number {
    return this.#waiters.length - this.#waitHead;
  }

  /** A buffer if one is free, else `undefined`. */
  tryAcquire(): FixedBuffer | undefined {
    if (this.#closed) throw new ClosedError("the io_uring reactor is closed");
    const i = this.#free.pop();
    return i === undefined ? undefined : this.#lease(i);
  }

  /** A buffer; waits (FIFO with other waiters) while the pool is empty. */
  acquire(options: AcquireOptions = {}): Promise<FixedBuffer> {
    try {
      checkOptions("acquireBuffer", options, ["signal"]);
    } catch (e) {
      return Promise.reject(e);
    }
    if (this.#closed) return Promise.reject(new ClosedError("the io_uring reactor is closed"));
    const signal = options.signal;
    if (signal?.aborted) {
      return Promise.reject(
        new CancelledError("acquireBuffer cancelled", { cause: signal.reason }),
      );
    }
    if (this.waiting === 0) {
      const i = this.#free.pop();
      if (i !== undefined) return Promise.resolve(this.#lease(i));
    }
    return new Promise<FixedBuffer>((resolve, reject) => {
      const w: Waiter = { resolve, reject, signal, done: false };
      if (signal) {
        w.onAbort = () => {
          if (w.done) return;
          w.done = true;
          reject(new CancelledError("acquireBuffer cancelled", { cause: signal.reason }));
        };
        signal.addEventListener("abort", w.onAbort, { once: true });
      }
      this.#waiters.push(w);
    });
  }

  /** @internal Called by {@link FixedBuffer.release}. */
  giveBack(index: number): void {
    if (this.#closed) return;
    while (this.#waitHead < this.#waiters.length) {
      const w = this.#waiters[this.#waitHead++];
      this.#compact();
      if (w.done) continue; // aborted while waiting
      w.done = true;
      if (w.onAbort) w.signal!.removeEventListener("abort", w.onAbort);
      w.resolve(this.#lease(index));
      return;
    }
    this.#free.push(index);
  }

  /**
   * @internal Fails the waiters. The memory is no longer registered with a kernel ring;
   * views still referenced keep it alive (the garbage collector frees it afterwards).
   */
  close(): void {
    if (this.#closed) return;
    this.#closed = true;
    for (let i = this.#waitHead; i < this.#waiters.length; i++) {
      const w = this.#waiters[i];
      if (w.done) continue;
      w.done = true;
      if (w.onAbort) w.signal!.removeEventListener("abort", w.onAbort);
      w.reject(new ClosedError("the io_uring reactor was closed while waiting for a buffer"));
    }
    this.#waiters = [];
    this.#waitHead = 0;
  }

  /** @internal The pool's memory (kept referenced by the ring while it is registered). */
  get memory(): ArrayBuffer {
    return this.#memory;
  }

  /** @internal Its address. */
  get base(): number {
    return this.#base;
  }

  #lease(i: number): FixedBuffer {
    return new FixedBuffer(this, i, this.#views[i], this.#base + i * this.bufferSize);
  }

  #compact(): void {
    if (this.#waitHead > 1024 && this.#waitHead * 2 > this.#waiters.length) {
      this.#waiters = this.#waiters.slice(this.#waitHead);
      this.#waitHead = 0;
    }
  }
}
