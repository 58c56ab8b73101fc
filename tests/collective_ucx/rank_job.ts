/**
 * A rank of the job-isolation tests: bootstraps with the environment's configuration
 * and an address carrying this job's tag (argument 1), then checks that every entry of
 * the table carries the same tag. Prints `JOB OK <tag>`, or `JOB ERROR <class>: <message>`
 * when the bootstrap refused (exit 4), or `MERGED <tags>` when the table mixes jobs
 * (exit 5).
 *
 * @module
 */
import { bootstrap, bootstrapConfigFromEnv } from "../../lib/collective/ucx/bootstrap.ts";

const tag = Deno.args[0] ?? "?";
const cfg = bootstrapConfigFromEnv();
let table: Uint8Array[];
try {
  table = await bootstrap(cfg, new TextEncoder().encode(`${tag}:${cfg.rank}`), {
    timeoutMs: Number(Deno.args[1] ?? 5000),
  });
} catch (e) {
  console.log(`JOB ERROR ${(e as Error).name}: ${(e as Error).message}`);
  Deno.exit(4);
}
const tags = table.map((a) => new TextDecoder().decode(a).split(":")[0]);
if (tags.some((t) => t !== tag)) {
  console.log(`MERGED ${tags.join(",")}`);
  Deno.exit(5);
}
console.log(`JOB OK ${tag}`);
