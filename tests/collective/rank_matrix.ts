/**
 * Every collective × every element type × every valid op, checked against values each
 * rank computes locally. Pass 1 posts everything at once (many collectives in flight;
 * with `--capacity=N` most of them wait in the reactor's queue); pass 2 awaits each in
 * turn. Also zero-length buffers. Run: `mpirun -n 2|4 deno run -A rank_matrix.ts`.
 */
import {
  type DType,
  DTYPES,
  type NumericArray,
  opAllowed,
  REDUCE_OPS,
  reduceInto,
  type ReduceOp,
} from "../../lib/collective/mod.ts";
import type { MpiCommunicator } from "../../lib/collective/mod.ts";
import { type Checks, runRank, same } from "./_rank.ts";

const capArg = Deno.args.find((a) => a.startsWith("--capacity="));
const capacity = capArg ? Number(capArg.split("=")[1]) : undefined;

/** The value rank `r` contributes at index `i` for type `d` (small, so float sums are
 * exact; unsigned 64-bit values are large, so their products wrap). */
function value(d: DType, r: number, i: number): number | bigint {
  const v = ((r + 1) * 3 + i * 7) % 11;
  if (d.kind === "uint") return d.bigint ? (BigInt(v + 1) << 40n) + BigInt(i) : v + 1;
  const s = v - 5; // negatives too, for min/max and the signed bit patterns
  return d.bigint ? BigInt(s) : s === 0 ? 1 : s;
}

function fill(d: DType, r: number, n: number, offset = 0): NumericArray {
  const a = new d.ctor(n) as NumericArray;
  // deno-lint-ignore no-explicit-any
  for (let i = 0; i < n; i++) (a as any)[i] = value(d, r, i + offset);
  return a;
}

/** `op` over every rank's contribution, computed locally. */
function reduced(d: DType, op: ReduceOp, size: number, n: number): NumericArray {
  const acc = fill(d, 0, n);
  for (let r = 1; r < size; r++) reduceInto(op, d, acc, fill(d, r, n));
  return acc;
}

type Job = { what: string; run: () => Promise<unknown>; verify: () => boolean };

function jobs(w: MpiCommunicator, d: DType, n: number): Job[] {
  const { rank, size } = w;
  const out: Job[] = [];
  const tag = `${d.name} n=${n}`;
  for (const op of REDUCE_OPS) {
    if (!opAllowed(op, d)) continue;
    const ar = fill(d, rank, n);
    out.push({
      what: `allreduce ${op.name} ${tag}`,
      run: () => w.allreduce(ar, op),
      verify: () => same(ar, reduced(d, op, size, n)),
    });
    const root = (size - 1 + n) % size;
    const rs = fill(d, rank, n), rr = rank === root ? new d.ctor(n) as NumericArray : null;
    out.push({
      what: `reduce ${op.name} root ${root} ${tag}`,
      run: () => w.reduce(rs, rr, op, root),
      verify: () => rr === null || same(rr, reduced(d, op, size, n)),
    });
    const ss = fill(d, rank, n * size), sr = new d.ctor(n) as NumericArray;
    out.push({
      what: `reduceScatter ${op.name} ${tag}`,
      run: () => w.reduceScatter(ss, sr, op),
      verify: () => same(sr, reduced(d, op, size, n * size).subarray(rank * n, rank * n + n)),
    });
  }
  const broot = (1 + n) % size;
  const b = rank === broot ? fill(d, broot, n) : new d.ctor(n) as NumericArray;
  out.push({
    what: `broadcast root ${broot} ${tag}`,
    run: () => w.broadcast(b, broot),
    verify: () => same(b, fill(d, broot, n)),
  });
  const sroot = n % size;
  const sc = rank === sroot ? fill(d, sroot, n * size) : null, scr = new d.ctor(n) as NumericArray;
  out.push({
    what: `scatter root ${sroot} ${tag}`,
    run: () => w.scatter(sc, scr, sroot),
    verify: () => same(scr, fill(d, sroot, n, rank * n)),
  });
  const groot = size - 1;
  const gs = fill(d, rank, n), gr = rank === groot ? new d.ctor(n * size) as NumericArray : null;
  const gathered = () => {
    const all = new d.ctor(n * size) as NumericArray;
    // deno-lint-ignore no-explicit-any
    for (let r = 0; r < size; r++) (all as any).set(fill(d, r, n), r * n);
    return all;
  };
  out.push({
    what: `gather root ${groot} ${tag}`,
    run: () => w.gather(gs, gr, groot),
    verify: () => gr === null || same(gr, gathered()),
  });
  const as = fill(d, rank, n), agr = new d.ctor(n * size) as NumericArray;
  out.push({
    what: `allgather ${tag}`,
    run: () => w.allgather(as, agr),
    verify: () => same(agr, gathered()),
  });
  // alltoall: block j of rank r's send is fill(r) at offset j*n; rank r receives, as block
  // i, block r of rank i's send.
  const ts = fill(d, rank, n * size), tr = new d.ctor(n * size) as NumericArray;
  out.push({
    what: `alltoall ${tag}`,
    run: () => w.alltoall(ts, tr),
    verify: () => {
      for (let i = 0; i < size; i++) {
        if (!same(tr.subarray(i * n, i * n + n), fill(d, i, n, rank * n))) return false;
      }
      return true;
    },
  });
  return out;
}

async function body(w: MpiCommunicator, _r: unknown, c: Checks): Promise<void> {
  // Pass 1: everything in flight at once (plus barriers mixed in).
  const all: Job[] = [];
  for (const d of DTYPES) all.push(...jobs(w, d, 5 + d.index));
  all.push(...jobs(w, DTYPES[0], 0), ...jobs(w, DTYPES[9], 0)); // zero-length buffers
  // Barriers are interleaved with the jobs (same order on every rank).
  const barriers: Promise<void>[] = [];
  const runs = all.map((j, k) => {
    if (k % 50 === 0) barriers.push(w.barrier());
    return j.run();
  });
  const results = await Promise.allSettled(runs);
  await Promise.all(barriers);
  results.forEach((res, k) => {
    const j = all[k];
    c.ok(
      res.status === "fulfilled",
      `${j.what} (concurrent): ${res.status === "rejected" ? res.reason : ""}`,
    );
    if (res.status === "fulfilled") c.ok(j.verify(), `${j.what} (concurrent) result`);
  });
  // Pass 2: one at a time, large-ish buffers on a few types.
  for (const d of [DTYPES[0], DTYPES[1], DTYPES[4], DTYPES[9]]) {
    for (const j of jobs(w, d, 4099)) {
      try {
        await j.run();
        c.ok(j.verify(), `${j.what} (sequential) result`);
      } catch (e) {
        c.ok(false, `${j.what} (sequential): ${e}`);
      }
    }
  }
  // Pass 3: allreduces large enough for the blocking MPI_Allreduce path (>= 256 KiB),
  // in flight at once with small ones (MPI_Iallreduce) and a barrier, then one at a time.
  for (const d of [DTYPES[0], DTYPES[5], DTYPES[7]]) {
    const ar = (n: number) => jobs(w, d, n).filter((j) => j.what.startsWith("allreduce"));
    const mixed = [...ar(70_000), ...ar(9)];
    const res = await Promise.allSettled([...mixed.map((j) => j.run()), w.barrier()]);
    mixed.forEach((j, i) => {
      const r = res[i];
      c.ok(r.status === "fulfilled" && j.verify(), `${j.what} (large, concurrent): ${r.status}`);
    });
    for (const j of ar(40_000)) {
      await j.run();
      c.ok(j.verify(), `${j.what} (large, sequential) result`);
    }
  }
  await w.barrier();
}

await runRank("matrix", body, { capacity });
