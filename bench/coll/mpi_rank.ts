/**
 * A rank of `deno task bench:coll` (MPI backend side, under mpirun): allreduce through
 * pluvio's MpiCommunicator with the same loop and sizes as the UCX side.
 * Output lines (rank 0): `RESULT mpi-backend allreduce <bytes> <µs>`.
 *
 * @module
 */
import { Runtime } from "../../mod.ts";
import { finalize, init, MpiCommunicator, MpiReactor, Sum } from "../../lib/collective/mod.ts";
import { sizes, timeCalls } from "../../lib/collective/ucx/measure.ts";

const maxBytes = Number(Deno.args[0] ?? 16 << 20);
await init();
const reactor = new MpiReactor();
const rt = new Runtime();
rt.registerReactor("mpi", reactor);
await rt.run(async () => {
  const w = MpiCommunicator.world(reactor);
  const buf = new Float32Array(maxBytes / 4);
  for (const b of sizes(maxBytes)) {
    const f = buf.subarray(0, b / 4);
    const us = await timeCalls(w, b, () => w.allreduce(f, Sum));
    if (w.rank === 0) console.log(`RESULT mpi-backend allreduce ${b} ${us.toFixed(3)}`);
  }
  w.close();
});
rt.close();
reactor.close();
await finalize();
