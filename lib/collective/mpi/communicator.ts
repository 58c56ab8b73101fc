/**
 * MpiCommunicator: the Collective interface over `MPI_I*` collectives.
 *
 * Every collective checks its arguments locally, posts one non-blocking MPI call into the
 * {@link MpiReactor} and resolves when `MPI_Testsome` reports it complete. Allreduce by
 * default runs Open MPI's blocking algorithms instead (recursive doubling below 8 KiB on
 * power-of-two sizes, the ring above) as point-to-point steps that the reactor drives
 * without waiting (`native/src/mpi/p2p.rs`): at the blocking call's speed, with the event
 * loop free; a call whose peers are ready completes inside its submission. Several may be
 * in flight on one communicator at once; as MPI requires, every rank must start the
 * collectives of a communicator in the same order.
 *
 * Check mode (`MpiCommunicator.world(reactor, { checks: true })` or
 * `PLUVIO_COLL_CHECKS=1`) adds one small `MPI_Iallgather` of every rank's call signature
 * before each collective (MPICH's collective-checking idea), so a mismatch between ranks
 * or a call rejected on one rank fails on every rank with a typed error instead of giving
 * wrong data or hanging.
 *
 * @module
 */
import {
  CancelledError,
  ClosedError,
  InvalidArgumentError,
  type PluvioError,
  TimeoutError,
} from "../../errors.ts";
import { MismatchError, PeerRejectedError } from "../errors.ts";
import { mismatchText, Signature, SIGNATURE_BYTES } from "../signature.ts";
import type { NumericArray } from "../dtype.ts";
import { checkOp, type ReduceOp } from "../ops.ts";
import {
  bufferType,
  checkCount,
  checkDisjoint,
  checkLength,
  checkRoot,
  checkRootBlocks,
  checkSameType,
} from "../shape.ts";
import type { Collective, CollectiveOptions } from "../types.ts";
import { blockingError, type MpiLib, mpiLib, syncError, syncPtrError } from "./native.ts";
import { type MpiReactor, reactorHandle, submit, submitBlocking, submitSync } from "./reactor.ts";

const INT_MAX = 2147483647;

/**
 * From this many bytes on, allreduce runs as a blocking `MPI_Allreduce` on a helper
 * thread (the main thread makes no MPI call meanwhile): opt-in through
 * `PLUVIO_MPI_BLOCKING_BYTES` (default: never). The default point-to-point path runs the
 * same algorithms without the helper thread's round trip and is as fast or faster at
 * every size measured (see `bench/results/mpi.md`).
 */
const BLOCKING_MIN = blockingMinFromEnv();

function blockingMinFromEnv(): number {
  let v: string | undefined;
  try {
    v = Deno.env.get("PLUVIO_MPI_BLOCKING_BYTES");
  } catch { /* no env permission: the default */ }
  const n = v === undefined || v === "" ? Infinity : Number(v);
  return n >= 0 ? n : Infinity;
}

/**
 * How allreduce runs below `PLUVIO_MPI_BLOCKING_BYTES`: `PLUVIO_MPI_ALLREDUCE=p2p`
 * (default) runs Open MPI's blocking algorithms (recursive doubling, ring) as
 * non-blocking point-to-point steps driven by the reactor; `nbc` posts `MPI_Iallreduce`
 * (Open MPI's libnbc schedules, 1.5–2.5x slower from 64 KiB on 2 ranks).
 */
const P2P = allreducePathFromEnv() === "p2p";

function allreducePathFromEnv(): "p2p" | "nbc" {
  let v: string | undefined;
  try {
    v = Deno.env.get("PLUVIO_MPI_ALLREDUCE");
  } catch { /* no env permission: the default */ }
  if (v === undefined || v === "" || v === "p2p") return "p2p";
  if (v === "nbc") return "nbc";
  throw new InvalidArgumentError(`PLUVIO_MPI_ALLREDUCE=${JSON.stringify(v)}: use p2p or nbc`);
}

let handleOf: (c: MpiCommunicator) => Deno.PointerObject;

/** The native handle of `c` (throws `ClosedError` once closed). Internal; for tests. */
export function commHandle(c: MpiCommunicator): Deno.PointerObject {
  return handleOf(c);
}

/** Options of {@link MpiCommunicator.world}. */
export interface MpiCommunicatorOptions {
  /**
   * Check mode: before each collective, the ranks exchange what they call (collective,
   * element type, op, root, count) in one small `MPI_Iallgather`; a mismatch fails the
   * call on every rank with a `MismatchError` naming both sides, and a call rejected
   * locally on one rank (bad arguments) fails on the others with a `PeerRejectedError`.
   * Calls of a communicator then start one after another. Default: `PLUVIO_COLL_CHECKS=1`
   * turns it on, else off. Communicators made by `dup` and `split` inherit it.
   */
  checks?: boolean;
}

/** Whether `PLUVIO_COLL_CHECKS=1` asks for check mode. */
function checksFromEnv(): boolean {
  try {
    return Deno.env.get("PLUVIO_COLL_CHECKS") === "1";
  } catch {
    return false; // no env permission
  }
}

/**
 * A group of MPI ranks with the collectives of {@link Collective}.
 *
 * A call rejected locally at the root only (scatter's `send`, gather's or reduce's
 * `recv` missing or of the wrong shape) still takes part in the collective with scratch
 * memory of the size the other ranks expect, then rejects: so the other ranks' call
 * completes (with zeros from such a root) and the next call is not matched against it.
 * In check mode they fail it too.
 */
export class MpiCommunicator implements Collective, Disposable {
  /** This process's rank in the communicator. */
  readonly rank: number;
  /** Number of ranks in the communicator. */
  readonly size: number;
  readonly #reactor: MpiReactor;
  readonly #lib: MpiLib;
  readonly #checks: boolean;
  /** Check mode: settles once the previous call is posted (calls start in order). */
  #chain: Promise<void> = Promise.resolve();
  #handle: Deno.PointerObject | null;
  #pending = 0;
  readonly #onDone = () => {
    this.#pending--;
  };

  static {
    handleOf = (c) => c.#live("handle");
  }

  private constructor(reactor: MpiReactor, handle: Deno.PointerObject, checks: boolean) {
    const lib = mpiLib();
    const rank = lib.pluvio_mpi_comm_rank(handle);
    const size = lib.pluvio_mpi_comm_size(handle);
    if (rank < 0 || size < 0) {
      lib.pluvio_mpi_comm_free(handle);
      throw syncError(Math.min(rank, size), "MPI communicator rank/size");
    }
    this.#reactor = reactor;
    this.#lib = lib;
    this.#checks = checks;
    this.#handle = handle;
    this.rank = rank;
    this.size = size;
  }

  /** `MPI_COMM_WORLD`, driven by `reactor`. MPI must be initialised. */
  static world(reactor: MpiReactor, options: MpiCommunicatorOptions = {}): MpiCommunicator {
    reactorHandle(reactor); // throws if closed
    const checks = options.checks ?? checksFromEnv();
    if (typeof checks !== "boolean") {
      throw new InvalidArgumentError(`checks must be a boolean, got ${String(checks)}`);
    }
    const h = mpiLib().pluvio_mpi_comm_world();
    if (h === null) throw syncPtrError("MpiCommunicator.world");
    return new MpiCommunicator(reactor, h, checks);
  }

  /** Whether this communicator runs in check mode (see {@link MpiCommunicatorOptions}). */
  get checks(): boolean {
    return this.#checks;
  }

  /**
   * A duplicate of this communicator (`MPI_Comm_idup`): same group, separate message
   * space, so a library can run its collectives without matching the caller's.
   * Collective: every rank must call it, in order with the other collectives.
   */
  dup(options?: CollectiveOptions): Promise<MpiCommunicator> {
    return this.#inOrder(() => this.#dup(options));
  }

  #dup(options?: CollectiveOptions): Promise<MpiCommunicator> {
    try {
      const h = this.#live("dup");
      const rh = reactorHandle(this.#reactor);
      const lib = this.#lib;
      let made: Deno.PointerObject | null = null;
      const start = (id: number): number => {
        made = lib.pluvio_mpi_comm_idup(rh, h, id);
        if (made === null) throw syncPtrError("MPI_Comm_idup");
        return 0;
      };
      this.#pending++;
      return submit(this.#reactor, "MPI_Comm_idup", null, start, null, options, (code, gone) => {
        this.#pending--;
        // Nobody will use a duplicate whose caller gave up or that failed: free it.
        if ((code !== 0 || gone) && made !== null) lib.pluvio_mpi_comm_free(made);
      }).then(() => new MpiCommunicator(this.#reactor, made!, this.#checks));
    } catch (e) {
      return Promise.reject(e);
    }
  }

  /**
   * Splits the communicator (`MPI_Comm_split`): ranks passing the same `color` form a new
   * communicator, ordered by `key` (then by rank here). `color` null means this rank
   * joins none, and it gets `null`. Collective over this communicator; `MPI_Comm_split`
   * blocks, so it runs on a helper thread (in order with the other collectives) while the
   * main thread makes no MPI call.
   */
  split(
    color: number | null,
    key: number = this.rank,
    options?: CollectiveOptions,
  ): Promise<MpiCommunicator | null> {
    return this.#inOrder(() => this.#split(color, key, options));
  }

  #split(
    color: number | null,
    key: number,
    options?: CollectiveOptions,
  ): Promise<MpiCommunicator | null> {
    try {
      const h = this.#live("split");
      if (color !== null && (!Number.isInteger(color) || color < 0 || color > INT_MAX)) {
        throw new InvalidArgumentError(
          `split: color must be null or an integer in 0..${INT_MAX}; got ${color}`,
        );
      }
      if (!Number.isInteger(key) || key < -INT_MAX - 1 || key > INT_MAX) {
        throw new InvalidArgumentError(`split: key must be a 32-bit integer; got ${key}`);
      }
      const lib = this.#lib;
      const reactor = this.#reactor;
      const call = async (): Promise<MpiCommunicator | null> => {
        const out = new BigUint64Array(1);
        // `| 0` also turns -0 (which the FFI layer refuses as an i32) into 0.
        const rc = await lib.pluvio_mpi_comm_split(h, color ?? -1, key | 0, out);
        if (rc < 0) throw blockingError(rc, "MPI_Comm_split");
        const p = Deno.UnsafePointer.create(out[0])!;
        if (lib.pluvio_mpi_comm_is_null(p) === 1) {
          lib.pluvio_mpi_comm_free(p);
          return null;
        }
        return new MpiCommunicator(reactor, p, this.#checks);
      };
      this.#pending++;
      return submitBlocking(reactor, "MPI_Comm_split", call, options, this.#onDone);
    } catch (e) {
      return Promise.reject(e);
    }
  }

  /**
   * Frees the communicator (`MPI_Comm_free` for one pluvio created). Throws while its
   * collectives are in flight. Closing `world()` only drops the handle.
   */
  close(): void {
    if (this.#handle === null) return;
    if (this.#pending > 0) {
      throw new InvalidArgumentError(
        `MpiCommunicator.close: ${this.#pending} operations are still in flight`,
      );
    }
    const rc = this.#lib.pluvio_mpi_comm_free(this.#handle);
    this.#handle = null;
    if (rc < 0) throw syncError(rc, "MPI_Comm_free");
  }

  /** Same as {@link MpiCommunicator.close}. */
  [Symbol.dispose](): void {
    this.close();
  }

  #live(what: string): Deno.PointerObject {
    if (this.#handle === null) throw new ClosedError(`${what}: the communicator is closed`);
    return this.#handle;
  }

  #submit<T>(
    what: string,
    refs: unknown,
    start: (id: number) => number,
    result: T,
    options: CollectiveOptions | undefined,
  ): Promise<T> {
    this.#pending++;
    return submit(this.#reactor, what, refs, start, result, options, this.#onDone);
  }

  /**
   * Runs one collective: in check mode, first one `MPI_Iallgather` of every rank's
   * {@link Signature} (or its local rejection), so that a mismatch or a rejection fails
   * the call on every rank before anything else is posted; then `post()`. Without checks
   * a local `failure` rejects at once (the caller has already made the rejecting rank
   * take part where it can, see {@link MpiCommunicator.#rooted}).
   */
  #run<T>(
    what: string,
    sig: Signature | null,
    failure: unknown,
    post: () => Promise<T>,
    options: CollectiveOptions | undefined,
  ): Promise<T> {
    if (!this.#checks) return failure === undefined ? post() : Promise.reject(failure);
    // A call that cannot start here still takes part in the check, so the others fail too.
    const t = options?.timeout;
    if (failure === undefined && t !== undefined && !(t >= 0 && t <= 2 ** 31 - 1)) {
      failure = new InvalidArgumentError(`${what}: timeout must be 0..2147483647 ms; got ${t}`);
    }
    if (failure === undefined && options?.signal?.aborted) {
      failure = new CancelledError(`${what} cancelled before it started`, {
        cause: options.signal.reason,
      });
    }
    // Check and call are posted in the same order on every rank: the next call's check
    // waits until this call is posted (or has failed). The check itself is not bounded
    // by the caller's timeout or signal (only the caller's wait is): once every rank's
    // check completes, every rank posts the call, so a rank that gave up stays in step.
    const prev = this.#chain;
    let release!: () => void;
    this.#chain = new Promise<void>((r) => release = r);
    const run = async (): Promise<T> => {
      try {
        await prev;
        const h = this.#live(what), rh = reactorHandle(this.#reactor), lib = this.#lib;
        const mine = encodeRecord(sig, failure);
        const all = new Uint8Array(RECORD * this.size);
        await this.#submit(
          `${what} (check)`,
          [mine, all],
          (id) => lib.pluvio_mpi_iallgather(rh, h, id, mine, all, RECORD, U8, 0),
          undefined,
          undefined,
        );
        if (failure !== undefined) throw failure;
        const e = compareRecords(what, this.rank, sig, all, this.size);
        if (e !== null) throw e;
        const p = post();
        release();
        return await p;
      } finally {
        release();
      }
    };
    return bounded(run(), what, failure === undefined ? options : undefined);
  }

  /** In check mode, posts `post` after the previous call (see {@link MpiCommunicator.#run}). */
  #inOrder<T>(post: () => Promise<T>): Promise<T> {
    if (!this.#checks) return post();
    const prev = this.#chain;
    let release!: () => void;
    this.#chain = new Promise<void>((r) => release = r);
    return prev.then(() => {
      try {
        return post();
      } finally {
        release();
      }
    });
  }

  /**
   * A rooted call whose root-only buffer (`name`) was rejected locally with `failure`:
   * without checks the root still takes part, with `scratch` (zeros, of the size the
   * others expect) in place of that buffer, so that the other ranks' call completes and
   * the next call is not matched against this one; then it rejects.
   */
  #rooted<T>(
    what: string,
    sig: Signature,
    failure: unknown,
    post: () => Promise<unknown>,
    options: CollectiveOptions | undefined,
  ): Promise<T> {
    if (this.#checks) return this.#run(what, sig, failure, post, options) as Promise<T>;
    return post().then(() => {
      throw failure;
    });
  }

  /**
   * Reduces `buf` over all ranks with `op`, in place: Open MPI's blocking algorithms as
   * point-to-point steps (see the module notes; `PLUVIO_MPI_ALLREDUCE=nbc`:
   * `MPI_Iallreduce`). Every rank must pass the same element type, length and op (check
   * mode verifies it).
   */
  allreduce<T extends NumericArray>(buf: T, op: ReduceOp, options?: CollectiveOptions): Promise<T> {
    const W = "allreduce";
    try {
      const d = bufferType(W, buf, "buf");
      checkOp(op, d);
      const n = buf.length;
      checkCount(W, n);
      const h = this.#live(W), rh = reactorHandle(this.#reactor), lib = this.#lib;
      const reactor = this.#reactor;
      void buf.buffer; // V8 keeps small arrays on its heap; this moves them off it for good
      const post = buf.byteLength >= BLOCKING_MIN
        ? () => {
          // Large: blocking MPI_Allreduce (Open MPI's tuned algorithms) on a helper thread.
          this.#pending++;
          return submitBlocking(
            reactor,
            W,
            async () => {
              const rc = await lib.pluvio_mpi_allreduce_blocking(h, buf, n, d.index, op.index);
              if (rc < 0) throw blockingError(rc, "MPI_Allreduce");
              return buf;
            },
            options,
            this.#onDone,
          );
        }
        : P2P
        ? () => {
          // The blocking call's algorithms as point-to-point steps (native/src/mpi/p2p.rs).
          this.#pending++;
          return submitSync(
            reactor,
            W,
            buf,
            (id, spin) => lib.pluvio_mpi_allreduce_p2p(rh, h, id, buf, n, d.index, op.index, spin),
            buf,
            options,
            this.#onDone,
          );
        }
        : () =>
          this.#submit(
            W,
            buf,
            (id) => lib.pluvio_mpi_iallreduce(rh, h, id, null, buf, n, d.index, op.index, 1),
            buf,
            options,
          );
      if (!this.#checks) return post();
      return this.#run(W, new Signature(W, "", d.index, op.index, -1, n), undefined, post, options);
    } catch (e) {
      return this.#refuse(W, e, options);
    }
  }

  /** Reduces `send` over all ranks into `recv` at `root` (`MPI_Ireduce`). */
  reduce<T extends NumericArray>(
    send: T,
    recv: T | null,
    op: ReduceOp,
    root: number,
    options?: CollectiveOptions,
  ): Promise<T | null> {
    const W = "reduce";
    try {
      const d = bufferType(W, send, "send");
      checkOp(op, d);
      checkRoot(W, root, this.size);
      const n = send.length;
      checkCount(W, n);
      const sig = new Signature(W, "", d.index, op.index, root, n);
      const atRoot = this.rank === root;
      let failure: unknown;
      let r: T | null = null;
      if (atRoot) {
        try {
          if (recv === null) throw new InvalidArgumentError(`${W}: recv is required at the root`);
          bufferType(W, recv, "recv");
          checkSameType(W, send, recv);
          checkLength(W, "recv", recv, n, "send.length");
          checkDisjoint(W, send, recv);
          r = recv;
        } catch (e) {
          failure = e;
          r = new d.ctor(n) as T;
        }
        void r.buffer;
      }
      const h = this.#live(W), rh = reactorHandle(this.#reactor), lib = this.#lib;
      void send.buffer;
      const post = () =>
        this.#submit(
          W,
          [send, r],
          (id) => lib.pluvio_mpi_ireduce(rh, h, id, send, r, n, d.index, op.index, root, 0),
          r,
          options,
        );
      if (failure !== undefined) return this.#rooted(W, sig, failure, post, options);
      return this.#checks ? this.#run(W, sig, undefined, post, options) : post();
    } catch (e) {
      return this.#refuse(W, e, options);
    }
  }

  /** Copies `buf` of `root` to every rank (`MPI_Ibcast`). */
  broadcast<T extends NumericArray>(buf: T, root: number, options?: CollectiveOptions): Promise<T> {
    const W = "broadcast";
    try {
      const d = bufferType(W, buf, "buf");
      checkRoot(W, root, this.size);
      const n = buf.length;
      checkCount(W, n);
      const h = this.#live(W), rh = reactorHandle(this.#reactor), lib = this.#lib;
      void buf.buffer;
      const post = () =>
        this.#submit(
          W,
          buf,
          (id) => lib.pluvio_mpi_ibcast(rh, h, id, buf, n, d.index, root),
          buf,
          options,
        );
      if (!this.#checks) return post();
      return this.#run(W, new Signature(W, "", d.index, -1, root, n), undefined, post, options);
    } catch (e) {
      return this.#refuse(W, e, options);
    }
  }

  /** Gives block `i` of `send` at `root` to rank `i`'s `recv` (`MPI_Iscatter`). */
  scatter<T extends NumericArray>(
    send: T | null,
    recv: T,
    root: number,
    options?: CollectiveOptions,
  ): Promise<T> {
    const W = "scatter";
    try {
      const d = bufferType(W, recv, "recv");
      checkRoot(W, root, this.size);
      const n = recv.length;
      checkCount(W, n, "recv.length");
      const sig = new Signature(W, "", d.index, -1, root, n);
      const atRoot = this.rank === root;
      let failure: unknown;
      let s: T | null = null;
      if (atRoot) {
        try {
          checkRootBlocks(W, atRoot, recv, "recv", send, "send", this.size);
          s = send;
        } catch (e) {
          failure = e;
          s = new d.ctor(n * this.size) as T;
        }
      }
      void s?.buffer; // moves a small on-heap array off-heap, so its address is stable
      const h = this.#live(W), rh = reactorHandle(this.#reactor), lib = this.#lib;
      void recv.buffer;
      const post = () =>
        this.#submit(
          W,
          [s, recv],
          (id) => lib.pluvio_mpi_iscatter(rh, h, id, s, recv, n, d.index, root, 0),
          recv,
          options,
        );
      if (failure !== undefined) return this.#rooted(W, sig, failure, post, options);
      return this.#checks ? this.#run(W, sig, undefined, post, options) : post();
    } catch (e) {
      return this.#refuse(W, e, options);
    }
  }

  /** Concatenates every rank's `send` into `recv` at `root` (`MPI_Igather`). */
  gather<T extends NumericArray>(
    send: T,
    recv: T | null,
    root: number,
    options?: CollectiveOptions,
  ): Promise<T | null> {
    const W = "gather";
    try {
      const d = bufferType(W, send, "send");
      checkRoot(W, root, this.size);
      const n = send.length;
      checkCount(W, n, "send.length");
      const sig = new Signature(W, "", d.index, -1, root, n);
      const atRoot = this.rank === root;
      let failure: unknown;
      let r: T | null = null;
      if (atRoot) {
        try {
          checkRootBlocks(W, atRoot, send, "send", recv, "recv", this.size);
          r = recv;
        } catch (e) {
          failure = e;
          r = new d.ctor(n * this.size) as T;
        }
      }
      void r?.buffer; // moves a small on-heap array off-heap, so its address is stable
      const h = this.#live(W), rh = reactorHandle(this.#reactor), lib = this.#lib;
      void send.buffer;
      const post = () =>
        this.#submit(
          W,
          [send, r],
          (id) => lib.pluvio_mpi_igather(rh, h, id, send, r, n, d.index, root, 0),
          r,
          options,
        );
      if (failure !== undefined) return this.#rooted(W, sig, failure, post, options);
      return this.#checks ? this.#run(W, sig, undefined, post, options) : post();
    } catch (e) {
      return this.#refuse(W, e, options);
    }
  }

  /** Concatenates every rank's `send` into every rank's `recv` (`MPI_Iallgather`). */
  allgather<T extends NumericArray>(send: T, recv: T, options?: CollectiveOptions): Promise<T> {
    const W = "allgather";
    try {
      const d = bufferType(W, send, "send");
      bufferType(W, recv, "recv");
      checkSameType(W, send, recv);
      const n = send.length;
      checkCount(W, n, "send.length");
      checkLength(W, "recv", recv, n * this.size, `send.length ${n} × size ${this.size}`);
      checkDisjoint(W, send, recv);
      const h = this.#live(W), rh = reactorHandle(this.#reactor), lib = this.#lib;
      const post = () =>
        this.#submit(
          W,
          [send, recv],
          (id) => lib.pluvio_mpi_iallgather(rh, h, id, send, recv, n, d.index, 0),
          recv,
          options,
        );
      if (!this.#checks) return post();
      return this.#run(W, new Signature(W, "", d.index, -1, -1, n), undefined, post, options);
    } catch (e) {
      return this.#refuse(W, e, options);
    }
  }

  /** Reduces `send` with `op` and scatters the result in blocks
   * (`MPI_Ireduce_scatter_block`). */
  reduceScatter<T extends NumericArray>(
    send: T,
    recv: T,
    op: ReduceOp,
    options?: CollectiveOptions,
  ): Promise<T> {
    const W = "reduceScatter";
    try {
      const d = bufferType(W, send, "send");
      bufferType(W, recv, "recv");
      checkOp(op, d);
      checkSameType(W, send, recv);
      const n = recv.length;
      checkCount(W, n, "recv.length");
      checkLength(W, "send", send, n * this.size, `recv.length ${n} × size ${this.size}`);
      checkDisjoint(W, send, recv);
      const h = this.#live(W), rh = reactorHandle(this.#reactor), lib = this.#lib;
      const post = () =>
        this.#submit(
          W,
          [send, recv],
          (id) =>
            lib.pluvio_mpi_ireduce_scatter_block(rh, h, id, send, recv, n, d.index, op.index, 0),
          recv,
          options,
        );
      if (!this.#checks) return post();
      const sig = new Signature(W, "", d.index, op.index, -1, n);
      return this.#run(W, sig, undefined, post, options);
    } catch (e) {
      return this.#refuse(W, e, options);
    }
  }

  /** Exchanges block `j` of `send` with rank `j` (`MPI_Ialltoall`). */
  alltoall<T extends NumericArray>(send: T, recv: T, options?: CollectiveOptions): Promise<T> {
    const W = "alltoall";
    try {
      const d = bufferType(W, send, "send");
      bufferType(W, recv, "recv");
      checkSameType(W, send, recv);
      checkLength(W, "recv", recv, send.length, "send.length");
      if (send.length % this.size !== 0) {
        checkLength(
          W,
          "send",
          send,
          Math.ceil(send.length / this.size) * this.size,
          `a multiple of size ${this.size}`,
        );
      }
      const n = send.length / this.size;
      checkCount(W, n, "block length");
      checkDisjoint(W, send, recv);
      const h = this.#live(W), rh = reactorHandle(this.#reactor), lib = this.#lib;
      const post = () =>
        this.#submit(
          W,
          [send, recv],
          (id) => lib.pluvio_mpi_ialltoall(rh, h, id, send, recv, n, d.index, 0),
          recv,
          options,
        );
      if (!this.#checks) return post();
      const sig = new Signature(W, "", d.index, -1, -1, send.length);
      return this.#run(W, sig, undefined, post, options);
    } catch (e) {
      return this.#refuse(W, e, options);
    }
  }

  /** Resolves once every rank has entered the barrier (`MPI_Ibarrier`). */
  barrier(options?: CollectiveOptions): Promise<void> {
    try {
      const h = this.#live("barrier"), rh = reactorHandle(this.#reactor), lib = this.#lib;
      const post = () =>
        this.#submit(
          "barrier",
          null,
          (id) => lib.pluvio_mpi_ibarrier(rh, h, id),
          undefined,
          options,
        );
      if (!this.#checks) return post();
      return this.#run("barrier", BARRIER, undefined, post, options);
    } catch (e) {
      return this.#refuse("barrier", e, options);
    }
  }

  /**
   * A call rejected locally with `e`: rejects; in check mode the call still takes part
   * in the check exchange (so the other ranks fail it too), unless the communicator is
   * closed.
   */
  #refuse<T>(what: string, e: unknown, options: CollectiveOptions | undefined): Promise<T> {
    if (!this.#checks || this.#handle === null) return Promise.reject(e);
    return this.#run<T>(what, null, e, () => Promise.reject(e), options);
  }
}

/**
 * `p`, or a `TimeoutError` / `CancelledError` once `options`' timeout passes or its signal
 * aborts, whichever comes first (`p` itself keeps running).
 */
function bounded<T>(p: Promise<T>, what: string, options?: CollectiveOptions): Promise<T> {
  const t = options?.timeout, s = options?.signal;
  if (t === undefined && s === undefined) return p;
  return new Promise<T>((resolve, reject) => {
    let timer: ReturnType<typeof setTimeout> | undefined;
    const done = () => {
      if (timer !== undefined) clearTimeout(timer);
      s?.removeEventListener("abort", onAbort);
    };
    const onAbort = () => {
      done();
      reject(new CancelledError(`${what} cancelled`, { cause: s!.reason }));
    };
    if (t !== undefined) {
      timer = setTimeout(() => {
        done();
        reject(new TimeoutError(`${what} did not complete within ${t} ms`));
      }, t);
    }
    s?.addEventListener("abort", onAbort, { once: true });
    p.then((v) => {
      done();
      resolve(v);
    }, (e) => {
      done();
      reject(e);
    });
  });
}

/** Bytes of one rank's record in the check exchange. */
const RECORD = 128;
const U8 = 6; // DType index of Uint8Array
const OK = 1, REJECTED = 2;
const TEXT = 4 + SIGNATURE_BYTES + 4;
const BARRIER = new Signature("barrier", "", -1, -1, -1, 0);
const enc = new TextEncoder(), dec = new TextDecoder();

function encodeRecord(sig: Signature | null, failure: unknown): Uint8Array {
  const b = new Uint8Array(RECORD);
  const v = new DataView(b.buffer);
  v.setUint32(0, failure === undefined ? OK : REJECTED, true);
  sig?.encode(v, 4);
  if (failure !== undefined) {
    const t = enc.encode(failure instanceof Error ? failure.message : String(failure))
      .subarray(0, RECORD - TEXT);
    v.setUint32(TEXT - 4, t.length, true);
    b.set(t, TEXT);
  }
  return b;
}

/** The error of this rank's call after the check exchange `all`, or null if it may run. */
function compareRecords(
  what: string,
  rank: number,
  mine: Signature | null,
  all: Uint8Array,
  size: number,
): PluvioError | null {
  const v = new DataView(all.buffer, all.byteOffset, all.byteLength);
  for (let q = 0; q < size; q++) {
    if (q === rank || v.getUint32(q * RECORD, true) !== REJECTED) continue;
    const n = Math.min(v.getUint32(q * RECORD + TEXT - 4, true), RECORD - TEXT);
    const off = q * RECORD + TEXT;
    return new PeerRejectedError(what, q, dec.decode(all.subarray(off, off + n)));
  }
  if (mine === null) return null;
  for (let q = 0; q < size; q++) {
    const theirs = Signature.decode(v, q * RECORD + 4);
    if (q === rank || theirs === null || theirs.equals(mine)) continue;
    return new MismatchError(
      `${what}: ${mismatchText(q, theirs, rank, mine)}`,
      q,
      mine.describe(),
      theirs.describe(),
    );
  }
  return null;
}
