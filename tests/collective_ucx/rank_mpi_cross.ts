/**
 * A rank of the UCX ↔ MPI cross-check, run under `mpirun` (the UCX bootstrap takes the
 * rank and size from `OMPI_COMM_WORLD_*`, the port from `PLUVIO_COLL_ROOT_PORT`): the
 * same collectives on the same pseudo-random data through both backends in one job must
 * agree (exactly for integers and data movement, to rounding for float reductions).
 * Prints `CROSS OK <checks>`.
 *
 * @module
 */
import { Runtime } from "../../mod.ts";
import {
  DTYPES,
  finalize,
  init,
  MpiCommunicator,
  MpiReactor,
  type NumericArray,
  opAllowed,
  REDUCE_OPS,
} from "../../lib/collective/mod.ts";
import { ALGORITHMS, UcxCommunicator } from "../../lib/collective/ucx/communicator.ts";

await init();
const reactor = new MpiReactor();
const rt = new Runtime();
rt.registerReactor("mpi", reactor);
let checks = 0;

/**
 * Pseudo-random elements. `small` keeps 8/16-bit integers from overflowing: Open MPI
 * 4.1.4's AVX op component saturates 8/16-bit sums (`MPI_SUM` of 100 + 100 as int8 gives
 * 127, not -56) where the standard and pluvio's kernels wrap around.
 */
function random(
  ctor: DTypeCtor,
  n: number,
  seed: number,
  big: boolean,
  float: boolean,
  small = false,
) {
  const a = new ctor(n) as unknown as (number | bigint)[];
  let x = (seed * 2654435761) >>> 0 || 1;
  for (let i = 0; i < n; i++) {
    x ^= x << 13;
    x ^= x >>> 17;
    x ^= x << 5;
    x >>>= 0;
    const v = float
      ? (x / 4294967296) * 2 - 1
      : small
      ? (x % 4) - (ctor === Int8Array || ctor === Int16Array ? 1 : 0)
      : (x % 200) - 100;
    a[i] = big ? BigInt(Math.trunc(v)) * 1_000_003n : v;
  }
  return a as unknown as NumericArray;
}
type DTypeCtor = (typeof DTYPES)[number]["ctor"];

function agree(what: string, a: NumericArray, b: NumericArray, float: boolean) {
  for (let i = 0; i < a.length; i++) {
    const x = a[i], y = b[i];
    if (x === y) continue;
    if (float && typeof x === "number" && typeof y === "number") {
      if (Math.abs(x - y) <= 1e-5 * Math.max(1, Math.abs(x), Math.abs(y))) continue;
      if (Number.isNaN(x) && Number.isNaN(y)) continue;
    }
    throw new Error(`${what}: element ${i}: UCX ${x}, MPI ${y}`);
  }
  checks++;
}

await rt.run(async () => {
  const mpi = MpiCommunicator.world(reactor);
  const ucx = await UcxCommunicator.create({ timeout: 30_000 });
  if (ucx.rank !== mpi.rank || ucx.size !== mpi.size) {
    throw new Error(`UCX rank ${ucx.rank}/${ucx.size} != MPI ${mpi.rank}/${mpi.size}`);
  }
  const r = ucx.rank, p = ucx.size;
  for (const d of DTYPES) {
    const float = d.kind === "float";
    for (const op of REDUCE_OPS) {
      if (!opAllowed(op, d) || (op.name === "prod" && float)) continue;
      for (const n of [1, p + 1, 4097]) {
        const small = !float && d.bytes <= 2;
        const src = random(d.ctor, n, r * 1000 + n + op.index, d.bigint, float, small);
        const viaMpi = src.slice();
        await mpi.allreduce(viaMpi, op);
        for (const alg of ALGORITHMS.allreduce) {
          const viaUcx = src.slice();
          await ucx.allreduce(viaUcx, op, { algorithm: alg, pipeline: { chunkBytes: 1024 } });
          agree(`allreduce ${alg} ${d.name} ${op.name} n=${n}`, viaUcx, viaMpi, float);
        }
        const blk = Math.max(1, n >> 2);
        const rsSrc = random(d.ctor, blk * p, r + 7, d.bigint, float, small);
        const a = new d.ctor(blk), b = new d.ctor(blk);
        await ucx.reduceScatter(rsSrc, a as never, op);
        await mpi.reduceScatter(rsSrc, b as never, op);
        agree(`reduceScatter ${d.name} ${op.name}`, a, b, float);
        const ra = r === 0 ? new d.ctor(n) : null, rb = r === 0 ? new d.ctor(n) : null;
        await ucx.reduce(src, ra as never, op, 0);
        await mpi.reduce(src, rb as never, op, 0);
        if (r === 0) agree(`reduce ${d.name} ${op.name}`, ra!, rb!, float);
      }
    }
  }
  // Data movement: identical bytes.
  for (const n of [1, 1000, 300_000]) {
    const mine = random(Float64Array, n, r + 3, false, true) as Float64Array;
    const ga = new Float64Array(n * p), gb = new Float64Array(n * p);
    for (const alg of ALGORITHMS.allgather) {
      await ucx.allgather(mine, ga, { algorithm: alg });
      await mpi.allgather(mine, gb);
      agree(`allgather ${alg} ${n}`, ga, gb, false);
    }
    for (const alg of ALGORITHMS.broadcast) {
      const ba = r === 1 % p ? mine.slice() : new Float64Array(n);
      const bb = r === 1 % p ? mine.slice() : new Float64Array(n);
      await ucx.broadcast(ba, 1 % p, { algorithm: alg });
      await mpi.broadcast(bb, 1 % p);
      agree(`broadcast ${alg} ${n}`, ba, bb, false);
    }
    const all = random(Int32Array, n * p, 42, false, false) as Int32Array;
    const ta = new Int32Array(n * p), tb = new Int32Array(n * p);
    await ucx.alltoall(all, ta);
    await mpi.alltoall(all, tb);
    agree(`alltoall ${n}`, ta, tb, false);
  }
  await ucx.barrier();
  await mpi.barrier();
  await ucx.close();
  mpi.close();
  console.log(`CROSS OK ${checks}`);
});
rt.close();
reactor.close();
await finalize();
