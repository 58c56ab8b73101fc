/**
 * A rank of `deno task bench:coll` (MPI backend side, under mpirun): allreduce through
 * pluvio's MpiCommunicator with the same loop and sizes as the UCX side.
 * Output lines (rank 0): `RESULT mpi-backend allreduce <bytes> <µs>`.
 *
 * @module
 */
import { Sum } from "../../lib/collective/mod.ts";
import { withMpiWorld } from "../mpi/world.ts";
import { sizes, timeCalls } from "../../lib/collective/ucx/measure.ts";

const maxBytes = Number(Deno.args[0] ?? 16 << 20);
await withMpiWorld(async (w) => {
  const buf = new Float32Array(maxBytes / 4);
  for (const b of sizes(maxBytes)) {
    const f = buf.subarray(0, b / 4);
    const us = await timeCalls(w, b, () => w.allreduce(f, Sum));
    if (w.rank === 0) console.log(`RESULT mpi-backend allreduce ${b} ${us.toFixed(3)}`);
  }
});
