/**
 * The Collective interface every backend (MPI, UCX) implements.
 *
 * @module
 */
import type { NumericArray } from "./dtype.ts";
import type { ReduceOp } from "./ops.ts";

/** Options every collective takes. */
export interface CollectiveOptions {
  /**
   * Stops waiting when aborted: the promise rejects with a `CancelledError`. An operation
   * whose signal is already aborted is not started. Once started, a collective cannot be
   * withdrawn (MPI cannot cancel collectives, and the other ranks take part in it): it
   * keeps running, its buffers stay referenced until it completes, and their contents
   * are unspecified.
   */
  signal?: AbortSignal;
  /** Stops waiting after this many milliseconds with a `TimeoutError` (same caveats). */
  timeout?: number;
}

/**
 * Collective operations over a group of ranks.
 *
 * Every rank of the group must call the same collectives in the same order (the MPI
 * rule); several may be in flight at once. Buffers must not be touched until the
 * returned promise settles. Shapes, element types, ops and roots are checked locally
 * before anything is posted: a mismatch throws (rejects with) a `ShapeError` or an
 * `InvalidArgumentError` on the rank that made it. Between ranks, calls that do not match
 * (another collective, element type, op, root or count) fail on every rank with a
 * `MismatchError`, and a call rejected on one rank fails on the others with a
 * `PeerRejectedError`: always on the UCX backend, in check mode on the MPI backend.
 */
export interface Collective {
  /** This process's rank in the group, `0 <= rank < size`. */
  readonly rank: number;
  /** Number of ranks in the group. */
  readonly size: number;

  /** Reduces `buf` element-wise over all ranks with `op`, in place on every rank. */
  allreduce<T extends NumericArray>(buf: T, op: ReduceOp, options?: CollectiveOptions): Promise<T>;
  /**
   * Reduces `send` over all ranks into `recv` at `root` (`recv.length === send.length`
   * there; `recv` is ignored, and may be null, elsewhere). Resolves to `recv` at the root,
   * `null` elsewhere.
   */
  reduce<T extends NumericArray>(
    send: T,
    recv: T | null,
    op: ReduceOp,
    root: number,
    options?: CollectiveOptions,
  ): Promise<T | null>;
  /** Copies `buf` of `root` into `buf` of every rank (same length everywhere). */
  broadcast<T extends NumericArray>(buf: T, root: number, options?: CollectiveOptions): Promise<T>;
  /**
   * Splits `send` of `root` (`send.length === recv.length * size`; ignored, may be null,
   * elsewhere) into `size` blocks and gives block `i` to rank `i`'s `recv`.
   */
  scatter<T extends NumericArray>(
    send: T | null,
    recv: T,
    root: number,
    options?: CollectiveOptions,
  ): Promise<T>;
  /**
   * Concatenates every rank's `send` in rank order into `recv` of `root`
   * (`recv.length === send.length * size` there; ignored, may be null, elsewhere).
   * Resolves to `recv` at the root, `null` elsewhere.
   */
  gather<T extends NumericArray>(
    send: T,
    recv: T | null,
    root: number,
    options?: CollectiveOptions,
  ): Promise<T | null>;
  /** Concatenates every rank's `send` in rank order into every rank's `recv`. */
  allgather<T extends NumericArray>(send: T, recv: T, options?: CollectiveOptions): Promise<T>;
  /**
   * Reduces `send` (`send.length === recv.length * size`) over all ranks with `op` and
   * gives block `i` of the result to rank `i`'s `recv`.
   */
  reduceScatter<T extends NumericArray>(
    send: T,
    recv: T,
    op: ReduceOp,
    options?: CollectiveOptions,
  ): Promise<T>;
  /**
   * Sends block `j` of `send` to rank `j`, which stores it as block `i` (this rank) of its
   * `recv` (`send.length === recv.length`, a multiple of `size`).
   */
  alltoall<T extends NumericArray>(send: T, recv: T, options?: CollectiveOptions): Promise<T>;
  /** Resolves once every rank has entered the barrier. */
  barrier(options?: CollectiveOptions): Promise<void>;
}
