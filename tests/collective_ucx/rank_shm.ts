// A rank of the shared-memory test: errorHandling "none" endpoints, every allreduce
// algorithm on a few sizes, checked against locally computed sums.
import { Runtime } from "../../mod.ts";
import { Sum, UcxCommunicator } from "../../lib/collective/mod.ts";

const rt = new Runtime();
await rt.run(async () => {
  const c = await UcxCommunicator.create({ timeout: 30_000, errorHandling: "none" });
  let checks = 0;
  for (const algorithm of ["ring", "pipelined", "recursive-doubling"] as const) {
    for (const n of [1, 3, 1000, 70_001]) {
      const b = Float64Array.from({ length: n }, (_, i) => (c.rank + 1) * (i + 1));
      await c.allreduce(b, Sum, { algorithm });
      const k = c.size * (c.size + 1) / 2;
      for (let i = 0; i < n; i++) {
        if (b[i] !== k * (i + 1)) throw new Error(`${algorithm} n=${n} [${i}] = ${b[i]}`);
      }
      checks++;
    }
  }
  await c.close();
  console.log(`shm ok ${checks}`);
});
