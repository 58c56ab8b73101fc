/**
 * The MPI backend of the collectives: `MPI_I*` collectives drained by an
 * {@link MpiReactor} inside the executor.
 *
 * ```ts ignore
 * import { Runtime } from "../../../mod.ts";
 * import { finalize, init, MpiCommunicator, MpiReactor, Sum } from "../mod.ts";
 *
 * await init();
 * const reactor = new MpiReactor();
 * const rt = new Runtime();
 * rt.registerReactor("mpi", reactor);
 * await rt.run(async () => {
 *   const world = MpiCommunicator.world(reactor);
 *   const buf = new Float32Array([world.rank + 1]);
 *   await world.allreduce(buf, Sum); // buf[0] === size * (size + 1) / 2
 * });
 * await finalize();
 * ```
 *
 * @module
 */
export { MpiCommunicator, type MpiCommunicatorOptions } from "./communicator.ts";
export { MpiReactor, type MpiReactorOptions } from "./reactor.ts";
export {
  disableAsyncProgress,
  finalize,
  type FinalizeOptions,
  init,
  type InitOptions,
  isInitialized,
  type ThreadLevel,
} from "./init.ts";
export { MpiError } from "./native.ts";
