/**
 * MpiCommunicator: the Collective interface over `MPI_I*` collectives.
 *
 * Every collective checks its arguments locally, posts one non-blocking MPI call into the
 * {@link MpiReactor} and resolves when `MPI_Testsome` reports it complete. Several may be
 * in flight on one communicator at once; as MPI requires, every rank must start the
 * collectives of a communicator in the same order.
 *
 * @module
 */
import { ClosedError, InvalidArgumentError } from "../../errors.ts";
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
import { type MpiReactor, reactorHandle, submit, submitBlocking } from "./reactor.ts";

const INT_MAX = 2147483647;

let handleOf: (c: MpiCommunicator) => Deno.PointerObject;

/** The native handle of `c` (throws `ClosedError` once closed). Internal; for tests. */
export function commHandle(c: MpiCommunicator): Deno.PointerObject {
  return handleOf(c);
}

/** A group of MPI ranks with the collectives of {@link Collective}. */
export class MpiCommunicator implements Collective, Disposable {
  /** This process's rank in the communicator. */
  readonly rank: number;
  /** Number of ranks in the communicator. */
  readonly size: number;
  readonly #reactor: MpiReactor;
  readonly #lib: MpiLib;
  #handle: Deno.PointerObject | null;
  #pending = 0;
  readonly #onDone = () => {
    this.#pending--;
  };

  static {
    handleOf = (c) => c.#live("handle");
  }

  private constructor(reactor: MpiReactor, handle: Deno.PointerObject) {
    const lib = mpiLib();
    const rank = lib.pluvio_mpi_comm_rank(handle);
    const size = lib.pluvio_mpi_comm_size(handle);
    if (rank < 0 || size < 0) {
      lib.pluvio_mpi_comm_free(handle);
      throw syncError(Math.min(rank, size), "MPI communicator rank/size");
    }
    this.#reactor = reactor;
    this.#lib = lib;
    this.#handle = handle;
    this.rank = rank;
    this.size = size;
  }

  /** `MPI_COMM_WORLD`, driven by `reactor`. MPI must be initialised. */
  static world(reactor: MpiReactor): MpiCommunicator {
    reactorHandle(reactor); // throws if closed
    const h = mpiLib().pluvio_mpi_comm_world();
    if (h === null) throw syncPtrError("MpiCommunicator.world");
    return new MpiCommunicator(reactor, h);
  }

  /**
   * A duplicate of this communicator (`MPI_Comm_idup`): same group, separate message
   * space, so a library can run its collectives without matching the caller's.
   * Collective: every rank must call it, in order with the other collectives.
   */
  dup(options?: CollectiveOptions): Promise<MpiCommunicator> {
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
      }).then(() => new MpiCommunicator(this.#reactor, made!));
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
        return new MpiCommunicator(reactor, p);
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

  /** Reduces `buf` over all ranks with `op`, in place (`MPI_Iallreduce`). */
  allreduce<T extends NumericArray>(buf: T, op: ReduceOp, options?: CollectiveOptions): Promise<T> {
    try {
      const W = "allreduce";
      const d = bufferType(W, buf, "buf");
      checkOp(op, d);
      const n = buf.length;
      checkCount(W, n);
      const h = this.#live(W), rh = reactorHandle(this.#reactor), lib = this.#lib;
      void buf.buffer; // V8 keeps small arrays on its heap; this moves them off it for good
      return this.#submit(
        W,
        buf,
        (id) => lib.pluvio_mpi_iallreduce(rh, h, id, null, buf, n, d.index, op.index, 1),
        buf,
        options,
      );
    } catch (e) {
      return Promise.reject(e);
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
    try {
      const W = "reduce";
      const d = bufferType(W, send, "send");
      checkOp(op, d);
      checkRoot(W, root, this.size);
      const n = send.length;
      checkCount(W, n);
      const atRoot = this.rank === root;
      if (atRoot) {
        if (recv === null) throw new InvalidArgumentError(`${W}: recv is required at the root`);
        bufferType(W, recv, "recv");
        checkSameType(W, send, recv);
        checkLength(W, "recv", recv, n, "send.length");
        checkDisjoint(W, send, recv);
        void recv.buffer;
      }
      const r = atRoot ? recv : null;
      const h = this.#live(W), rh = reactorHandle(this.#reactor), lib = this.#lib;
      void send.buffer;
      return this.#submit(
        W,
        [send, r],
        (id) => lib.pluvio_mpi_ireduce(rh, h, id, send, r, n, d.index, op.index, root, 0),
        r,
        options,
      );
    } catch (e) {
      return Promise.reject(e);
    }
  }

  /** Copies `buf` of `root` to every rank (`MPI_Ibcast`). */
  broadcast<T extends NumericArray>(buf: T, root: number, options?: CollectiveOptions): Promise<T> {
    try {
      const W = "broadcast";
      const d = bufferType(W, buf, "buf");
      checkRoot(W, root, this.size);
      const n = buf.length;
      checkCount(W, n);
      const h = this.#live(W), rh = reactorHandle(this.#reactor), lib = this.#lib;
      void buf.buffer;
      return this.#submit(
        W,
        buf,
        (id) => lib.pluvio_mpi_ibcast(rh, h, id, buf, n, d.index, root),
        buf,
        options,
      );
    } catch (e) {
      return Promise.reject(e);
    }
  }

  /** Gives block `i` of `send` at `root` to rank `i`'s `recv` (`MPI_Iscatter`). */
  scatter<T extends NumericArray>(
    send: T | null,
    recv: T,
    root: number,
    options?: CollectiveOptions,
  ): Promise<T> {
    try {
      const W = "scatter";
      const d = bufferType(W, recv, "recv");
      checkRoot(W, root, this.size);
      const n = recv.length;
      checkCount(W, n, "recv.length");
      const atRoot = this.rank === root;
      checkRootBlocks(W, atRoot, recv, "recv", send, "send", this.size);
      const s = atRoot ? send : null;
      void s?.buffer; // moves a small on-heap array off-heap, so its address is stable
      const h = this.#live(W), rh = reactorHandle(this.#reactor), lib = this.#lib;
      void recv.buffer;
      return this.#submit(
        W,
        [s, recv],
        (id) => lib.pluvio_mpi_iscatter(rh, h, id, s, recv, n, d.index, root, 0),
        recv,
        options,
      );
    } catch (e) {
      return Promise.reject(e);
    }
  }

  /** Concatenates every rank's `send` into `recv` at `root` (`MPI_Igather`). */
  gather<T extends NumericArray>(
    send: T,
    recv: T | null,
    root: number,
    options?: CollectiveOptions,
  ): Promise<T | null> {
    try {
      const W = "gather";
      const d = bufferType(W, send, "send");
      checkRoot(W, root, this.size);
      const n = send.length;
      checkCount(W, n, "send.length");
      const atRoot = this.rank === root;
      checkRootBlocks(W, atRoot, send, "send", recv, "recv", this.size);
      const r = atRoot ? recv : null;
      void r?.buffer; // moves a small on-heap array off-heap, so its address is stable
      const h = this.#live(W), rh = reactorHandle(this.#reactor), lib = this.#lib;
      void send.buffer;
      return this.#submit(
        W,
        [send, r],
        (id) => lib.pluvio_mpi_igather(rh, h, id, send, r, n, d.index, root, 0),
        r,
        options,
      );
    } catch (e) {
      return Promise.reject(e);
    }
  }

  /** Concatenates every rank's `send` into every rank's `recv` (`MPI_Iallgather`). */
  allgather<T extends NumericArray>(send: T, recv: T, options?: CollectiveOptions): Promise<T> {
    try {
      const W = "allgather";
      const d = bufferType(W, send, "send");
      bufferType(W, recv, "recv");
      checkSameType(W, send, recv);
      const n = send.length;
      checkCount(W, n, "send.length");
      checkLength(W, "recv", recv, n * this.size, `send.length ${n} × size ${this.size}`);
      checkDisjoint(W, send, recv);
      const h = this.#live(W), rh = reactorHandle(this.#reactor), lib = this.#lib;
      return this.#submit(
        W,
        [send, recv],
        (id) => lib.pluvio_mpi_iallgather(rh, h, id, send, recv, n, d.index, 0),
        recv,
        options,
      );
    } catch (e) {
      return Promise.reject(e);
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
    try {
      const W = "reduceScatter";
      const d = bufferType(W, send, "send");
      bufferType(W, recv, "recv");
      checkOp(op, d);
      checkSameType(W, send, recv);
      const n = recv.length;
      checkCount(W, n, "recv.length");
      checkLength(W, "send", send, n * this.size, `recv.length ${n} × size ${this.size}`);
      checkDisjoint(W, send, recv);
      const h = this.#live(W), rh = reactorHandle(this.#reactor), lib = this.#lib;
      return this.#submit(
        W,
        [send, recv],
        (id) =>
          lib.pluvio_mpi_ireduce_scatter_block(rh, h, id, send, recv, n, d.index, op.index, 0),
        recv,
        options,
      );
    } catch (e) {
      return Promise.reject(e);
    }
  }

  /** Exchanges block `j` of `send` with rank `j` (`MPI_Ialltoall`). */
  alltoall<T extends NumericArray>(send: T, recv: T, options?: CollectiveOptions): Promise<T> {
    try {
      const W = "alltoall";
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
      return this.#submit(
        W,
        [send, recv],
        (id) => lib.pluvio_mpi_ialltoall(rh, h, id, send, recv, n, d.index, 0),
        recv,
        options,
      );
    } catch (e) {
      return Promise.reject(e);
    }
  }

  /** Resolves once every rank has entered the barrier (`MPI_Ibarrier`). */
  barrier(options?: CollectiveOptions): Promise<void> {
    try {
      const h = this.#live("barrier"), rh = reactorHandle(this.#reactor), lib = this.#lib;
      return this.#submit(
        "barrier",
        null,
        (id) => lib.pluvio_mpi_ibarrier(rh, h, id),
        undefined,
        options,
      );
    } catch (e) {
      return Promise.reject(e);
    }
  }
}
