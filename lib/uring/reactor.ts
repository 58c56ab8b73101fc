/**
 * {@link IoUringReactor}: the io_uring reactor the runtime drives (Pluvio's
 * `pluvio_uring::reactor::IoUringReactor`).
 *
 * @module
 */
import { RuntimeStateError } from "../errors.ts";
import { SpinBudget } from "../runtime/idle_policy.ts";
import type { ParkFd, Reactor, ReactorHooks } from "../runtime/reactor.ts";
import { type AcquireOptions, BufferPool, type FixedBuffer } from "./buffers.ts";
import { IoUringReactorBuilder, type IoUringReactorOptions } from "./builder.ts";
import { stableMemory } from "./memory.ts";
import { Ring } from "./ring.ts";

/**
 * The longest busy-poll for completions, µs: about what a park and wake-up costs in CPU
 * (notifier thread and executor) on the reference machines. Completions that usually
 * take longer (1 MiB transfers, a virtio disk at depth) earn no spin at all.
 */
const SPIN_MAX_US = 50;

/**
 * The reactor's spin budget: all or nothing. When recent completions mostly came within
 * the cap (`SpinBudget` offers a budget), spin the whole cap, so a device at depth rides
 * out the short stalls between bursts of completions instead of parking into them (a
 * loop device at QD32: 0.8x fio's IOPS with the learnt p75 budget, 1.1x with the whole
 * cap, at less CPU per I/O); when they mostly took longer, park at once. Recomputed every
 * 8th idle period rather than after every completion (it sorts the recent waits).
 */
class CompletionSpin extends SpinBudget {
  #calls = 0;
  #budget = 0;

  override budgetUs(): number {
    if ((this.#calls++ & 7) === 0) this.#budget = super.budgetUs() > 0 ? this.maxUs : 0;
    return this.#budget;
  }
}

let current: IoUringReactor | undefined;
const rings = new WeakMap<IoUringReactor, Ring>();

/** @internal The ring behind `reactor` (for `DmaFile`). */
export function ringOf(reactor: IoUringReactor): Ring {
  return rings.get(reactor)!;
}

/**
 * An io_uring reactor: one ring with a registered eventfd (the runtime parks on it), a
 * pool of registered buffers and batched submission. Build it with
 * {@link IoUringReactor.builder}, register it with `runtime.registerReactor`, then
 * open files with `DmaFile.open`.
 *
 * ```ts
 * const reactor = IoUringReactor.builder().queueSize(256).bufferSize(1 << 20).build();
 * runtime.registerReactor("io_uring", reactor);
 * ```
 */
export class IoUringReactor implements Reactor, AsyncDisposable {
  /** The options the reactor was built with. */
  readonly options: Readonly<IoUringReactorOptions>;
  /** The ring's eventfd, readable once completions are posted; the notifier drains it. */
  readonly parkFd: ParkFd;
  /**
   * The busy-poll budget learnt from how soon completions arrive after the executor runs
   * out of work (see `SpinBudget`): 50 µs while they mostly come sooner than that (a fast
   * device), none while they take longer than parking would (a virtio disk, 1 MiB I/O).
   */
  readonly spin: SpinBudget;
  /**
   * Parks as soon as the spin budget is spent: polling and yielding turns beyond it only
   * burn CPU while the device works (see `Reactor.parkAfter`).
   */
  readonly parkAfter = 0;
  #ring: Ring;
  #pool: BufferPool | null;
  #hooks: ReactorHooks | null = null;

  /** A builder with the defaults (see `IoUringReactorBuilder`). */
  static builder(): IoUringReactorBuilder<IoUringReactor> {
    return new IoUringReactorBuilder((o) => new IoUringReactor(o));
  }

  /**
   * The reactor `DmaFile.open` uses when given none: the one most recently registered
   * with a runtime (or passed to {@link IoUringReactor.setCurrent}), else the first one
   * built that is not closed.
   */
  static current(): IoUringReactor {
    if (current === undefined || current.closed) {
      throw new RuntimeStateError(
        "no io_uring reactor: build one with IoUringReactor.builder().build(), register it " +
          "with runtime.registerReactor(), or pass one to DmaFile.open",
      );
    }
    return current;
  }

  /** Makes `reactor` the one `DmaFile.open` uses by default. */
  static setCurrent(reactor: IoUringReactor): void {
    current = reactor;
  }

  /** @internal Use {@link IoUringReactor.builder}. */
  constructor(options: IoUringReactorOptions) {
    this.options = Object.freeze({ ...options });
    const bytes = options.bufferSize * options.bufferCount;
    this.#pool = options.bufferCount === 0 ? null : new BufferPool(
      stableMemory(bytes, `fixed buffer pool (${options.bufferCount} x ${options.bufferSize})`),
      options.bufferSize,
      options.bufferCount,
    );
    this.#ring = new Ring(options, this.#pool);
    this.spin = new CompletionSpin({ maxUs: SPIN_MAX_US });
    rings.set(this, this.#ring);
    this.parkFd = { fd: this.#ring.eventfd, drain: true };
    if (current === undefined || current.closed) current = this;
  }

  /** The registered buffer pool, or null when built with `bufferCount(0)`. */
  get bufferPool(): BufferPool | null {
    return this.#pool;
  }

  /**
   * The engine running the operations: `"io_uring"`, or `"threads"` (a native thread
   * pool with plain syscalls: chosen with `backend("threads")` / `PLUVIO_URING=threads`,
   * or by `"auto"` when the kernel refuses io_uring).
   */
  get backend(): "io_uring" | "threads" {
    return this.#ring.backend;
  }

  /** Whether the kernel runs this ring with SQPOLL. */
  get sqPoll(): boolean {
    return this.#ring.sqPoll;
  }

  /** Whether `close()` was called. */
  get closed(): boolean {
    return this.#ring.closed;
  }

  /** Operations waiting for room in the submission queue (backpressure). */
  get waiting(): number {
    return this.#ring.waiting;
  }

  /**
   * A registered buffer for `readFixed` / `writeFixed`. Waits, FIFO with other callers,
   * while all are in use. Rejects with `ClosedError` when built without a pool.
   */
  acquireBuffer(options: AcquireOptions = {}): Promise<FixedBuffer> {
    return this.#requirePool().acquire(options);
  }

  /** A registered buffer if one is free now, else `undefined`. */
  tryAcquireBuffer(): FixedBuffer | undefined {
    return this.#requirePool().tryAcquire();
  }

  #requirePool(): BufferPool {
    if (this.#pool === null) {
      throw new RuntimeStateError(
        "this io_uring reactor has no registered buffers (built with bufferCount(0))",
      );
    }
    return this.#pool;
  }

  /** Dispatches ready completions; returns how many. Never blocks. */
  poll(): number {
    return this.#ring.poll();
  }

  /** Whether I/O is in flight, so the executor's spin budget applies. */
  wantsSpin(): boolean {
    return this.#ring.inFlight > 0;
  }

  /** Operations batched, in flight or waiting; O(1). */
  status(): number {
    return this.#ring.status();
  }

  /** Hands batched submissions to the kernel now; returns how many. */
  flush(): number {
    return this.#ring.flush();
  }

  /**
   * Receives the runtime's hooks (`wake` is called on every submission) and becomes
   * the reactor `DmaFile.open` uses by default.
   */
  attach(hooks: ReactorHooks): void {
    this.#hooks = hooks;
    this.#ring.wake = hooks.wake;
    current = this;
  }

  /** Forgets the runtime's hooks. */
  detach(): void {
    this.#hooks = null;
    this.#ring.wake = () => {};
  }

  /** Submits what is batched, then tells the executor how long it may sleep (ns). */
  beforePark(): number {
    return this.#ring.beforePark();
  }

  /**
   * Closes the reactor: it leaves the runtime it is registered with (also inside
   * `run()`), waiting operations reject with `ClosedError`, in-flight ones are
   * cancelled, and once the kernel has returned them all the ring is freed. Files of
   * the reactor can still be closed (their fds are released directly).
   */
  close(): Promise<void> {
    if (current === this) current = undefined;
    // Leave the runtime first: its parker must stop watching the eventfd before the
    // ring closes it (a reused fd number would otherwise confuse it).
    const hooks = this.#hooks;
    if (hooks !== null && !this.#ring.closed) hooks.unregister?.();
    return this.#ring.close(() => this.#pool?.close());
  }

  /** Same as {@link IoUringReactor.close}. */
  [Symbol.asyncDispose](): Promise<void> {
    return this.close();
  }
}
