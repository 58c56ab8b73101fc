/**
 * A rank of the "rank killed mid-collective" test: the last rank SIGKILLs itself while a
 * large allreduce is in flight; the survivors must fail with a `PeerError` within the
 * call's timeout (they print `SURVIVOR <error class> <ms>` and exit 0).
 *
 * Arguments: the call timeout in ms (default 15 000), the communicator's `errorHandling`
 * (default: the communicator's default), and when the victim dies: `mid` (default: while
 * its data is in flight) or `between` (after every survivor finished the previous call,
 * before the next one: nothing in flight to it, so only liveness watching notices).
 *
 * @module
 */
import { Runtime } from "../../mod.ts";
import { Sum } from "../../lib/collective/mod.ts";
import { UcxCommunicator } from "../../lib/collective/ucx/communicator.ts";
import type { UcxErrorHandling } from "../../lib/collective/ucx/group.ts";

const timeout = Number(Deno.args[0] ?? 15_000);
const errorHandling = (Deno.args[1] || undefined) as UcxErrorHandling | undefined;
const when = Deno.args[2] ?? "mid";
const rt = new Runtime();
await rt.run(async () => {
  const c = await UcxCommunicator.create({
    timeout,
    bootstrapTimeoutMs: 30_000,
    errorHandling,
  });
  const victim = c.size - 1;
  const warm = new Float32Array(1024).fill(1);
  await c.allreduce(warm, Sum); // every endpoint is up
  let call: Promise<unknown>;
  const t0 = performance.now();
  if (when === "between") {
    // The victim hears from every survivor after their warm-up (a gather to it), then dies.
    const one = new Float32Array(1);
    await c.gather(one, c.rank === victim ? new Float32Array(c.size) : null, victim);
    if (c.rank === victim) {
      console.log("VICTIM dying");
      Deno.kill(Deno.pid, "SIGKILL");
    }
    call = c.allreduce(new Float32Array(1024).fill(1), Sum, { algorithm: "ring" });
  } else {
    const big = new Float32Array(16 << 20).fill(1);
    call = c.allreduce(big, Sum, {
      algorithm: "pipelined",
      pipeline: { chunkBytes: 64 << 10 },
    });
    if (c.rank === victim) {
      await new Promise((r) => setTimeout(r, 5));
      console.log("VICTIM dying");
      Deno.kill(Deno.pid, "SIGKILL");
    }
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
