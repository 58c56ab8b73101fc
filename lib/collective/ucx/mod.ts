/**
 * Collectives over UCX with no MPI involved: ranks find each other through a small TCP
 * bootstrap (rank 0 gathers the worker addresses), then run ring, pipelined ring,
 * recursive-doubling, Bruck and binomial algorithms in TypeScript over UCX tag messages,
 * with reductions in native SIMD kernels.
 *
 * Launch ranks with `deno task launch -n N script.ts`, across hosts with `--hosts a:2,b:2`
 * or `--hostfile FILE` (and `--rsh CMD`), or under `mpirun`, `srun` or `torchrun` (see
 * {@link bootstrapConfigFromEnv} for the variables read, in order).
 *
 * ```ts ignore
 * import { Runtime } from "@pluvio/pluvio";
 * import { AdaptiveCommunicator, Sum, UcxCommunicator } from "@pluvio/pluvio/collective";
 *
 * const rt = new Runtime();
 * await rt.run(async () => {
 *   const world = await UcxCommunicator.create({ timeout: 10_000 });
 *   const buf = new Float32Array(1 << 20).fill(world.rank);
 *   await world.allreduce(buf, Sum, { algorithm: "ring" });
 *   await new AdaptiveCommunicator(world).allreduce(buf, Sum); // algorithm by size
 *   await world.close();
 * });
 * ```
 *
 * Environment: `PLUVIO_COLL_RANK`, `PLUVIO_COLL_SIZE`, `PLUVIO_COLL_ROOT_HOST`,
 * `PLUVIO_COLL_ROOT_PORT`, `PLUVIO_COLL_JOB` (set by the launcher), and the usual `UCX_*`
 * variables.
 *
 * @module
 */
export {
  type AlgorithmOptions,
  ALGORITHMS,
  type Algorithms,
  type AllgatherAlgorithm,
  type AllreduceAlgorithm,
  type AllreduceOptions,
  type BarrierAlgorithm,
  type BroadcastAlgorithm,
  type ReduceAlgorithm,
  type SubCommunicatorOptions,
  UcxCommunicator,
  type UcxCommunicatorOptions,
} from "./communicator.ts";
export type { PipelineOptions } from "./algorithms/pipelined.ts";
export type { UcxErrorHandling } from "./group.ts";
export { AdaptiveCommunicator } from "./adaptive.ts";
export {
  checkTuning,
  choose,
  rulesFor,
  TUNING,
  type TuningRule,
  type TuningRules,
  type TuningTable,
} from "./policy.ts";
export {
  bootstrap,
  type BootstrapConfig,
  bootstrapConfigFromEnv,
  type BootstrapOptions,
  defaultRootPort,
  ENV_SOURCES,
  jobFromEnv,
} from "./bootstrap.ts";
export {
  freePort,
  type HostSpec,
  launch,
  type LaunchOptions,
  type LaunchResult,
  parseHostfile,
  parseHosts,
} from "./launch.ts";
export { reduceNative } from "./reduce.ts";
export type { Collective, CollectiveOptions } from "../types.ts";
export type { DType, DTypeName, NumericArray, NumericArrayConstructor } from "../dtype.ts";
export type { ReduceOp, ReduceOpName } from "../ops.ts";
