/**
 * {@link UcxCommunicator}: the Collective interface over UCX tag messages, with the
 * algorithms in `algorithms/` and reductions in native SIMD kernels.
 *
 * @module
 */
import {
  CancelledError,
  ClosedError,
  InvalidArgumentError,
  PeerError,
  type PluvioError,
  TimeoutError,
} from "../../errors.ts";
import { Context, type Endpoint, type Worker } from "../../ucx/mod.ts";
import { progress, spinNs } from "../../ucx/lowlevel.ts";
import { Group, type UcxErrorHandling } from "./group.ts";
import { encodePeerRecord, parsePeerRecord, type PeerRecord } from "./peer.ts";
import { hostId } from "../../ffi/process.ts";
import type { DType, NumericArray } from "../dtype.ts";
import { checkOp, type ReduceOp } from "../ops.ts";
import {
  bufferType,
  checkDisjoint,
  checkLength,
  checkRoot,
  checkRootBlocks,
  checkSameType,
} from "../shape.ts";
import type { Collective, CollectiveOptions } from "../types.ts";
import { bootstrap, type BootstrapConfig, bootstrapConfigFromEnv } from "./bootstrap.ts";
import { blocks, Call, type Link, MAX_COMMS, MAX_RANKS, SEQ_SPAN } from "./call.ts";
import { Signature } from "../signature.ts";
import { allgatherBruck } from "./algorithms/bruck.ts";
import { broadcastBinomial, reduceBinomial } from "./algorithms/binomial.ts";
import {
  alltoallPairwise,
  barrierDissemination,
  gatherDirect,
  scatterDirect,
} from "./algorithms/direct.ts";
import { allreducePipelined, type PipelineOptions } from "./algorithms/pipelined.ts";
import { allreduceRecursiveDoubling } from "./algorithms/recursive_doubling.ts";
import { allreduceRing, ringAllgather, ringReduceScatter } from "./algorithms/ring.ts";
import {
  allgatherHierarchical,
  allreduceHierarchical,
  barrierHierarchical,
  broadcastHierarchical,
  reduceHierarchical,
} from "./algorithms/hierarchical.ts";

/** Allreduce algorithms. */
export type AllreduceAlgorithm = "ring" | "pipelined" | "recursive-doubling" | "hierarchical";
/** Allgather algorithms. */
export type AllgatherAlgorithm = "bruck" | "ring" | "hierarchical";
/** Broadcast algorithms. */
export type BroadcastAlgorithm = "binomial" | "scatter-allgather" | "hierarchical";
/** Reduce algorithms. */
export type ReduceAlgorithm = "binomial" | "reduce-scatter-gather" | "hierarchical";
/** Barrier algorithms. */
export type BarrierAlgorithm = "dissemination" | "hierarchical";

/** Every algorithm choice, by collective. */
export interface Algorithms {
  /** Allreduce. */
  allreduce: AllreduceAlgorithm;
  /** Allgather. */
  allgather: AllgatherAlgorithm;
  /** Broadcast. */
  broadcast: BroadcastAlgorithm;
  /** Reduce. */
  reduce: ReduceAlgorithm;
}

/** The names each collective accepts, for checks and for the tuner. */
export const ALGORITHMS: { readonly [K in keyof Algorithms]: readonly Algorithms[K][] } = {
  allreduce: ["ring", "pipelined", "recursive-doubling", "hierarchical"],
  allgather: ["bruck", "ring", "hierarchical"],
  broadcast: ["binomial", "scatter-allgather", "hierarchical"],
  reduce: ["binomial", "reduce-scatter-gather", "hierarchical"],
};

/** Options of a collective with a choice of algorithm. */
export interface AlgorithmOptions<A extends string> extends CollectiveOptions {
  /** The algorithm to run (default: the communicator's, see {@link UcxCommunicatorOptions}). */
  algorithm?: A;
}

/** Options of {@link UcxCommunicator.allreduce}. */
export interface AllreduceOptions extends AlgorithmOptions<AllreduceAlgorithm> {
  /** Micro-chunk size and window of the `"pipelined"` algorithm. */
  pipeline?: PipelineOptions;
}

/** Options of {@link UcxCommunicator.split} and {@link UcxCommunicator.dup}. */
export interface SubCommunicatorOptions {
  /** Timeout of the split itself and default of the new communicator's calls (ms). */
  timeout?: number;
  /** Default algorithms of the new communicator (default: this one's). */
  algorithms?: Partial<Algorithms>;
}

/** Options of {@link UcxCommunicator.create}. */
export interface UcxCommunicatorOptions {
  /** Rank, size and bootstrap root (default: {@link bootstrapConfigFromEnv}). */
  config?: BootstrapConfig;
  /** Bootstrap deadline in milliseconds (default 30 000). */
  bootstrapTimeoutMs?: number;
  /** Aborts the bootstrap. */
  signal?: AbortSignal;
  /** Timeout of every call that does not give its own, in milliseconds (default none). */
  timeout?: number;
  /** Default algorithms (default: ring allreduce, Bruck allgather, binomial trees). */
  algorithms?: Partial<Algorithms>;
  /**
   * UCX keep-alive interval in milliseconds, which bounds how long a dead peer goes
   * unnoticed. Applied as `UCX_KEEPALIVE_INTERVAL` when that variable is not set
   * (default 1000; UCX's own default is 20 s).
   */
  keepaliveMs?: number;
  /**
   * How long a small call spins on the worker for a peer's message before it waits
   * asynchronously, in microseconds (default: `PLUVIO_COLL_SPIN_US`, else 50; 0: never
   * spin). Spinning is how a 2-rank allreduce of a few bytes finishes in about the time
   * MPI takes; it holds the JavaScript thread for at most this long per message. With
   * more ranks than CPU cores the spin gives the CPU away between progress calls.
   */
  spinUs?: number;
  /**
   * How a dead peer is noticed, and so which transports UCX may use:
   *
   * - `"auto"` (default): a rank on this host (same kernel boot and PID namespace, told
   *   through the bootstrap) is connected without UCX peer-failure handling, so UCX uses
   *   shared memory, and its process is watched through a pidfd: one that exits without
   *   leaving the group fails the calls in flight with `PeerError` (within the
   *   watchdog's 50 ms tick). A rank on another host, or one whose pidfd cannot be
   *   opened (no permission, no pidfd support), is connected as with `"peer"`.
   * - `"peer"`: every endpoint with UCX peer-failure handling, so a dead rank fails the
   *   others with `PeerError` within the keep-alive interval; UCX 1.12 then uses TCP
   *   even between ranks on one host (2-3× slower collectives).
   * - `"none"`: shared memory on one host and no failure detection at all: a dead rank
   *   is only noticed when a call's `timeout` passes (a `TimeoutError`), so give every
   *   call a timeout. Across hosts a dead rank may hang calls without a timeout.
   */
  errorHandling?: UcxErrorHandling;
}

/** The name of each allreduce algorithm's calls, for messages (built once). */
const ALLREDUCE_WHAT: Readonly<Record<AllreduceAlgorithm, string>> = Object.fromEntries(
  ALGORITHMS.allreduce.map((a) => [a, `allreduce (${a})`]),
) as Record<AllreduceAlgorithm, string>;

const DEFAULTS: Algorithms = {
  allreduce: "ring",
  allgather: "bruck",
  broadcast: "binomial",
  reduce: "binomial",
};

/**
 * A group of ranks running collectives over UCX, with no MPI involved: ranks find each
 * other through the TCP bootstrap ({@link UcxCommunicator.create}), connect endpoints on
 * first use, and run the algorithms in TypeScript over tag messages whose tags carry the
 * communicator, a per-call sequence number, the step and the sender. So several
 * collectives may be in flight on one communicator, and several communicators
 * ({@link UcxCommunicator.dup}) at once; every rank must start them in the same order.
 *
 * A peer that dies makes the calls in flight fail with a `PeerError` once it is noticed
 * (its process exits, for a rank on this host; UCX keep-alive otherwise, see
 * {@link UcxCommunicatorOptions.errorHandling} and
 * {@link UcxCommunicatorOptions.keepaliveMs}), and at the latest when the call's
 * `timeout` passes (a `TimeoutError` naming the ranks it still waited for).
 * After a peer failure the communicator is broken: later calls fail at once.
 */
export class UcxCommunicator implements Collective, AsyncDisposable {
  /** This rank. */
  readonly rank: number;
  /** Number of ranks. */
  readonly size: number;
  /** The communicator id inside the tags (0 for the one {@link UcxCommunicator.create} made). */
  readonly id: number;
  readonly #g: Group;
  readonly #link: Link;
  readonly #timeout: number | undefined;
  readonly #alg: Algorithms;
  /** The group ranks of this communicator's ranks (null: the whole group, in order). */
  readonly #members: readonly number[] | null;
  #closed = false;
  #lastAllreduce: Signature | null = null;

  private constructor(
    g: Group,
    rank: number,
    id: number,
    timeout: number | undefined,
    alg: Algorithms,
    members: readonly number[] | null = null,
  ) {
    this.#g = g;
    this.rank = rank;
    this.size = members === null ? g.table.length : members.length;
    this.id = id;
    this.#timeout = timeout;
    this.#alg = alg;
    this.#members = members;
    g.seq[id] ??= 0;
    const size = this.size;
    this.#link = {
      rank,
      size,
      worker: g.worker,
      endpoint: members === null ? (r) => g.endpoint(r) : (r) => g.endpoint(members[r]),
      takeScratch: (b) => g.pool.take(b),
      giveScratch: (b) => g.pool.give(b),
      spinNs: g.spinNs,
      yieldCpu: g.yieldCpu,
      groupRank: g.rank,
      tell: (msg) => {
        for (let r = 0; r < size; r++) {
          if (r !== rank) g.sendControl(members === null ? r : members[r], msg);
        }
      },
    };
  }

  /**
   * Bootstraps a communicator: creates a UCX context and worker, exchanges worker
   * addresses through rank 0's TCP listener and returns the group. Run it inside a
   * `Runtime` (the worker's reactor joins it).
   */
  static async create(options: UcxCommunicatorOptions = {}): Promise<UcxCommunicator> {
    const config = options.config ?? bootstrapConfigFromEnv();
    if (config.size > MAX_RANKS) {
      throw new InvalidArgumentError(`at most ${MAX_RANKS} ranks are supported`);
    }
    checkTimeout(options.timeout, "UcxCommunicator.create: timeout");
    const spin = spinNs({ spinUs: options.spinUs ?? spinFromEnv() });
    const alg = { ...DEFAULTS, ...options.algorithms };
    for (const k of Object.keys(alg) as (keyof Algorithms)[]) checkAlgorithm(k, alg[k]);
    const eh = options.errorHandling ?? "auto";
    if (eh !== "auto" && eh !== "peer" && eh !== "none") {
      throw new InvalidArgumentError(
        `errorHandling must be "auto", "peer" or "none", got ${String(eh)}`,
      );
    }
    let owned: Group["owned"];
    let worker: Worker;
    {
      const ka = options.keepaliveMs ?? 1000;
      if (!Number.isFinite(ka) || ka <= 0) {
        throw new InvalidArgumentError(`keepaliveMs must be a positive number, got ${ka}`);
      }
      try {
        if (!Deno.env.get("UCX_KEEPALIVE_INTERVAL")) {
          Deno.env.set("UCX_KEEPALIVE_INTERVAL", `${Math.round(ka)}ms`);
        }
      } catch { /* no env permission: UCX's default keep-alive applies */ }
      const ctx = new Context();
      worker = ctx.createWorker();
      owned = { ctx, worker };
    }
    // Every rank tells the others its host and pid along with its worker address.
    let host: Uint8Array, peers: PeerRecord[];
    try {
      host = hostId() ?? new Uint8Array(0);
      const mine = encodePeerRecord({ host, pid: Deno.pid, address: worker.address() });
      const table = await bootstrap(config, mine, {
        timeoutMs: options.bootstrapTimeoutMs,
        signal: options.signal,
      });
      peers = table.map((b, r) => parsePeerRecord(b, r));
    } catch (e) {
      owned.worker.close();
      owned.ctx.close();
      throw e;
    }
    const g = new Group(worker, config.rank, peers, owned, eh, host, spin);
    return new UcxCommunicator(g, config.rank, 0, options.timeout, alg);
  }

  /**
   * A new communicator over the same ranks and worker with its own message space, so a
   * library can run its collectives without matching the caller's. Collective: every
   * rank must call it, in order with the other collectives (it is a
   * {@link UcxCommunicator.split} with one color).
   */
  dup(options: SubCommunicatorOptions = {}): Promise<UcxCommunicator> {
    return this.split(0, this.rank, options) as Promise<UcxCommunicator>;
  }

  /**
   * Splits the communicator: ranks passing the same `color` form a new communicator,
   * ordered by `key` (then by rank here), over the same worker with its own message
   * space. `color` null means this rank joins none, and it gets `null`. Collective over
   * this communicator (one allgather of color, key and the next free communicator id,
   * so the ids agree on every rank whatever each rank made before).
   */
  async split(
    color: number | null,
    key: number = this.rank,
    options: SubCommunicatorOptions = {},
  ): Promise<UcxCommunicator | null> {
    const W = "split";
    let alg: Algorithms;
    try {
      this.#open(W);
      if (color !== null && (!Number.isInteger(color) || color < 0 || color > 0x7fff_ffff)) {
        throw new InvalidArgumentError(
          `split: color must be null or an integer in 0..${0x7fff_ffff}; got ${color}`,
        );
      }
      if (!Number.isSafeInteger(key)) {
        throw new InvalidArgumentError(`split: key must be an integer; got ${key}`);
      }
      checkTimeout(options.timeout, "split: timeout");
      alg = { ...this.#alg, ...options.algorithms };
      for (const k of Object.keys(alg) as (keyof Algorithms)[]) checkAlgorithm(k, alg[k]);
    } catch (e) {
      throw this.#reject(W, null, e);
    }
    const g = this.#g;
    const mine = Float64Array.of(color ?? -1, key, g.nextComm);
    const all = new Float64Array(3 * this.size);
    await this.allgather(mine, all, { timeout: options.timeout ?? this.#timeout });
    let id = 0;
    for (let r = 0; r < this.size; r++) id = Math.max(id, all[3 * r + 2]);
    // The last id carries control messages. Every rank sees the same table: all fail.
    if (id >= MAX_COMMS - 1) {
      throw new InvalidArgumentError(`split: at most ${MAX_COMMS - 1} communicators per worker`);
    }
    g.nextComm = Math.max(g.nextComm, id + 1);
    if (color === null) return null;
    const ranks: number[] = [];
    for (let r = 0; r < this.size; r++) if (all[3 * r] === color) ranks.push(r);
    ranks.sort((a, b) => all[3 * a + 1] - all[3 * b + 1] || a - b);
    const parent = this.#members;
    const members = ranks.map((r) => parent === null ? r : parent[r]);
    const identity = members.length === g.table.length && members.every((m, i) => m === i);
    return new UcxCommunicator(
      g,
      ranks.indexOf(this.rank),
      id,
      options.timeout ?? this.#timeout,
      alg,
      identity ? null : members,
    );
  }

  /**
   * The ranks of each host (hosts in order of their lowest rank, as the bootstrap found
   * them: ranks with the same boot id and PID namespace share a host).
   */
  get hosts(): readonly (readonly number[])[] {
    return this.#g.topology.hosts;
  }

  /** This rank's position among the ranks of its host. */
  get localRank(): number {
    return this.#g.topology.localOf[this.rank];
  }

  /** How many ranks share this rank's host. */
  get localSize(): number {
    const t = this.#g.topology;
    return t.hosts[t.hostOf[this.rank]].length;
  }

  /**
   * UCX operations in flight on this communicator's worker (all its communicators; not
   * counting the control receive kept posted while calls are in flight).
   */
  get inflight(): number {
    // (Between the control receive's completion and its callback, it counts in neither.)
    return Math.max(0, this.#g.worker.inflight - (this.#g.controlPosted ? 1 : 0));
  }

  /** The default algorithms of this communicator. */
  get algorithms(): Readonly<Algorithms> {
    return this.#alg;
  }

  #open(what: string): void {
    if (this.#closed) throw new ClosedError(`${what}: the UCX communicator is closed`);
  }

  /**
   * Runs one call: numbering, timeout, abort, peer failure, scratch. A body that
   * finished synchronously (small messages whose peers were ready: it returned
   * `undefined`) costs no promise, timer or listener; the timeout counts from when the
   * call first waits.
   */
  #run(
    what: string,
    sig: Signature,
    options: CollectiveOptions | undefined,
    body: (c: Call) => Promise<void> | undefined,
  ): Promise<void> | undefined {
    this.#open(what);
    const g = this.#g;
    if (g.dead) throw new PeerError(`${what}: ${g.dead.message}`, { cause: g.dead });
    const call = this.#number(what, sig);
    if (g.pending.size > 0) g.applyPending(call);
    const signal = options?.signal;
    const timeout = options?.timeout ?? this.#timeout;
    try {
      if (timeout !== undefined) checkTimeout(timeout, `${what}: timeout`);
      if (signal?.aborted) {
        throw new CancelledError(`${what}: aborted before it started`, { cause: signal.reason });
      }
      if (g.calls.size >= SEQ_SPAN / 2) {
        throw new InvalidArgumentError(
          `${what}: ${g.calls.size} collectives are in flight on this worker, the most ` +
            `there may be; await some first`,
        );
      }
    } catch (e) {
      call.reject(e);
      throw e;
    }
    const f = call.failure; // a notice of another rank came first
    if (f !== null) return Promise.reject(f);
    let p: Promise<void> | undefined;
    try {
      p = body(call);
    } catch (e) {
      call.fail(asPluvio(e, what));
      throw e;
    }
    if (p === undefined) {
      call.finish();
      g.remember(call);
      return undefined;
    }
    if (this.size === 1) return p.then(() => call.finish());
    return this.#wait(call, p, what, signal, timeout);
  }

  /** Numbers a new call (every rank numbers the calls of a communicator alike). */
  #number(what: string, sig: Signature | null): Call {
    const g = this.#g, seq = g.seq[this.id];
    g.seq[this.id] = (seq + 1) % SEQ_SPAN;
    return new Call(this.#link, this.id, seq, what, sig);
  }

  /**
   * A call rejected locally (bad arguments) with `e`: it still takes its place in the
   * sequence, and the other ranks are told, so they fail it too instead of waiting.
   * Returns `e` (the caller throws it).
   */
  #reject(what: string, sig: Signature | null, e: unknown): unknown {
    const g = this.#g;
    if (this.#closed || g.dead !== null) return e;
    const call = this.#number(what, sig);
    g.pending.delete(this.id * SEQ_SPAN + call.seq); // notices of it change nothing now
    call.reject(e);
    return e;
  }

  /** The asynchronous rest of {@link UcxCommunicator.#run}. */
  async #wait(
    call: Call,
    body: Promise<void>,
    what: string,
    signal: AbortSignal | undefined,
    timeout: number | undefined,
  ): Promise<void> {
    const g = this.#g;
    g.startWatch();
    call.since = performance.now();
    let onAbort: (() => void) | undefined;
    if (timeout !== undefined) {
      call.timeoutMs = timeout;
      call.deadline = performance.now() + timeout;
    }
    if (signal) {
      onAbort = () => call.fail(new CancelledError(`${what}: aborted`, { cause: signal.reason }));
      signal.addEventListener("abort", onAbort, { once: true });
    }
    g.track(call);
    try {
      // Settles with the body, or as soon as the call fails (timeout, abort, dead peer)
      // while the body still waits.
      await new Promise<void>((resolve, reject) => {
        call.onFail(reject);
        body.then(resolve, (e) => {
          call.fail(asPluvio(e, what));
          reject(e);
        });
      });
      call.finish();
    } finally {
      if (onAbort) signal!.removeEventListener("abort", onAbort);
      g.untrack(call);
      g.remember(call);
    }
  }

  /**
   * Reduces `buf` over all ranks with `op`, in place. Algorithms: `"ring"`
   * (reduce-scatter + allgather), `"pipelined"` (ring in micro-chunks) and
   * `"recursive-doubling"`. Any length works (blocks may be uneven or empty).
   */
  async allreduce<T extends NumericArray>(
    buf: T,
    op: ReduceOp,
    options?: AllreduceOptions,
  ): Promise<T> {
    const W = "allreduce";
    const alg = options?.algorithm ?? this.#alg.allreduce;
    const what = ALLREDUCE_WHAT[alg]; // also the check of alg (undefined: unknown)
    let sig: Signature;
    let d: DType;
    try {
      d = bufferType(W, buf, "buf");
      checkOp(op, d);
      if (typeof what !== "string") checkAlgorithm("allreduce", alg);
      const last = this.#lastAllreduce; // a loop of like calls reuses one signature
      sig = last !== null && last.is(1, alg, d.index, op.index, -1, buf.length)
        ? last
        : (this.#lastAllreduce = new Signature(W, alg, d.index, op.index, -1, buf.length));
    } catch (e) {
      throw this.#reject(what ?? W, null, e);
    }
    const u8 = bytesOf(buf);
    const p = this.#run(
      what,
      sig,
      options,
      (c) =>
        alg === "ring"
          ? allreduceRing(c, u8, d, op)
          : alg === "pipelined"
          ? allreducePipelined(c, u8, d, op, options?.pipeline)
          : alg === "hierarchical"
          ? allreduceHierarchical(c, this.#g.topology, u8, d, op)
          : allreduceRecursiveDoubling(c, u8, d, op),
    );
    if (p !== undefined) await p;
    return buf;
  }

  /**
   * Reduces `send` into `recv` at `root`. Algorithms: `"binomial"` (tree) and
   * `"reduce-scatter-gather"` (ring reduce-scatter, then the blocks to the root).
   */
  async reduce<T extends NumericArray>(
    send: T,
    recv: T | null,
    op: ReduceOp,
    root: number,
    options?: AlgorithmOptions<ReduceAlgorithm>,
  ): Promise<T | null> {
    const W = "reduce";
    const alg = options?.algorithm ?? this.#alg.reduce;
    const atRoot = this.rank === root;
    let sig: Signature | null = null;
    let d: DType;
    try {
      d = bufferType(W, send, "send");
      checkOp(op, d);
      checkRoot(W, root, this.size);
      checkAlgorithm("reduce", alg);
      sig = new Signature(W, alg, d.index, op.index, root, send.length);
      if (atRoot) {
        if (recv === null || recv === undefined) {
          throw new InvalidArgumentError(`${W}: the root needs a recv buffer`);
        }
        bufferType(W, recv, "recv");
        checkSameType(W, send, recv);
        checkLength(W, "recv", recv, send.length, "send.length");
        checkDisjoint(W, send, recv);
      }
    } catch (e) {
      throw this.#reject(`${W} (${alg})`, sig, e);
    }
    const s8 = bytesOf(send);
    await this.#run(`${W} (${alg})`, sig, options, async (c) => {
      const acc = atRoot ? bytesOf(recv!) : c.scratch(s8.length);
      acc.set(s8);
      if (alg === "binomial") return reduceBinomial(c, acc, d, op, root);
      if (alg === "hierarchical") return reduceHierarchical(c, this.#g.topology, acc, d, op, root);
      const blk = blocks(send.length, c.size, d.bytes);
      // Shift -1: rank r ends up with block r, which it then sends to the root.
      await ringReduceScatter(c, acc, blk, d, op, -1, 0);
      const [a, b] = blk[c.rank];
      await gatherDirect(c, acc.subarray(a, b), atRoot ? acc : null, blk, root, c.size);
    });
    return atRoot ? recv : null;
  }

  /**
   * Copies `buf` of `root` to every rank. Algorithms: `"binomial"` (tree) and
   * `"scatter-allgather"` (the root scatters blocks, a ring allgathers them).
   */
  async broadcast<T extends NumericArray>(
    buf: T,
    root: number,
    options?: AlgorithmOptions<BroadcastAlgorithm>,
  ): Promise<T> {
    const W = "broadcast";
    const alg = options?.algorithm ?? this.#alg.broadcast;
    let sig: Signature;
    let d: DType;
    try {
      d = bufferType(W, buf, "buf");
      checkRoot(W, root, this.size);
      checkAlgorithm("broadcast", alg);
      sig = new Signature(W, alg, d.index, -1, root, buf.length);
    } catch (e) {
      throw this.#reject(`${W} (${alg})`, null, e);
    }
    const u8 = bytesOf(buf);
    await this.#run(`${W} (${alg})`, sig, options, async (c) => {
      if (alg === "binomial") return broadcastBinomial(c, u8, root);
      if (alg === "hierarchical") return broadcastHierarchical(c, this.#g.topology, u8, root);
      const blk = blocks(buf.length, c.size, d.bytes);
      const [a, b] = blk[c.rank];
      await scatterDirect(c, this.rank === root ? u8 : null, u8.subarray(a, b), blk, root);
      await ringAllgather(c, u8, blk, 0, 1);
    });
    return buf;
  }

  /** Gives block `i` of the root's `send` to rank `i` (direct sends from the root). */
  async scatter<T extends NumericArray>(
    send: T | null,
    recv: T,
    root: number,
    options?: CollectiveOptions,
  ): Promise<T> {
    const W = "scatter";
    const atRoot = this.rank === root;
    let sig: Signature | null = null;
    let d: DType;
    try {
      d = bufferType(W, recv, "recv");
      checkRoot(W, root, this.size);
      sig = new Signature(W, "", d.index, -1, root, recv.length);
      checkRootBlocks(W, atRoot, recv, "recv", send, "send", this.size);
    } catch (e) {
      throw this.#reject(W, sig, e);
    }
    const r8 = bytesOf(recv);
    const s8 = atRoot ? bytesOf(send!) : null;
    const blk = equalBlocks(recv.length * d.bytes, this.size);
    await this.#run(W, sig, options, (c) => scatterDirect(c, s8, r8, blk, root));
    return recv;
  }

  /** Concatenates every rank's `send` into the root's `recv` (direct sends). */
  async gather<T extends NumericArray>(
    send: T,
    recv: T | null,
    root: number,
    options?: CollectiveOptions,
  ): Promise<T | null> {
    const W = "gather";
    const atRoot = this.rank === root;
    let sig: Signature | null = null;
    let d: DType;
    try {
      d = bufferType(W, send, "send");
      checkRoot(W, root, this.size);
      sig = new Signature(W, "", d.index, -1, root, send.length);
      checkRootBlocks(W, atRoot, send, "send", recv, "recv", this.size);
    } catch (e) {
      throw this.#reject(W, sig, e);
    }
    const s8 = bytesOf(send);
    const r8 = atRoot ? bytesOf(recv!) : null;
    const blk = equalBlocks(send.length * d.bytes, this.size);
    await this.#run(W, sig, options, (c) => gatherDirect(c, s8, r8, blk, root));
    return atRoot ? recv : null;
  }

  /**
   * Concatenates every rank's `send` into every rank's `recv`. Algorithms: `"bruck"`
   * (log p steps, for small blocks) and `"ring"` (for large ones).
   */
  async allgather<T extends NumericArray>(
    send: T,
    recv: T,
    options?: AlgorithmOptions<AllgatherAlgorithm>,
  ): Promise<T> {
    const W = "allgather";
    const alg = options?.algorithm ?? this.#alg.allgather;
    let sig: Signature | null = null;
    let d: DType;
    try {
      d = bufferType(W, send, "send");
      checkAlgorithm("allgather", alg);
      sig = new Signature(W, alg, d.index, -1, -1, send.length);
      bufferType(W, recv, "recv");
      checkSameType(W, send, recv);
      checkLength(W, "recv", recv, send.length * this.size, `send.length × size ${this.size}`);
      checkDisjoint(W, send, recv);
    } catch (e) {
      throw this.#reject(`${W} (${alg})`, sig, e);
    }
    const s8 = bytesOf(send), r8 = bytesOf(recv);
    await this.#run(`${W} (${alg})`, sig, options, async (c) => {
      if (alg === "bruck") return allgatherBruck(c, s8, r8);
      if (alg === "hierarchical") return allgatherHierarchical(c, this.#g.topology, s8, r8);
      const blk = equalBlocks(send.length * d.bytes, c.size);
      r8.set(s8, blk[c.rank][0]);
      await ringAllgather(c, r8, blk, 0, 0);
    });
    return recv;
  }

  /** Reduces `send` over all ranks and gives block `i` to rank `i` (ring reduce-scatter). */
  async reduceScatter<T extends NumericArray>(
    send: T,
    recv: T,
    op: ReduceOp,
    options?: CollectiveOptions,
  ): Promise<T> {
    const W = "reduceScatter";
    let sig: Signature | null = null;
    let d: DType;
    try {
      d = bufferType(W, send, "send");
      checkOp(op, d);
      bufferType(W, recv, "recv");
      sig = new Signature(W, "", d.index, op.index, -1, recv.length);
      checkSameType(W, send, recv);
      checkLength(W, "send", send, recv.length * this.size, `recv.length × size ${this.size}`);
      checkDisjoint(W, send, recv);
    } catch (e) {
      throw this.#reject(W, sig, e);
    }
    const s8 = bytesOf(send), r8 = bytesOf(recv);
    await this.#run(W, sig, options, async (c) => {
      const blk = equalBlocks(r8.length, c.size);
      const work = c.scratch(s8.length);
      work.set(s8);
      await ringReduceScatter(c, work, blk, d, op, -1, 0);
      const [a, b] = blk[c.rank];
      r8.set(work.subarray(a, b));
    });
    return recv;
  }

  /** Block `j` of `send` goes to rank `j`, into its block `rank` (pairwise exchange). */
  async alltoall<T extends NumericArray>(
    send: T,
    recv: T,
    options?: CollectiveOptions,
  ): Promise<T> {
    const W = "alltoall";
    let sig: Signature | null = null;
    try {
      const d = bufferType(W, send, "send");
      sig = new Signature(W, "", d.index, -1, -1, send.length);
      bufferType(W, recv, "recv");
      checkSameType(W, send, recv);
      checkLength(W, "recv", recv, send.length, "send.length");
      if (send.length % this.size !== 0) {
        throw new InvalidArgumentError(
          `${W}: send.length ${send.length} is not a multiple of the size ${this.size}`,
        );
      }
      checkDisjoint(W, send, recv);
    } catch (e) {
      throw this.#reject(W, sig, e);
    }
    const s8 = bytesOf(send), r8 = bytesOf(recv);
    await this.#run(W, sig, options, (c) => alltoallPairwise(c, s8, r8));
    return recv;
  }

  /**
   * Resolves once every rank entered the barrier. Algorithms: `"dissemination"`
   * (default) and `"hierarchical"` (per host, then among one leader per host).
   */
  async barrier(options?: AlgorithmOptions<BarrierAlgorithm>): Promise<void> {
    const alg = options?.algorithm ?? "dissemination";
    if (alg !== "dissemination" && alg !== "hierarchical") {
      throw new InvalidArgumentError(
        `barrier: unknown algorithm ${JSON.stringify(alg)}; use "dissemination" or "hierarchical"`,
      );
    }
    const p = alg === "dissemination"
      ? this.#run("barrier", BARRIER, options, barrierDissemination)
      : this.#run(
        "barrier (hierarchical)",
        BARRIER_H,
        options,
        (c) => barrierHierarchical(c, this.#g.topology),
      );
    if (p !== undefined) await p;
  }

  /**
   * Closes the communicator. The one {@link UcxCommunicator.create} made also closes
   * its endpoints (flushing them, bounded by `timeoutMs`, default 5000), the worker and
   * the context; duplicates only stop accepting calls.
   * Throws while calls are in flight.
   */
  async close(options: { timeoutMs?: number } = {}): Promise<void> {
    if (this.#closed) return;
    const g = this.#g;
    if (this.id === 0 && g.calls.size > 0) {
      throw new InvalidArgumentError(`close: ${g.calls.size} collectives are still in flight`);
    }
    this.#closed = true;
    if (this.id !== 0) return;
    const ms = options.timeoutMs ?? 5000;
    await g.sayGoodbye(ms);
    const peers = g.eps.flatMap((e, r) => (e !== undefined && !e.error ? [r] : []));
    const eps = g.eps.filter((e): e is Endpoint => e !== undefined);
    g.eps.fill(undefined);
    await Promise.all(eps.map(async (ep) => {
      const ac = new AbortController();
      const t = setTimeout(() => ac.abort(), ms);
      try {
        await ep.close({ signal: ac.signal, force: g.dead !== null });
      } catch {
        await ep.close({ force: true }).catch(() => {});
      } finally {
        clearTimeout(t);
      }
    }));
    await g.awaitGoodbyes(g.dead === null ? peers : [], 250);
    g.stopTimers();
    g.closePidfds();
    // Let UCX finish what it queued: UCX 1.12 asserts when a worker is destroyed with
    // shared-memory copies still queued (e.g. reads from a rank on this host that died).
    for (let k = 0; k < 16 && progress(g.worker) > 0; k++);
    g.owned.worker.close();
    g.owned.ctx.close();
  }

  /** Same as {@link UcxCommunicator.close}. */
  [Symbol.asyncDispose](): Promise<void> {
    return this.close();
  }
}

const BARRIER = new Signature("barrier", "", -1, -1, -1, 0);
const BARRIER_H = new Signature("barrier", "hierarchical", -1, -1, -1, 0);

function bytesOf(a: NumericArray): Uint8Array {
  return new Uint8Array(a.buffer, a.byteOffset, a.byteLength);
}

function equalBlocks(len: number, p: number): [number, number][] {
  return Array.from({ length: p }, (_, i) => [i * len, (i + 1) * len] as [number, number]);
}

/** The spin of small calls, in µs: `PLUVIO_COLL_SPIN_US` or 50 (checked by `spinNs`). */
function spinFromEnv(): number {
  let v: string | undefined;
  try {
    v = Deno.env.get("PLUVIO_COLL_SPIN_US");
  } catch { /* no env permission: the default */ }
  return v === undefined || v === "" ? 50 : Number(v);
}

function checkTimeout(t: number | undefined, what: string): void {
  if (t !== undefined && !(typeof t === "number" && t >= 0 && Number.isFinite(t))) {
    throw new InvalidArgumentError(`${what} must be a non-negative number of ms, got ${t}`);
  }
}

function checkAlgorithm<K extends keyof Algorithms>(k: K, alg: unknown): void {
  if (!(ALGORITHMS[k] as readonly unknown[]).includes(alg)) {
    throw new InvalidArgumentError(
      `${k}: unknown algorithm ${JSON.stringify(alg)}; use ${
        ALGORITHMS[k].map((a) => JSON.stringify(a)).join(" or ")
      }`,
    );
  }
}

function asPluvio(e: unknown, what: string): PluvioError {
  if (e instanceof PeerError || e instanceof TimeoutError || e instanceof CancelledError) return e;
  if (e instanceof ClosedError || e instanceof InvalidArgumentError) return e;
  return new PeerError(`${what} failed`, { cause: e });
}
