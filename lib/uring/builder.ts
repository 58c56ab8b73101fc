/**
 * {@link IoUringReactorBuilder}: tuning an io_uring reactor before it is built.
 *
 * @module
 */
import { InvalidArgumentError } from "../errors.ts";
import { show } from "./memory.ts";

/** The resolved options of an io_uring reactor. */
export interface IoUringReactorOptions {
  /** Submission queue entries (power of two): also the bound on in-flight operations. */
  queueSize: number;
  /** Bytes per registered buffer (multiple of the page size). */
  bufferSize: number;
  /** Number of registered buffers (0: no fixed-buffer pool). */
  bufferCount: number;
  /**
   * Submissions handed to the kernel per batch at most (the submission area's size). Small
   * batches keep a virtio queue fed: at 4 KiB QD32, 4 per batch ran at 0.84–1.2× fio where
   * 32 per batch lost 15–25% (`bench/results/uring.md`).
   */
  submitDepth: number;
  /** SQPOLL idle time in ms, or `null` for no SQPOLL (the default). */
  sqPollIdleMs: number | null;
  /** How long (ms) a partial batch may wait for more submissions; 0: submit at the end of the current turn. */
  waitSubmitTimeout: number;
  /** How long (ms) the executor keeps polling for completions before it parks; 0: park at once. */
  waitCompleteTimeout: number;
  /**
   * Which engine runs the operations: `"io_uring"`, `"threads"` (a native thread pool
   * with plain syscalls), or `"auto"`: io_uring, else the thread pool when the kernel
   * refuses io_uring (seccomp, `kernel.io_uring_disabled`, no io_uring at all).
   */
  backend: Backend;
  /** Worker threads of the thread backend. */
  threads: number;
}

/** A value of {@link IoUringReactorOptions.backend}. */
export type Backend = "auto" | "io_uring" | "threads";

const BACKENDS: readonly Backend[] = ["auto", "io_uring", "threads"];

function checkBackend(where: string, b: unknown): Backend {
  if (!BACKENDS.includes(b as Backend)) {
    throw new InvalidArgumentError(
      `${where} ${JSON.stringify(b)} must be one of ${BACKENDS.map((x) => `"${x}"`).join(", ")}`,
    );
  }
  return b as Backend;
}

/** `PLUVIO_URING` (auto, io_uring or threads), read once; `auto` without permission. */
function envBackend(): Backend {
  let v: string | undefined;
  try {
    v = Deno.env.get("PLUVIO_URING");
  } catch {
    return "auto";
  }
  return v === undefined || v === "" ? "auto" : checkBackend("PLUVIO_URING", v);
}

/** Defaults of {@link IoUringReactorBuilder}. */
export const DEFAULT_OPTIONS: Readonly<IoUringReactorOptions> = Object.freeze({
  queueSize: 256,
  bufferSize: 128 * 1024,
  bufferCount: 64,
  submitDepth: 4,
  sqPollIdleMs: null,
  waitSubmitTimeout: 0,
  waitCompleteTimeout: 0,
  backend: "auto",
  threads: 4,
});

function positiveInt(name: string, v: number, max: number): number {
  if (!Number.isSafeInteger(v) || v < 1 || v > max) {
    throw new InvalidArgumentError(`${name} ${show(v)} must be an integer in 1..${max}`);
  }
  return v;
}

function duration(name: string, ms: number): number {
  if (typeof ms !== "number" || !(ms >= 0) || !Number.isFinite(ms)) {
    throw new InvalidArgumentError(`${name} ${show(ms)} must be a finite number of ms >= 0`);
  }
  return ms;
}

/**
 * Configures an io_uring reactor (Pluvio's `IoUringReactorBuilder`). Obtain one with
 * `IoUringReactor.builder()`; every setter returns the builder.
 */
export class IoUringReactorBuilder<R> {
  #o: IoUringReactorOptions = { ...DEFAULT_OPTIONS };
  #make: (o: IoUringReactorOptions) => R;

  /** @internal Use `IoUringReactor.builder()`. */
  constructor(make: (o: IoUringReactorOptions) => R) {
    this.#make = make;
    this.#o.backend = envBackend();
  }

  /**
   * The engine (default `"auto"`, or the `PLUVIO_URING` environment variable):
   * `"io_uring"`, `"threads"`, or `"auto"` (io_uring, else the thread pool when the
   * kernel refuses io_uring). `reactor.backend` says which one runs.
   */
  backend(backend: Backend): this {
    this.#o.backend = checkBackend("backend", backend);
    return this;
  }

  /** Worker threads of the thread backend (default 4). */
  threads(count: number): this {
    this.#o.threads = positiveInt("threads", count, 256);
    return this;
  }

  /** Submission queue entries, a power of two (default 256). Bounds in-flight operations. */
  queueSize(entries: number): this {
    positiveInt("queueSize", entries, 32768);
    if ((entries & (entries - 1)) !== 0) {
      throw new InvalidArgumentError(`queueSize ${entries} must be a power of two`);
    }
    this.#o.queueSize = entries;
    return this;
  }

  /** Bytes per registered buffer, a multiple of 4096 (default 128 KiB). */
  bufferSize(bytes: number): this {
    positiveInt("bufferSize", bytes, 1 << 30);
    if (bytes % 4096 !== 0) {
      throw new InvalidArgumentError(`bufferSize ${bytes} must be a multiple of 4096`);
    }
    this.#o.bufferSize = bytes;
    return this;
  }

  /** Number of registered buffers (default 64; 0 for none). */
  bufferCount(count: number): this {
    if (count !== 0) positiveInt("bufferCount", count, 65535);
    this.#o.bufferCount = count;
    return this;
  }

  /** Most submissions per `io_uring_enter` (default 4, at most `queueSize`). */
  submitDepth(depth: number): this {
    this.#o.submitDepth = positiveInt("submitDepth", depth, 32768);
    return this;
  }

  /**
   * Turns SQPOLL on: a kernel thread polls the submission queue and sleeps after
   * `idleMs` without work. Off by default: it takes a whole core while busy.
   */
  sqPoll(idleMs: number): this {
    this.#o.sqPollIdleMs = Math.round(duration("sqPoll idle", idleMs));
    return this;
  }

  /**
   * How long (ms) a batch smaller than `submitDepth` may wait for more submissions
   * before it is handed over (default 0: at the end of the current JavaScript turn).
   * With a timeout, batches are handed over by the executor's polls.
   */
  waitSubmitTimeout(ms: number): this {
    this.#o.waitSubmitTimeout = duration("waitSubmitTimeout", ms);
    return this;
  }

  /**
   * How long (ms) after the last completion the executor keeps polling instead of
   * parking on the ring's eventfd while operations are in flight (default 0). Polling
   * trades CPU for latency.
   */
  waitCompleteTimeout(ms: number): this {
    this.#o.waitCompleteTimeout = duration("waitCompleteTimeout", ms);
    return this;
  }

  /** The options as they stand. */
  options(): IoUringReactorOptions {
    return { ...this.#o };
  }

  /** Sets the ring up (throws a typed error when the kernel refuses). */
  build(): R {
    if (this.#o.submitDepth > this.#o.queueSize) {
      throw new InvalidArgumentError(
        `submitDepth ${this.#o.submitDepth} exceeds queueSize ${this.#o.queueSize}`,
      );
    }
    return this.#make({ ...this.#o });
  }
}
