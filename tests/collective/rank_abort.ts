/**
 * The way out after a collective that timed out: rank 0 starts an allreduce that rank 1
 * never joins (rank 1 waits instead), gets a TimeoutError, finds `finalize()` refusing
 * (the request is still in flight), and ends the job with `finalize({ abort: true })`,
 * which must also end rank 1. Prints `ABORTING` before; the test expects mpirun to exit
 * non-zero soon after, and no `NOT ABORTED` line.
 * Run: `mpirun -n 2 deno run -A rank_abort.ts`.
 */
import { Runtime, sleep } from "../../mod.ts";
import {
  finalize,
  init,
  InvalidArgumentError,
  MpiCommunicator,
  MpiReactor,
  Sum,
  TimeoutError,
} from "../../lib/collective/mod.ts";

await init();
const reactor = new MpiReactor();
const rt = new Runtime();
rt.registerReactor("mpi", reactor);
await rt.run(async () => {
  const w = MpiCommunicator.world(reactor);
  if (w.rank !== 0) {
    await sleep(30_000); // never joins: the abort must end this process
    console.log(`NOT ABORTED rank ${w.rank}`);
    Deno.exit(0);
  }
  const e = await w.allreduce(new Float32Array(4), Sum, { timeout: 300 }).then(
    () => null,
    (e) => e,
  );
  if (!(e instanceof TimeoutError)) throw new Error(`expected a TimeoutError, got ${e}`);
  const f = await finalize().then(() => null, (e) => e);
  if (!(f instanceof InvalidArgumentError) || !/in flight/.test(f.message)) {
    throw new Error(`expected finalize to refuse, got ${f}`);
  }
  console.log("ABORTING after TimeoutError");
  await finalize({ abort: true, code: 3 });
  console.log("NOT ABORTED rank 0");
});
