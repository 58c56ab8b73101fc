/**
 * The point-to-point allreduce path (`native/src/mpi/p2p.rs`: recursive doubling below
 * 8 KiB on power-of-two sizes, the ring above, `MPI_Iallreduce` where neither fits):
 * sizes on both sides of every threshold in flight at once with other collectives,
 * identical bits on every rank for Min/Max over NaN and signed zeros, a timed-out call
 * that leaves the sequence in step, and a full request table (queued calls).
 * Run: `mpirun -n 2|3|4 deno run -A rank_p2p.ts [--capacity=N]`.
 */
import { Max, Min, Sum, TimeoutError } from "../../lib/collective/mod.ts";
import type { MpiCommunicator } from "../../lib/collective/mod.ts";
import { sleep } from "../../mod.ts";
import { type Checks, runRank, same } from "./_rank.ts";

const capArg = Deno.args.find((a) => a.startsWith("--capacity="));
const capacity = capArg ? Number(capArg.split("=")[1]) : undefined;

/** Element counts around the thresholds (f32: 2048 elements = 8 KiB, the ring's start). */
const COUNTS = [1, 2, 3, 5, 1000, 2047, 2048, 2049, 16_385, 100_003, (1 << 18) + 7];

/** Rank r's value at index i: small integers, so f32 sums are exact. */
const val = (r: number, i: number) => ((r * 7 + i * 13) % 17) - 8;

function expected(size: number, n: number): Float32Array {
  const e = new Float32Array(n);
  for (let r = 0; r < size; r++) for (let i = 0; i < n; i++) e[i] += val(r, i);
  return e;
}

function mine(rank: number, n: number): Float32Array {
  const a = new Float32Array(n);
  for (let i = 0; i < n; i++) a[i] = val(rank, i);
  return a;
}

async function body(w: MpiCommunicator, _r: unknown, c: Checks): Promise<void> {
  const { rank, size } = w;
  // 1. Every size in flight at once, with a broadcast and barriers between them.
  for (let round = 0; round < 3; round++) {
    const bufs = COUNTS.map((n) => mine(rank, n));
    const b = new Int32Array(8).fill(rank === 0 ? 42 : 0);
    const ps: Promise<unknown>[] = [];
    bufs.forEach((buf, k) => {
      ps.push(w.allreduce(buf, Sum));
      if (k === 3) ps.push(w.broadcast(b, 0));
      if (k % 4 === 0) ps.push(w.barrier());
    });
    const res = await Promise.allSettled(ps);
    c.ok(res.every((r) => r.status === "fulfilled"), `round ${round}: all settled fulfilled`);
    bufs.forEach((buf, k) => {
      c.ok(same(buf, expected(size, COUNTS[k])), `round ${round}: concurrent n=${COUNTS[k]}`);
    });
    c.ok(b.every((x) => x === 42), `round ${round}: broadcast between allreduces`);
  }
  // 2. One at a time, the same buffers reused.
  for (const n of COUNTS) {
    const buf = mine(rank, n);
    await w.allreduce(buf, Sum);
    c.ok(same(buf, expected(size, n)), `sequential n=${n}`);
    buf.set(mine(rank, n));
    await w.allreduce(buf, Sum);
    c.ok(same(buf, expected(size, n)), `sequential n=${n}, buffer reused`);
  }
  // 3. Min/Max over NaN and signed zeros: every rank ends with the same bits.
  for (const op of [Min, Max]) {
    for (const n of [4, 4096]) {
      const a = new Float32Array(n);
      for (let i = 0; i < n; i++) {
        const k = (i + rank) % 4;
        a[i] = k === 0 ? NaN : k === 1 ? -0 : k === 2 ? 0 : i - rank;
      }
      await w.allreduce(a, op);
      const all = new Uint32Array(n * size);
      await w.allgather(new Uint32Array(a.buffer.slice(0)), all);
      let agree = true;
      for (let r = 1; r < size; r++) {
        if (!same(all.subarray(0, n), all.subarray(r * n, r * n + n))) agree = false;
      }
      c.ok(agree, `${op.name} n=${n}: identical bits on every rank`);
    }
  }
  // 4. A call rank 0 stops waiting for (the others join 300 ms late): rank 0 times out,
  // the call still completes on every rank, and the next calls match.
  const late = mine(rank, 50_000);
  if (rank === 0) {
    await c.rejects(
      () => w.allreduce(late, Sum, { timeout: 50 }),
      TimeoutError,
      /within 50 ms/,
      "allreduce timeout",
    );
  } else {
    await sleep(300);
    await w.allreduce(late, Sum);
    c.ok(same(late, expected(size, 50_000)), "allreduce that rank 0 gave up on");
  }
  for (const n of [3, 50_000]) {
    const buf = mine(rank, n);
    await w.allreduce(buf, Sum, { timeout: 20_000 });
    c.ok(same(buf, expected(size, n)), `after a timeout: n=${n}`);
  }
  // 5. More calls than request slots (with --capacity): they wait in order.
  const many = Array.from({ length: 40 }, (_, k) => mine(rank, COUNTS[k % COUNTS.length]));
  await Promise.all(many.map((b) => w.allreduce(b, Sum)));
  c.ok(
    many.every((b, k) => same(b, expected(size, COUNTS[k % COUNTS.length]))),
    "40 calls at once",
  );
  await w.barrier();
}

await runRank("p2p", body, { capacity });
