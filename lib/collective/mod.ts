/**
 * Non-blocking collectives (allreduce, reduce, broadcast, scatter, gather, allgather,
 * reduce-scatter, all-to-all, barrier) that run inside the pluvio executor.
 *
 * The {@link Collective} interface, element types and reduction operations are
 * backend-neutral; the MPI backend ({@link MpiCommunicator} over `MPI_I*` calls,
 * drained by {@link MpiReactor}) is one implementation.
 *
 * Every rank must start the collectives of a communicator in the same order (the MPI
 * rule); several may be in flight at once, and their buffers must be left alone until
 * their promises settle.
 *
 * ```ts ignore
 * import { Runtime } from "@pluvio/pluvio";
 * import { finalize, init, MpiCommunicator, MpiReactor, Sum } from "@pluvio/pluvio/collective";
 *
 * await init();
 * const reactor = new MpiReactor();
 * const rt = new Runtime();
 * rt.registerReactor("mpi", reactor);
 * await rt.run(async () => {
 *   const world = MpiCommunicator.world(reactor);
 *   const buf = new Float64Array(1024).fill(world.rank);
 *   await world.allreduce(buf, Sum, { timeout: 10_000 });
 * });
 * reactor.close();
 * await finalize();
 * ```
 *
 * @module
 */
export type { Collective, CollectiveOptions } from "./types.ts";
export {
  type DType,
  type DTypeName,
  dtypeOf,
  DTYPES,
  type NumericArray,
  type NumericArrayConstructor,
} from "./dtype.ts";
export {
  BitAnd,
  BitOr,
  BitXor,
  checkOp,
  Max,
  Min,
  opAllowed,
  Prod,
  REDUCE_OPS,
  reduceInto,
  type ReduceOp,
  type ReduceOpName,
  Sum,
} from "./ops.ts";
export { MismatchError, PeerRejectedError, ShapeError } from "./errors.ts";
export { MAX_COUNT } from "./shape.ts";
export {
  disableAsyncProgress,
  finalize,
  type FinalizeOptions,
  init,
  type InitOptions,
  isInitialized,
  MpiCommunicator,
  type MpiCommunicatorOptions,
  MpiError,
  MpiReactor,
  type MpiReactorOptions,
  type ThreadLevel,
} from "./mpi/mod.ts";
export {
  CancelledError,
  ClosedError,
  InvalidArgumentError,
  PluvioError,
  type PluvioErrorOptions,
  TimeoutError,
} from "../errors.ts";
export type { ParkFd, Reactor, ReactorHooks } from "../runtime/reactor.ts";
// The UCX backend (no MPI needed): bootstrap, launcher, UcxCommunicator, adaptive policy.
export * from "./ucx/mod.ts";
export { PeerError } from "../errors.ts";
