/**
 * Allreduce through pluvio's MPI backend, the loop of allreduce.c: the plain code a user
 * writes (`await world.allreduce(buf, Sum)`), f32 sum in place, plain `Float32Array` and
 * one over `allocAligned` (page-aligned) memory, back to back and barrier-separated (an
 * awaited `world.barrier()` before each call, outside the timed part); the cold figure
 * (first 1000 calls of a 4 B allreduce, no warm-up) first.
 * Run: `mpirun -n 2 deno run -A bench/mpi/allreduce_rank.ts [sizes...]`.
 * Output: `COLD mpi-backend <µs>` and `RESULT mpi-backend <plain|page> <b2b|barrier> <bytes> <µs>`.
 *
 * @module
 */
import { Sum } from "../../lib/collective/mod.ts";
import { withMpiWorld } from "./world.ts";
import { allocAligned } from "../../lib/uring/memory.ts";

const sizes = Deno.args.map(Number);
const iters = (b: number) => b <= 1024 ? 2000 : b <= 65536 ? 300 : b <= 1 << 20 ? 60 : 10;

await withMpiWorld(async (w) => {
  const max1 = async (v: number) => {
    const all = new Float64Array(w.size);
    await w.allgather(Float64Array.of(v), all);
    return Math.max(...all);
  };
  {
    const x = new Float32Array(1);
    await w.barrier();
    const t0 = performance.now();
    for (let i = 0; i < 1000; i++) await w.allreduce(x, Sum);
    const cold = await max1((performance.now() - t0) * 1000 / 1000);
    if (w.rank === 0) console.log(`COLD mpi-backend ${cold.toFixed(3)}`);
  }
  const mx = Math.max(4, ...sizes);
  const plain = new Float32Array(mx / 4);
  const aligned = allocAligned(mx);
  const page = new Float32Array(aligned.buffer, aligned.byteOffset, mx / 4);
  for (const [name, whole] of [["plain", plain], ["page", page]] as const) {
    for (const loop of ["b2b", "barrier"]) {
      for (const b of sizes) {
        const buf = whole.subarray(0, b / 4);
        buf.fill(0);
        const n = iters(b), per = Math.floor(n / 5);
        for (let i = 0; i < Math.floor(n / 10) + 1; i++) await w.allreduce(buf, Sum);
        const batch: number[] = [];
        await w.barrier();
        for (let k = 0; k < 5; k++) {
          let sum = 0;
          const t0 = performance.now();
          for (let i = 0; i < per; i++) {
            if (loop === "barrier") {
              await w.barrier();
              const t = performance.now();
              await w.allreduce(buf, Sum);
              sum += performance.now() - t;
            } else await w.allreduce(buf, Sum);
          }
          batch.push((loop === "barrier" ? sum : performance.now() - t0) * 1000 / per);
        }
        batch.sort((a, b) => a - b);
        const us = await max1(batch[2]);
        if (w.rank === 0) console.log(`RESULT mpi-backend ${name} ${loop} ${b} ${us.toFixed(3)}`);
      }
    }
  }
});
