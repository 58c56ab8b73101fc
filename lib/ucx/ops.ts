/**
 * In-flight operations of one worker, by the op id native code reports them with.
 *
 * An op keeps the buffers it hands to UCX referenced until native code reports it
 * finished, even when its promise was already rejected by an `AbortSignal`: the GC must
 * not free memory UCX may still read or write.
 *
 * @module
 */

/** What a finished operation reports: bytes moved and, for tag receives, the tag. */
export interface OpResult {
  /** Bytes received (receives) or 0 (sends, flush, close). */
  length: number;
  /** Low 32 bits of the sender's tag (tag receives), else 0. */
  tagLo: number;
  /** High 32 bits of the sender's tag (tag receives), else 0. */
  tagHi: number;
}

/** One operation in flight. */
export interface PendingOp {
  resolve: (r: OpResult) => void;
  reject: (e: unknown) => void;
  /** Buffers (or anything) to keep alive until native completion. */
  refs: unknown;
  /** What the operation is, for error messages (a function: built only when needed). */
  what: string | (() => string);
  /** Set once the promise was settled early (abort, close); the slot waits for native. */
  settled: boolean;
  /** Removes the abort listener. */
  unlisten?: () => void;
  /**
   * Replaces what an abort does by default (reject, and cancel the request in UCX):
   * posted AM receives withdraw their post instead.
   */
  abort?: (e: Error) => void;
  /** True while a {@link SyncOp} is only spun on: the reactor does not count it. */
  uncounted?: boolean;
}

/** Slots of in-flight operations; ids are dense so native code can index by them. */
export class OpTable {
  #ops: (PendingOp | undefined)[] = [];
  #free: number[] = [];
  #live = 0;

  /** Operations in flight. */
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

  /** Records the in-flight op of a reserved id. */
  set(id: number, op: PendingOp): void {
    this.#ops[id] = op;
    this.#live++;
  }

  /** The op in flight with `id`, if any. */
  get(id: number): PendingOp | undefined {
    return this.#ops[id];
  }

  /** Takes the op `id` off the table (native reported it finished). */
  take(id: number): PendingOp | undefined {
    const op = this.#ops[id];
    if (op === undefined) return undefined;
    this.#ops[id] = undefined;
    this.#free.push(id);
    this.#live--;
    return op;
  }

  /** Every op in flight, with its id. */
  *entries(): IterableIterator<[number, PendingOp]> {
    for (let i = 0; i < this.#ops.length; i++) {
      const op = this.#ops[i];
      if (op !== undefined) yield [i, op];
    }
  }
}

/** The description of `op`, for an error message. */
export function whatOf(op: PendingOp): string {
  return typeof op.what === "string" ? op.what : op.what();
}

/**
 * An operation its caller first waits for synchronously, spinning on the worker
 * (`Worker.waitSync`), and only if that takes too long through a promise
 * (`Worker.settleLater`): the fast path of small collectives, which would otherwise pay
 * a promise and an executor turn per message.
 */
export class SyncOp implements PendingOp {
  /** The op id while in flight (-1 before it was posted). */
  id = -1;
  /** Whether the operation finished (successfully or not). */
  done = false;
  /** Whether it finished with a failure ({@link SyncOp.error}). */
  failed = false;
  /** The failure, once done with one. */
  error: unknown = undefined;
  /** The result, once done successfully. */
  result: OpResult | undefined = undefined;
  settled = false;
  refs: unknown;
  what: string | (() => string);
  unlisten?: () => void;
  uncounted = false;
  #then: ((r: OpResult) => void) | null = null;
  #catch: ((e: unknown) => void) | null = null;

  /** An operation described by `what`, keeping `refs` alive while UCX uses them. */
  constructor(what: string | (() => string), refs: unknown) {
    this.what = what;
    this.refs = refs;
  }

  /** Records the result (called by the worker's dispatch). */
  resolve(r: OpResult): void {
    this.done = true;
    this.result = r;
    this.#then?.(r);
  }

  /** Records the failure (called by the worker's dispatch, an abort or a close). */
  reject(e: unknown): void {
    this.done = true;
    this.failed = true;
    this.error = e;
    this.#catch?.(e);
  }

  /** Calls `ok` or `fail` once the operation is done (at once if it is). */
  onDone(ok: (r: OpResult) => void, fail: (e: unknown) => void): void {
    if (this.done) {
      if (this.failed) fail(this.error);
      else ok(this.result!);
      return;
    }
    this.#then = ok;
    this.#catch = fail;
  }
}
