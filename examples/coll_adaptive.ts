/**
 * The adaptive communicator: each collective's algorithm is chosen at call time from the
 * message size and rank count, by the table `deno task tune` measured on this machine.
 * Prints the choice per size and checks every result.
 *
 * Run: `deno task launch -n 4 examples/coll_adaptive.ts`
 *
 * @module
 */
import { Runtime } from "@pluvio/pluvio";
import { AdaptiveCommunicator, Max, UcxCommunicator } from "@pluvio/pluvio/collective";

const runtime = new Runtime();
await runtime.run(async () => {
  const world = new AdaptiveCommunicator(await UcxCommunicator.create({ timeout: 30_000 }));
  const { rank, size } = world;
  for (let bytes = 4; bytes <= 16 << 20; bytes *= 16) {
    const buf = new Int32Array(bytes / 4).map((_, i) => (rank * 31 + i) % 1000);
    const t0 = performance.now();
    await world.allreduce(buf, Max);
    const ms = performance.now() - t0;
    for (let i = 0; i < buf.length; i += 997) {
      let want = 0;
      for (let r = 0; r < size; r++) want = Math.max(want, (r * 31 + i) % 1000);
      if (buf[i] !== want) throw new Error(`${bytes} B: element ${i} is ${buf[i]}, not ${want}`);
    }
    if (rank === 0) {
      console.log(
        `allreduce ${String(bytes).padStart(8)} B -> ${
          world.choice("allreduce", bytes).padEnd(18)
        } ${ms.toFixed(3)} ms`,
      );
    }
  }
  const block = new Uint8Array(1000).fill(rank);
  const all = new Uint8Array(1000 * size);
  await world.allgather(block, all);
  if (all.some((v, i) => v !== Math.floor(i / 1000))) throw new Error("allgather mismatch");
  if (rank === 0) console.log(`allgather 1000 B/rank -> ${world.choice("allgather", 1000)}`);
  await world.inner.close();
});
runtime.close();
