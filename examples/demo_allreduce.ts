/**
 * The end of the README demo: a 4-rank allreduce over UCX through pluvio's own launcher,
 * no MPI installed or needed.
 *
 * Run: `deno task launch -n 4 examples/demo_allreduce.ts`
 *
 * @module
 */
import { Runtime } from "@pluvio/pluvio";
import { AdaptiveCommunicator, Sum, UcxCommunicator } from "@pluvio/pluvio/collective";

const runtime = new Runtime();
await runtime.run(async () => {
  const world = new AdaptiveCommunicator(await UcxCommunicator.create({ timeout: 30_000 }));
  const { rank, size } = world;
  const n = 1 << 20; // 4 MiB of f32 per rank
  const buf = new Float32Array(n).fill(rank + 1);
  const t0 = performance.now();
  await world.allreduce(buf, Sum);
  const ms = performance.now() - t0;
  const want = size * (size + 1) / 2;
  if (buf[0] !== want || buf[n - 1] !== want) throw new Error(`expected ${want}, got ${buf[0]}`);
  console.log(
    `rank ${rank}/${size}: allreduce of ${n * 4 >> 20} MiB = ${buf[0]} everywhere ` +
      `(${world.choice("allreduce", n * 4)}, ${ms.toFixed(1)} ms)`,
  );
  await world.inner.close();
});
runtime.close();
