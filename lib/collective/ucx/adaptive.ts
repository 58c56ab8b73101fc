/**
 * {@link AdaptiveCommunicator}: a {@link UcxCommunicator} that picks each collective's
 * algorithm at call time from the message size, the rank count and (when the ranks span
 * hosts) the host layout, by the measured tuning table (see `policy.ts` and
 * `deno task tune`).
 *
 * @module
 */
import type { NumericArray } from "../dtype.ts";
import type { ReduceOp } from "../ops.ts";
import type { Collective, CollectiveOptions } from "../types.ts";
import type { Algorithms, UcxCommunicator } from "./communicator.ts";
import {
  checkTuning,
  choose,
  rulesFor,
  TUNING,
  type TuningRules,
  type TuningTable,
} from "./policy.ts";

/** Chooses algorithms per call; everything else is the wrapped communicator's. */
export class AdaptiveCommunicator implements Collective {
  /** The communicator the calls run on. */
  readonly inner: UcxCommunicator;
  /** The rules in use (for this rank count, and host layout when the ranks span hosts). */
  readonly rules: TuningRules;
  /** Whether the ranks span more than one host (the multi-host rules apply). */
  readonly spansHosts: boolean;

  /** Wraps `inner`, with `table` (default: the measured {@link TUNING}). */
  constructor(inner: UcxCommunicator, table: TuningTable = TUNING) {
    this.inner = inner;
    this.spansHosts = inner.hosts.length > 1;
    this.rules = rulesFor(checkTuning(table), inner.size, inner.hosts.length);
  }

  /** This rank. */
  get rank(): number {
    return this.inner.rank;
  }

  /** Number of ranks. */
  get size(): number {
    return this.inner.size;
  }

  /** The algorithm collective `k` runs for a message of `bytes` (per rank for allgather). */
  choice<K extends keyof Algorithms>(k: K, bytes: number): Algorithms[K] {
    return choose(this.rules, k, bytes);
  }

  /** Allreduce with the algorithm chosen for `buf.byteLength`. */
  allreduce<T extends NumericArray>(buf: T, op: ReduceOp, options?: CollectiveOptions): Promise<T> {
    const algorithm = this.choice("allreduce", buf?.byteLength ?? 0);
    return this.inner.allreduce(buf, op, { ...options, algorithm });
  }

  /** Reduce with the algorithm chosen for `send.byteLength`. */
  reduce<T extends NumericArray>(
    send: T,
    recv: T | null,
    op: ReduceOp,
    root: number,
    options?: CollectiveOptions,
  ): Promise<T | null> {
    const algorithm = this.choice("reduce", send?.byteLength ?? 0);
    return this.inner.reduce(send, recv, op, root, { ...options, algorithm });
  }

  /** Broadcast with the algorithm chosen for `buf.byteLength`. */
  broadcast<T extends NumericArray>(buf: T, root: number, options?: CollectiveOptions): Promise<T> {
    const algorithm = this.choice("broadcast", buf?.byteLength ?? 0);
    return this.inner.broadcast(buf, root, { ...options, algorithm });
  }

  /** Scatter (direct sends). */
  scatter<T extends NumericArray>(
    send: T | null,
    recv: T,
    root: number,
    options?: CollectiveOptions,
  ): Promise<T> {
    return this.inner.scatter(send, recv, root, options);
  }

  /** Gather (direct sends). */
  gather<T extends NumericArray>(
    send: T,
    recv: T | null,
    root: number,
    options?: CollectiveOptions,
  ): Promise<T | null> {
    return this.inner.gather(send, recv, root, options);
  }

  /** Allgather with the algorithm chosen for the per-rank block `send.byteLength`. */
  allgather<T extends NumericArray>(send: T, recv: T, options?: CollectiveOptions): Promise<T> {
    const algorithm = this.choice("allgather", send?.byteLength ?? 0);
    return this.inner.allgather(send, recv, { ...options, algorithm });
  }

  /** Reduce-scatter (ring). */
  reduceScatter<T extends NumericArray>(
    send: T,
    recv: T,
    op: ReduceOp,
    options?: CollectiveOptions,
  ): Promise<T> {
    return this.inner.reduceScatter(send, recv, op, options);
  }

  /** All-to-all (pairwise). */
  alltoall<T extends NumericArray>(send: T, recv: T, options?: CollectiveOptions): Promise<T> {
    return this.inner.alltoall(send, recv, options);
  }

  /** Barrier: hierarchical when the ranks span hosts, else dissemination. */
  barrier(options?: CollectiveOptions): Promise<void> {
    const algorithm = this.spansHosts ? "hierarchical" : "dissemination";
    return this.inner.barrier({ ...options, algorithm });
  }
}
