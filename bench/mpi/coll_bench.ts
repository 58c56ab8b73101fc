/**
 * The loop of `osu_coll.c` through pluvio: the same collectives, sizes, iterations,
 * batches and statistic, each iteration an awaited collective driven by the runtime's
 * MpiReactor. Run: `mpirun -n 2 deno run -A bench/mpi/coll_bench.ts [max_bytes]`.
 * Output lines: `RESULT <collective> <bytes> <microseconds>`.
 *
 * @module
 */
import { Runtime } from "../../mod.ts";
import { finalize, init, MpiCommunicator, MpiReactor, Sum } from "../../lib/collective/mod.ts";
import { timeCalls } from "../../lib/collective/ucx/measure.ts";

const maxBytes = Number(Deno.args[0] ?? 16 << 20);

function itersFor(bytes: number): number {
  if (bytes <= 1024) return 2000;
  if (bytes <= 65536) return 300;
  if (bytes <= 1 << 20) return 60;
  if (bytes <= 4 << 20) return 20;
  return 10;
}

await init();
// PLUVIO_MPI_SPIN_US / PLUVIO_MPI_POLL_SPIN_NS override the reactor's spin window and
// per-poll native spin (for exploring the trade-offs; the defaults are what is measured).
const spinUs = Deno.env.get("PLUVIO_MPI_SPIN_US");
const pollSpin = Deno.env.get("PLUVIO_MPI_POLL_SPIN_NS");
const reactor = new MpiReactor({
  ...(spinUs ? { spinNs: Number(spinUs) * 1000 } : {}),
  ...(pollSpin ? { pollSpinNs: Number(pollSpin) } : {}),
});
const rt = new Runtime();
rt.registerReactor("mpi", reactor);

await rt.run(async () => {
  const w = MpiCommunicator.world(reactor);
  const a = new Uint8Array(maxBytes).fill(1);
  const b = new Uint8Array(maxBytes * w.size).fill(1);
  // Warm-up (JIT, MPI connections) before anything is measured; osu_coll.c does the same.
  const warm = new Float32Array(1);
  for (let i = 0; i < 3000; i++) await w.allreduce(warm, Sum);
  for (const coll of ["allreduce", "broadcast", "allgather", "scatter"]) {
    for (let bytes = 4; bytes <= maxBytes; bytes *= 4) {
      const af = new Float32Array(a.buffer, 0, bytes / 4);
      const ab = a.subarray(0, bytes);
      const bb = b.subarray(0, bytes * w.size);
      const root = w.rank === 0;
      const one: () => Promise<unknown> = coll === "allreduce"
        ? () => w.allreduce(af, Sum)
        : coll === "broadcast"
        ? () => w.broadcast(ab, 0)
        : coll === "allgather"
        ? () => w.allgather(ab, bb)
        : () => w.scatter(root ? bb : null, ab, 0);
      if (coll === "allreduce") af.fill(0);
      // osu_coll.c's iteration counts, so both sides run the same loop.
      const us = await timeCalls(w, bytes, one, itersFor(bytes));
      if (w.rank === 0) console.log(`RESULT ${coll} ${bytes} ${us.toFixed(3)}`);
    }
  }
  w.close();
});
reactor.close();
await finalize();
