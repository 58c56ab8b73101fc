/**
 * Ring allreduce and scatter over UCX, with no MPI (Pluvio's `coll_ucx_example`).
 *
 * Run: `deno task launch -n 2 examples/coll_ucx_example.ts` (any number of ranks; also
 * runs under `mpirun -n 2 deno run -A examples/coll_ucx_example.ts`).
 *
 * @module
 */
import { Runtime, spawn } from "@pluvio/pluvio";
import { Sum, UcxCommunicator } from "@pluvio/pluvio/collective";

const runtime = new Runtime();
await runtime.run(async () => {
  const world = await UcxCommunicator.create({ timeout: 10_000 });
  const { rank, size } = world;

  // Ring allreduce (in place): every rank contributes [rank, rank + 1, ..., rank + 9].
  const data = Float32Array.from({ length: 10 }, (_, i) => rank + i);
  // A task runs alongside the collective: the event loop is never blocked.
  const ticker = spawn(async () => {
    let ticks = 0;
    while (ticks < 3) {
      await new Promise((r) => setTimeout(r, 1));
      ticks++;
    }
    return ticks;
  });
  await world.allreduce(data, Sum, { algorithm: "ring" });
  const expected = Array.from({ length: 10 }, (_, i) => size * i + size * (size - 1) / 2);
  console.log(`rank ${rank}/${size}: ring allreduce -> [${data}]`);
  if (data.some((v, i) => v !== expected[i])) throw new Error(`expected [${expected}]`);

  // Scatter: the root holds size blocks of 2 values; rank i receives block i.
  const root = 0;
  const send = rank === root ? Float64Array.from({ length: 2 * size }, (_, i) => i * 10) : null;
  const recv = new Float64Array(2);
  await world.scatter(send, recv, root);
  console.log(`rank ${rank}: scatter -> [${recv}]`);
  if (recv[0] !== rank * 20 || recv[1] !== rank * 20 + 10) throw new Error("scatter mismatch");

  await ticker;
  await world.close();
});
runtime.close();
