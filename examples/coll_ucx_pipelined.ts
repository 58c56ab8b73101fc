/**
 * Pipelined ring allreduce of a large buffer over UCX: each ring block is cut into
 * micro-chunks so that reducing one chunk overlaps with moving the next, with a bound
 * on the chunks in flight. Compares it with the plain ring on the same data.
 *
 * Run: `deno task launch -n 2 examples/coll_ucx_pipelined.ts [MiB]` (default 16 MiB).
 *
 * @module
 */
import { Runtime } from "@pluvio/pluvio";
import { Sum, UcxCommunicator } from "@pluvio/pluvio/collective";

const mib = Number(Deno.args[0] ?? 16);
const runtime = new Runtime();
await runtime.run(async () => {
  const world = await UcxCommunicator.create({ timeout: 60_000 });
  const { rank, size } = world;
  const n = (mib << 20) / 4;
  const buf = new Float32Array(n);
  for (
    const [name, opts] of [
      ["ring", { algorithm: "ring" }],
      ["pipelined 256 KiB × 4", {
        algorithm: "pipelined",
        pipeline: { chunkBytes: 256 << 10, window: 4 },
      }],
      ["pipelined 1 MiB × 2", {
        algorithm: "pipelined",
        pipeline: { chunkBytes: 1 << 20, window: 2 },
      }],
    ] as const
  ) {
    for (let i = 0; i < n; i++) buf[i] = (rank + i) % 7;
    await world.barrier();
    const t0 = performance.now();
    await world.allreduce(buf, Sum, opts);
    const ms = performance.now() - t0;
    for (let i = 0; i < n; i += 4093) {
      let want = 0;
      for (let r = 0; r < size; r++) want += (r + i) % 7;
      if (buf[i] !== want) throw new Error(`${name}: element ${i} is ${buf[i]}, expected ${want}`);
    }
    if (rank === 0) {
      console.log(
        `${name}: ${mib} MiB on ${size} ranks in ${ms.toFixed(2)} ms (${
          ((mib << 20) / ms / 1e6).toFixed(2)
        } GB/s)`,
      );
    }
  }
  await world.close();
});
runtime.close();
