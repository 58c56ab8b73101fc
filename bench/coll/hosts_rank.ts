/**
 * A rank of `deno task bench:coll --hosts` (argument 1: `ucx` through the launcher, or
 * `mpi` under mpirun): allreduce, f32 sum, 4 B to `max_bytes` (argument 2), with every
 * UCX algorithm and the adaptive choice, or with the MPI backend. Across namespace hosts
 * a call takes 0.1–100 ms, so the loop is bounded in time rather than in calls (the same
 * rule as `hosts_allreduce.c`): 5 probe calls give the slowest rank's time per call `t`;
 * then ~300 ms of warm-up calls (at most `itersFor(bytes)`/10 + 1, 30 000 up to 1 KiB) and
 * 5 batches of ~200 ms each (at most `itersFor(bytes)`/5 calls); the median batch's mean
 * per call, maximised over the ranks. Output (rank 0): `RESULT <series> allreduce <bytes>
 * <µs> [choice]`.
 *
 * @module
 */
import { Runtime } from "../../mod.ts";
import {
  AdaptiveCommunicator,
  ALGORITHMS,
  type Collective,
  Max,
  Sum,
  UcxCommunicator,
} from "../../lib/collective/mod.ts";
import { itersFor, sizes } from "../../lib/collective/ucx/measure.ts";
import { withMpiWorld } from "../mpi/world.ts";

const mode = Deno.args[0] ?? "ucx";
const maxBytes = Number(Deno.args[1] ?? 16 << 20);

async function slowest(c: Collective, ms: number): Promise<number> {
  const x = new Float64Array([ms]);
  await c.allreduce(x, Max);
  return x[0];
}

async function bounded(c: Collective, bytes: number, one: () => Promise<unknown>) {
  let t0 = performance.now();
  for (let i = 0; i < 5; i++) await one();
  const t = Math.max(await slowest(c, (performance.now() - t0) / 5), 1e-3);
  const iters = itersFor(bytes);
  const warmMax = bytes <= 1024 ? 30_000 : Math.floor(iters / 10) + 1;
  const warm = Math.min(warmMax, Math.max(5, Math.round(300 / t)));
  const per = Math.min(Math.floor(iters / 5), Math.max(1, Math.round(200 / t)));
  for (let i = 0; i < warm; i++) await one();
  await c.barrier();
  const batch: number[] = [];
  for (let k = 0; k < 5; k++) {
    t0 = performance.now();
    for (let i = 0; i < per; i++) await one();
    batch.push((performance.now() - t0) * 1000 / per);
  }
  batch.sort((a, b) => a - b);
  return await slowest(c, batch[2]);
}

const buf = new Float32Array(maxBytes / 4);
if (mode === "ucx") {
  const rt = new Runtime();
  await rt.run(async () => {
    const c = await UcxCommunicator.create({ timeout: 600_000 });
    const ad = new AdaptiveCommunicator(c);
    for (const b of sizes(maxBytes)) {
      const f = buf.subarray(0, b / 4);
      for (const a of ALGORITHMS.allreduce) {
        const us = await bounded(c, b, () => c.allreduce(f, Sum, { algorithm: a }));
        if (c.rank === 0) console.log(`RESULT ucx-${a} allreduce ${b} ${us.toFixed(3)}`);
      }
      const us = await bounded(c, b, () => ad.allreduce(f, Sum));
      if (c.rank === 0) {
        console.log(`RESULT adaptive allreduce ${b} ${us.toFixed(3)} ${ad.choice("allreduce", b)}`);
      }
    }
    await c.close();
  });
  rt.close();
} else {
  await withMpiWorld(async (w) => {
    for (const b of sizes(maxBytes)) {
      const f = buf.subarray(0, b / 4);
      const us = await bounded(w, b, () => w.allreduce(f, Sum));
      if (w.rank === 0) console.log(`RESULT mpi-backend allreduce ${b} ${us.toFixed(3)}`);
    }
  });
}
