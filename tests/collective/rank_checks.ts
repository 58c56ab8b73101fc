/**
 * The MPI backend's check mode (run with `PLUVIO_COLL_CHECKS=1`): rank 0 calls something
 * other than the other ranks (element type, op, count, collective, root, broadcast
 * length), or rejects a call locally; every rank must fail the call with a typed error
 * within 1 s that names both sides (or the rejecting rank), and the next allreduce must
 * be correct. dup and split keep check mode.
 * Run: `PLUVIO_COLL_CHECKS=1 mpirun -n 2 deno run -A rank_checks.ts`.
 */
import {
  InvalidArgumentError,
  Max,
  MismatchError,
  type MpiCommunicator,
  PeerRejectedError,
  type ReduceOp,
  ShapeError,
  Sum,
  TimeoutError,
} from "../../lib/collective/mod.ts";
import { sleep } from "../../mod.ts";
import { type Checks, runRank } from "./_rank.ts";

type Run = (w: MpiCommunicator) => Promise<unknown>;

async function body(w: MpiCommunicator, _r: unknown, c: Checks): Promise<void> {
  const first = w.rank === 0;
  c.ok(w.checks, "check mode is on");
  const mismatches: [string, Run, RegExp][] = [
    [
      "dtype-same-bytes",
      (w) =>
        first ? w.allreduce(new Float32Array(200), Sum) : w.allreduce(new Float64Array(100), Sum),
      /called allreduce\(Float64 × 100, Sum\) where rank 0 called allreduce\(Float32 × 200, Sum\)/,
    ],
    [
      "dtype-other-bytes",
      (w) =>
        first ? w.allreduce(new Float32Array(100), Sum) : w.allreduce(new Float64Array(100), Sum),
      /\(Float64 × 100, Sum\) where rank 0 called allreduce\(Float32 × 100, Sum\)/,
    ],
    [
      "op",
      (w) => w.allreduce(new Float32Array(1000), first ? Max : Sum),
      /\(Float32 × 1000, Sum\) where rank 0 called allreduce\(Float32 × 1000, Max\)/,
    ],
    [
      "count",
      (w) => w.allreduce(new Float32Array(first ? 1001 : 1000), Sum),
      /\(Float32 × 1000, Sum\) where rank 0 called allreduce\(Float32 × 1001, Sum\)/,
    ],
    [
      "kind",
      (w) => first ? w.allreduce(new Float32Array(16), Sum) : w.broadcast(new Float32Array(16), 0),
      /called broadcast\(Float32 × 16, root 0\) where rank 0 called allreduce\(Float32 × 16, Sum\)/,
    ],
    [
      "root",
      (w) => w.broadcast(new Float32Array(64), first ? 0 : 1),
      /called broadcast\(Float32 × 64, root 1\) where rank 0 called broadcast\(Float32 × 64, root 0\)/,
    ],
    [
      "broadcast-length",
      (w) => w.broadcast(new Float32Array(first ? 10 : 12), 0),
      /\(Float32 × 12, root 0\) where rank 0 called broadcast\(Float32 × 10, root 0\)/,
    ],
  ];
  const rejections: [string, Run, RegExp][] = [
    ["reject-scatter", (w) => w.scatter(null, new Float32Array(8), 0), /send is required/],
    [
      "reject-op",
      (w) => w.allreduce(new Float32Array(8), (first ? undefined : Sum) as ReduceOp),
      /unknown reduction undefined/,
    ],
    [
      "reject-gather",
      (w) => w.gather(new Float32Array(8), first ? new Float32Array(3) : null, 0),
      /recv\.length === 3/,
    ],
  ];
  const after = async (what: string) => {
    const b = new Float64Array(333).fill(w.rank + 1);
    await w.allreduce(b, Sum, { timeout: 5000 });
    c.ok(b.every((x) => x === w.size * (w.size + 1) / 2), `${what}: next allreduce`);
  };
  for (const [name, run, re] of mismatches) {
    await w.barrier();
    const t0 = performance.now();
    const e = await run(w).then(() => null, (e) => e as Error);
    const ms = performance.now() - t0;
    c.ok(
      e instanceof MismatchError && re.test(e.message),
      `${name}: got ${e?.name}: ${e?.message}`,
    );
    c.ok(ms < 1000, `${name}: within 1 s (${ms.toFixed(0)} ms)`);
    await after(name);
  }
  for (const [name, run, re] of rejections) {
    await w.barrier();
    const t0 = performance.now();
    const e = await run(w).then(() => null, (e) => e as Error);
    const ms = performance.now() - t0;
    if (first) {
      c.ok(
        (e instanceof ShapeError || e instanceof InvalidArgumentError) && re.test(e.message),
        `${name} at the root: got ${e?.name}: ${e?.message}`,
      );
    } else {
      c.ok(
        e instanceof PeerRejectedError && e.peer === 0 && re.test(e.message),
        `${name}: got ${e?.name}: ${e?.message}`,
      );
    }
    c.ok(ms < 1000, `${name}: within 1 s (${ms.toFixed(0)} ms)`);
    await after(name);
  }
  // A rank that gives up waiting (timeout) stays in step: its check and call still run.
  {
    await w.barrier();
    const b = new Float32Array(5).fill(1);
    if (first) {
      const e = await w.allreduce(b, Sum, { timeout: 100 }).then(() => null, (e) => e);
      c.ok(e instanceof TimeoutError, `timeout in check mode: ${e}`);
    } else {
      await sleep(400);
      await w.allreduce(b, Sum);
      c.ok(b.every((x) => x === w.size), "the late ranks' allreduce completes");
    }
    await after("timeout");
  }
  // Communicators made from a checked one are checked too.
  const d = await w.dup();
  const s = (await w.split(w.rank % 2))!;
  c.ok(d.checks && s.checks, "dup and split keep check mode");
  const e = await d.allreduce(new Int32Array(first ? 2 : 3), Sum).then(() => null, (e) => e);
  c.ok(e instanceof MismatchError, `mismatch on a dup: ${e}`);
  const b = new Int32Array(4).fill(1);
  await s.allreduce(b, Sum);
  c.ok(b.every((x) => x === s.size), "allreduce on a split");
  d.close();
  s.close();
}

await runRank("checks", body);
