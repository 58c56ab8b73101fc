// A rank of the spin test: small recursive-doubling allreduces and barriers finish on
// the synchronous fast path when the peers are ready, and fall back to waiting
// asynchronously when a peer comes late (each call, one rank sleeps first). Results are
// checked against locally computed sums; no operation may be left in flight.
// Usage: rank_spin.ts <spinUs>
import { Runtime, sleep } from "../../mod.ts";
import { Sum, UcxCommunicator } from "../../lib/collective/mod.ts";

const spinUs = Number(Deno.args[0] ?? 50);
const rt = new Runtime();
await rt.run(async () => {
  const c = await UcxCommunicator.create({ timeout: 30_000, errorHandling: "none", spinUs });
  const k = c.size * (c.size + 1) / 2;
  let checks = 0;
  for (let i = 0; i < 40; i++) {
    const late = i % 4 === 0 && i / 4 % c.size === c.rank; // this rank sleeps first
    if (late) await sleep(5);
    for (const n of [1, 2, 33]) {
      const b = Int32Array.from({ length: n }, (_, j) => (c.rank + 1) * (j + i));
      await c.allreduce(b, Sum, { algorithm: "recursive-doubling" });
      for (let j = 0; j < n; j++) {
        if (b[j] !== k * (j + i)) throw new Error(`call ${i} n=${n} [${j}] = ${b[j]}`);
      }
      checks++;
    }
    await c.barrier();
  }
  if (c.inflight !== 0) throw new Error(`${c.inflight} UCX operations left in flight`);
  await c.close();
  console.log(`spin ok ${checks}`);
});
rt.close();
