/**
 * Software cost per operation of the plain path, without a device: N concurrent loops of
 * `await` on io_uring NOPs submitted through the same ring code `readFixed` uses (slot,
 * submission record, batch flush, reap, settle, promise). Prints ns per op, CPU ns per op
 * and the executor's counters.
 *
 * Usage: deno run -A bench/uring/nop_cost.ts [--qd 32] [--ops 2000000]
 *
 * @module
 */
import process from "node:process";
import { Runtime } from "../../mod.ts";
import { IoUringReactor } from "../../lib/uring/mod.ts";
import { ringOf } from "../../lib/uring/reactor.ts";
import { Operation } from "../../lib/uring/operation.ts";
import { Op } from "../../lib/uring/layout.ts";

function arg(name: string, fallback: string): string {
  const i = Deno.args.indexOf(`--${name}`);
  return i >= 0 && i + 1 < Deno.args.length ? Deno.args[i + 1] : fallback;
}
const qd = Number(arg("qd", "32"));
const total = Number(arg("ops", "2000000"));

const reactor = IoUringReactor.builder().queueSize(Math.max(64, qd)).bufferCount(0).build();
const runtime = new Runtime();
runtime.registerReactor("io_uring", reactor);
const ring = ringOf(reactor);
const res = await runtime.run(async () => {
  const once = async (n: number) => {
    let left = n;
    await Promise.all(Array.from({ length: qd }, async () => {
      while (left-- > 0) await ring.submit(new Operation(Op.NOP));
    }));
  };
  await once(100_000);
  const c0 = process.cpuUsage();
  const t0 = performance.now();
  await once(total);
  const ms = performance.now() - t0;
  const c = process.cpuUsage(c0);
  return { nsPerOp: ms * 1e6 / total, cpuNsPerOp: (c.user + c.system) * 1000 / total };
});
const s = runtime.stats();
console.log(JSON.stringify({ qd, ...res, executor: s.executor, io_uring: s.reactors.io_uring }));
await reactor.close();
