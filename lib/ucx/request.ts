/**
 * {@link Request}: one UCX operation (send, receive, flush, close, AM pull, posted
 * receive) from its submission to its settlement, and {@link OpTable}, the requests of
 * one worker in flight by the op id native code reports them with.
 *
 * A request keeps the buffers it hands to UCX referenced until native code reports it
 * finished, even when its promise was already rejected by an `AbortSignal`: the GC must
 * not free memory UCX may still read or write.
 *
 * @module
 */

import type { Finish } from "./staging.ts";

/** What a finished operation reports: bytes moved and, for tag receives, the tag. */
export interface OpResult {
  /** Bytes received (receives) or 0 (sends, flush, close). */
  length: number;
  /** Low 32 bits of the sender's tag (tag receives), else 0. */
  tagLo: number;
  /** High 32 bits of the sender's tag (tag receives), else 0. */
  tagHi: number;
}

/**
 * One operation. Its life: submitted (native code returned "in flight"); optionally
 * spun on synchronously (`WorkerCore.spinOn`), which may finish it early; then, if its
 * caller waits asynchronously, {@link Request.promise} (counted by the reactor from
 * then on, so the executor polls for it); finished by the completion event, an abort or
 * the worker's close. An operation UCX finishes at once never becomes a request.
 */
export class Request {
  /** The op id while in flight. */
  readonly id: number;
  /** Buffers (or anything) to keep alive until native completion. */
  readonly refs: unknown;
  /** What the operation is, for error messages (a function: built only when needed). */
  readonly what: string | (() => string);
  /** Whether it finished (successfully or not) as far as its caller is concerned. */
  done = false;
  /** Whether it finished with a failure ({@link Request.error}). */
  failed = false;
  /** The failure, once done with one. */
  error: unknown = undefined;
  /** The result, once done successfully. */
  result: OpResult | undefined = undefined;
  /** Whether the reactor counts it (someone waits for it asynchronously). */
  counted = false;
  /** Removes the abort listener (set while one is attached). */
  unlisten: (() => void) | undefined = undefined;
  /**
   * Replaces what an abort does by default (reject, and cancel the request in UCX):
   * posted AM receives withdraw their post instead.
   */
  abort: ((e: Error) => void) | undefined = undefined;
  /**
   * Where UCX works instead of the caller's detachable buffers (see `staging.ts`):
   * finished on success, which may turn it into a failure (a detached buffer).
   */
  staging: Finish | undefined = undefined;
  /** Maps the result for {@link Request.promise} (posted receives build a message). */
  #ok: ((r: OpResult) => void) | null = null;
  #fail: ((e: unknown) => void) | null = null;

  /** The request of op `id`, described by `what`, keeping `refs` alive. */
  constructor(id: number, what: string | (() => string), refs: unknown) {
    this.id = id;
    this.what = what;
    this.refs = refs;
  }

  /** The description, for an error message. */
  describe(): string {
    const w = this.what;
    return typeof w === "string" ? w : w();
  }

  /** Finishes it successfully (no-op once done). */
  resolve(r: OpResult): void {
    if (this.done) return;
    const st = this.staging;
    if (st !== undefined) {
      const e = st.finish(r, () => this.describe());
      if (e !== undefined) return this.reject(e);
    }
    this.done = true;
    this.result = r;
    this.#ok?.(r);
  }

  /** Finishes it with a failure (no-op once done). */
  reject(e: unknown): void {
    if (this.done) return;
    this.done = true;
    this.failed = true;
    this.error = e;
    this.#fail?.(e);
  }

  /**
   * The outcome as a promise (settled at once when done). The caller makes the reactor
   * count it first (`WorkerCore.settle`).
   */
  promise(): Promise<OpResult> {
    if (this.done) return this.failed ? Promise.reject(this.error) : Promise.resolve(this.result!);
    return new Promise<OpResult>((resolve, reject) => {
      this.#ok = resolve;
      this.#fail = reject;
    });
  }
}

/** Slots of in-flight requests; ids are dense so native code can index by them. */
export class OpTable {
  #ops: (Request | undefined)[] = [];
  #free: number[] = [];
  #live = 0;

  /** Requests in flight. */
  get live(): number {
    return this.#live;
  }

  /** Reserves an id for a submission. */
  reserve(): number {
    const id = this.#free.pop();
    if (id !== undefined) return id;
    this.#ops.push(undefined);
    return this.#ops.length - 1;
  }

  /** Returns an id whose submission finished at once or failed. */
  release(id: number): void {
    this.#free.push(id);
  }

  /** Records the request in flight of its reserved id. */
  set(req: Request): void {
    this.#ops[req.id] = req;
    this.#live++;
  }

  /** The request in flight with `id`, if any. */
  get(id: number): Request | undefined {
    return this.#ops[id];
  }

  /** Takes request `id` off the table (native reported it finished). */
  take(id: number): Request | undefined {
    const op = this.#ops[id];
    if (op === undefined) return undefined;
    this.#ops[id] = undefined;
    this.#free.push(id);
    this.#live--;
    return op;
  }

  /** Every request in flight. */
  *values(): IterableIterator<Request> {
    for (let i = 0; i < this.#ops.length; i++) {
      const op = this.#ops[i];
      if (op !== undefined) yield op;
    }
  }
}
