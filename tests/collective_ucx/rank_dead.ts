/**
 * A rank of the "rank killed mid-collective" test: the last rank SIGKILLs itself while a
 * large allreduce is in flight; the survivors must fail with a `PeerError` within the
 * call's timeout (they print `SURVIVOR <error class> <ms>` and exit 0).
 *
 * @module
 */
import { Runtime } from "../../mod.ts";
import { Sum } from "../../lib/collective/mod.ts";
import { UcxCommunicator } from "../../lib/collective/ucx/communicator.ts";

const timeout = Number(Deno.args[0] ?? 15_000);
const rt = new Runtime();
await rt.run(async () => {
  const c = await UcxCommunicator.create({ timeout, bootstrapTimeoutMs: 30_000 });
  const victim = c.size - 1;
  const warm = new Float32Array(1024).fill(1);
  await c.allreduce(warm, Sum); // every endpoint is up
  const big = new Float32Array(16 << 20).fill(1);
  const t0 = performance.now();
  const call = c.allreduce(big, Sum, {
    algorithm: "pipelined",
    pipeline: { chunkBytes: 64 << 10 },
  });
  if (c.rank === victim) {
    await new Promise((r) => setTimeout(r, 5));
    console.log("VICTIM dying");
    Deno.kill(Deno.pid, "SIGKILL");
  }
  try {
    await call;
    console.log("SURVIVOR completed (the victim died too late)");
  } catch (e) {
    const ms = performance.now() - t0;
    console.log(
      `SURVIVOR ${(e as Error).constructor.name} ${ms.toFixed(0)} ${(e as Error).message}`,
    );
  }
  // A broken communicator refuses further calls at once; closing it does not hang.
  try {
    await c.barrier({ timeout: 2000 });
    console.log("AFTER barrier passed");
  } catch (e) {
    console.log(`AFTER ${(e as Error).constructor.name}`);
  }
  await c.close({ timeoutMs: 2000 });
});
rt.close();
