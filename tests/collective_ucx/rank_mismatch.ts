/**
 * A rank of the mismatch test: rank 0 calls something other than the other ranks (element
 * type, op, count, collective, root), or rejects a call locally that the others post, and
 * every rank reports how its call failed: `CASE <name> <error class> <ms> <message>`.
 * After each case a correct allreduce must give the right sum (`AFTER <name> ok`).
 * Every call has a 5 s timeout, so a case that is not caught shows up as TimeoutError.
 *
 * @module
 */
import { Runtime } from "../../mod.ts";
import { Max, Sum, UcxCommunicator } from "../../lib/collective/mod.ts";
import type { ReduceOp } from "../../lib/collective/ops.ts";

type Case = [string, (c: UcxCommunicator) => Promise<unknown>];

const odd = (c: UcxCommunicator) => c.rank === 0;

const CASES: Case[] = [
  [
    "dtype-same-bytes",
    (c) =>
      odd(c) ? c.allreduce(new Float32Array(200), Sum) : c.allreduce(new Float64Array(100), Sum),
  ],
  [
    "dtype-other-bytes",
    (c) =>
      odd(c) ? c.allreduce(new Float32Array(100), Sum) : c.allreduce(new Float64Array(100), Sum),
  ],
  ["op", (c) => c.allreduce(new Float32Array(1000), odd(c) ? Max : Sum)],
  ["count", (c) => c.allreduce(new Float32Array(odd(c) ? 1001 : 1000), Sum)],
  [
    "kind",
    (c) => odd(c) ? c.allreduce(new Float32Array(16), Sum) : c.broadcast(new Float32Array(16), 0),
  ],
  [
    "small-op",
    (c) => c.allreduce(new Int32Array(1), odd(c) ? Max : Sum, { algorithm: "recursive-doubling" }),
  ],
  // Every rank waits for another root: no message crosses, the waiting beacon tells.
  ["root-broadcast", (c) => c.broadcast(new Float32Array(64), (c.rank + 1) % c.size)],
  ["root-gather", (c) => c.gather(new Float32Array(8), new Float32Array(8 * c.size), c.rank)],
  // Root-only rejections: the root throws locally, the others must not wait.
  ["reject-scatter", (c) => c.scatter(null, new Float32Array(8), 0)],
  ["reject-op", (c) => c.allreduce(new Float32Array(8), (odd(c) ? undefined : Sum) as ReduceOp)],
  ["reject-gather", (c) => c.gather(new Float32Array(8), odd(c) ? new Float32Array(3) : null, 0)],
];

const rt = new Runtime();
await rt.run(async () => {
  const c = await UcxCommunicator.create({ timeout: 5_000, bootstrapTimeoutMs: 30_000 });
  await c.allreduce(new Float32Array(1024), Sum); // every endpoint is up
  for (const [name, run] of CASES) {
    await c.barrier();
    const t0 = performance.now();
    let line: string;
    try {
      await run(c);
      line = `CASE ${name} resolved ${Math.round(performance.now() - t0)}`;
    } catch (e) {
      const ms = Math.round(performance.now() - t0);
      const err = e as Error;
      line = `CASE ${name} ${err.constructor.name} ${ms} ${err.message.replace(/\n/g, " ")}`;
      if (err.cause) {
        line += ` (cause: ${(err.cause as Error).message} ${
          (err.cause as { code?: string }).code
        })`;
      }
    }
    console.log(line);
    const b = new Float64Array(333).fill(c.rank + 1);
    await c.allreduce(b, Sum);
    const want = c.size * (c.size + 1) / 2;
    if (!b.every((x) => x === want)) throw new Error(`${name}: next allreduce gave ${b[0]}`);
    console.log(`AFTER ${name} ok`);
  }
  await c.close();
  console.log("MISMATCH DONE");
});
rt.close();
