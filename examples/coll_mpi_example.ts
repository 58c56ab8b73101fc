/**
 * Allreduce and scatter over MPI, driven by the pluvio runtime (Pluvio's
 * `coll_mpi_example`).
 *
 * Run: `mpirun -n 2 deno run --allow-ffi --allow-env --allow-read examples/coll_mpi_example.ts`
 * (as root add `--allow-run-as-root`; for more ranks than cores add `--oversubscribe`).
 *
 * @module
 */
import { Runtime, spawn } from "@pluvio/pluvio";
import { finalize, init, MpiCommunicator, MpiReactor, Sum } from "@pluvio/pluvio/collective";

const level = await init(); // also disables MPI's own progress threads
const reactor = new MpiReactor();
const runtime = new Runtime();
runtime.registerReactor("mpi", reactor);

await runtime.run(async () => {
  const world = MpiCommunicator.world(reactor);
  const { rank, size } = world;

  // Allreduce (in place): every rank contributes [rank, rank + 1, rank + 2, rank + 3].
  const data = Float32Array.from({ length: 4 }, (_, i) => rank + i);
  // A task runs alongside the collective: the event loop is never blocked.
  const ticker = spawn(async () => {
    let ticks = 0;
    while (ticks < 3) {
      await new Promise((r) => setTimeout(r, 1));
      ticks++;
    }
    return ticks;
  });
  await world.allreduce(data, Sum, { timeout: 10_000 });
  const expected = Array.from({ length: 4 }, (_, i) => size * i + size * (size - 1) / 2);
  console.log(`rank ${rank}/${size} (thread level ${level}): allreduce -> [${data}]`);
  if (data.some((v, i) => v !== expected[i])) throw new Error(`expected [${expected}]`);

  // Scatter: the root holds size blocks of 2 values; rank i receives block i.
  const root = 0;
  const send = rank === root ? Float64Array.from({ length: 2 * size }, (_, i) => i * 10) : null;
  const recv = new Float64Array(2);
  await world.scatter(send, recv, root);
  console.log(`rank ${rank}: scatter -> [${recv}]`);
  if (recv[0] !== rank * 20 || recv[1] !== rank * 20 + 10) throw new Error("scatter mismatch");

  await ticker;
  world.close();
});

reactor.close();
await finalize();
