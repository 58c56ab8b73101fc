/**
 * One MPI job's set-up and shut-down for the benchmark rank scripts: `MPI_Init`, an
 * `MpiReactor` on a `Runtime`, `COMM_WORLD`; then the communicator, runtime, reactor and
 * MPI are closed in that order.
 *
 * @module
 */
import { Runtime } from "../../mod.ts";
import {
  finalize,
  init,
  MpiCommunicator,
  type MpiCommunicatorOptions,
  MpiReactor,
} from "../../lib/collective/mod.ts";

/** Runs `body` with `COMM_WORLD` inside a runtime that drives an `MpiReactor`. */
export async function withMpiWorld(
  body: (w: MpiCommunicator) => Promise<void>,
  options?: MpiCommunicatorOptions,
): Promise<void> {
  await init();
  const reactor = new MpiReactor();
  const rt = new Runtime();
  rt.registerReactor("mpi", reactor);
  await rt.run(async () => {
    const w = MpiCommunicator.world(reactor, options);
    try {
      await body(w);
    } finally {
      w.close();
    }
  });
  rt.close();
  reactor.close();
  await finalize();
}
