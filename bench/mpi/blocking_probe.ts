/**
 * A probe of one allreduce size: `mpirun -n 2 [-x PLUVIO_MPI_BLOCKING_BYTES=N] deno run -A
 * bench/mpi/blocking_probe.ts <bytes> <calls>` prints µs per call back to back and, on rank
 * 0, the CPU ticks of every thread that used more than 5 (from `/proc/self/task/<tid>/stat`),
 * which shows which threads spin while a call waits.
 *
 * @module
 */
import { Sum } from "../../lib/collective/mod.ts";
import { withMpiWorld } from "./world.ts";
const size = Number(Deno.args[0] ?? 262144);
const n = Number(Deno.args[1] ?? 200);
await withMpiWorld(async (w) => {
  const buf = new Float32Array(size / 4);
  for (let i = 0; i < 10; i++) await w.allreduce(buf, Sum);
  await w.barrier();
  const t0 = performance.now();
  for (let i = 0; i < n; i++) await w.allreduce(buf, Sum);
  const dt = (performance.now() - t0) * 1000 / n;
  console.log(`rank ${w.rank} ${size} B: ${dt.toFixed(1)} us/call`);
  const tasks = [...Deno.readDirSync("/proc/self/task")].map((d) => d.name);
  if (w.rank === 0) {
    for (const t of tasks) {
      const s = Deno.readTextFileSync(`/proc/self/task/${t}/stat`).split(") ")[1].split(" ");
      const comm = Deno.readTextFileSync(`/proc/self/task/${t}/comm`).trim();
      const cpu = Number(s[11]) + Number(s[12]);
      if (cpu > 5) console.log(`  task ${t} ${comm} ticks ${cpu}`);
    }
  }
});
