/**
 * A rank of `deno task bench:coll:scaling`. Mode `bootstrap`: the TCP bootstrap alone
 * with a UCX-worker-sized record (argument 2, bytes); mode `ucx`: `UcxCommunicator.create`
 * and a first 4 B allreduce. Every rank reports its start (wall clock, before the
 * bootstrap), the time to the table, and the time to the first allreduce's result.
 * Output line per rank: `SCALE <rank> <startMs> <bootstrapMs> <firstAllreduceMs>`.
 *
 * @module
 */
import { Runtime } from "../../mod.ts";
import { Sum, UcxCommunicator } from "../../lib/collective/mod.ts";
import { bootstrap, bootstrapConfigFromEnv } from "../../lib/collective/ucx/bootstrap.ts";

const mode = Deno.args[0] ?? "bootstrap";
const start = Date.now();
const t0 = performance.now();
if (mode === "bootstrap") {
  const cfg = bootstrapConfigFromEnv();
  const rec = new Uint8Array(Number(Deno.args[1] ?? 400)).fill(cfg.rank & 255);
  await bootstrap(cfg, rec, { timeoutMs: 120_000 });
  console.log(`SCALE ${cfg.rank} ${start} ${(performance.now() - t0).toFixed(2)} NaN`);
} else {
  const rt = new Runtime();
  await rt.run(async () => {
    const c = await UcxCommunicator.create({ bootstrapTimeoutMs: 120_000, timeout: 60_000 });
    const t1 = performance.now();
    await c.allreduce(new Float32Array(1), Sum);
    const t2 = performance.now();
    console.log(`SCALE ${c.rank} ${start} ${(t1 - t0).toFixed(2)} ${(t2 - t0).toFixed(2)}`);
    await c.close();
  });
  rt.close();
}
