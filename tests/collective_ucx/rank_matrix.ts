/**
 * A rank of the UCX collective matrix test (run through the launcher with 2, 3 and 4
 * ranks): every algorithm × element type × op against locally computed values, uneven
 * lengths (including shorter than the rank count), concurrent collectives on one
 * communicator, two communicators at once, and local argument errors. Prints
 * `MATRIX OK <checks>` at the end; any mismatch throws (the rank exits non-zero).
 *
 * @module
 */
import assert from "node:assert/strict";
import { Runtime } from "../../mod.ts";
import {
  BitXor,
  DTYPES,
  InvalidArgumentError,
  Max,
  opAllowed,
  REDUCE_OPS,
  ShapeError,
  Sum,
} from "../../lib/collective/mod.ts";
import { ALGORITHMS, UcxCommunicator } from "../../lib/collective/ucx/communicator.ts";
import { contrib, dtype, expected, same } from "./_check.ts";

const rt = new Runtime();
let checks = 0;
const t0 = performance.now();
const section = (name: string) =>
  console.log(`${name} (${checks} checks so far, ${(performance.now() - t0).toFixed(0)} ms)`);
await rt.run(async () => {
  const c = await UcxCommunicator.create({ timeout: 30_000, bootstrapTimeoutMs: 30_000 });
  const p = c.size, r = c.rank;
  const lengths = [0, 1, p - 1, p + 1, 257, 10_007];

  // allreduce: algorithm × type × op × length.
  for (const alg of ALGORITHMS.allreduce) {
    for (const d of DTYPES) {
      for (const op of REDUCE_OPS) {
        if (!opAllowed(op, d)) continue;
        for (const n of lengths) {
          const buf = contrib(d, r, n);
          await c.allreduce(buf, op, { algorithm: alg, pipeline: { chunkBytes: 64, window: 3 } });
          same(`allreduce ${alg} ${d.name} ${op.name} n=${n}`, buf, expected(d, op, p, n));
          checks++;
        }
      }
    }
    // Large: several pipeline lanes and rendezvous-sized messages.
    for (const n of [(1 << 20) + 3, 3 << 20]) {
      const d = dtype("i32");
      const buf = contrib(d, r, n);
      await c.allreduce(buf, Sum, { algorithm: alg });
      same(`allreduce ${alg} large n=${n}`, buf, expected(d, Sum, p, n));
      checks++;
    }
  }

  section("reduce");
  // reduce (both algorithms, every root) and reduceScatter.
  for (const alg of ALGORITHMS.reduce) {
    for (const d of [dtype("f64"), dtype("i16"), dtype("u64")]) {
      for (const op of REDUCE_OPS) {
        if (!opAllowed(op, d)) continue;
        for (const root of [0, p - 1]) {
          for (const n of [0, 1, p + 1, 1001]) {
            const recv = r === root ? new d.ctor(n) : null;
            const out = await c.reduce(contrib(d, r, n), recv, op, root, { algorithm: alg });
            if (r === root) {
              same(`reduce ${alg} ${d.name} ${op.name} n=${n}`, out!, expected(d, op, p, n));
            } else assert.equal(out, null);
            checks++;
          }
        }
      }
    }
  }
  for (const d of [dtype("f32"), dtype("u8"), dtype("i64")]) {
    for (const op of REDUCE_OPS) {
      if (!opAllowed(op, d)) continue;
      for (const blockLen of [0, 1, 3, 1000]) {
        const recv = new d.ctor(blockLen);
        await c.reduceScatter(contrib(d, r, blockLen * p), recv, op);
        const all = expected(d, op, p, blockLen * p);
        same(
          `reduceScatter ${d.name} ${op.name} ${blockLen}`,
          recv,
          all.subarray(r * blockLen, (r + 1) * blockLen),
        );
        checks++;
      }
    }
  }

  section("broadcast");
  // broadcast (both algorithms, every root), scatter, gather, allgather, alltoall.
  for (const alg of ALGORITHMS.broadcast) {
    for (const root of [...Array(p).keys()]) {
      for (const n of [0, 1, p - 1, p + 1, 4099, 1 << 20]) {
        const d = dtype(n % 2 ? "u16" : "f64");
        const want = contrib(d, root, n, 5);
        const buf = r === root ? contrib(d, root, n, 5) : new d.ctor(n);
        await c.broadcast(buf, root, { algorithm: alg });
        same(`broadcast ${alg} root=${root} n=${n}`, buf, want);
        checks++;
      }
    }
  }
  for (const root of [...Array(p).keys()]) {
    for (const blockLen of [0, 1, 5, 70_000]) {
      const d = dtype("i32");
      const all = contrib(d, 99, blockLen * p);
      const recv = new d.ctor(blockLen);
      await c.scatter(r === root ? all.slice() : null, recv, root);
      same(
        `scatter root=${root} ${blockLen}`,
        recv,
        all.subarray(r * blockLen, (r + 1) * blockLen),
      );
      const back = r === root ? new d.ctor(blockLen * p) : null;
      const got = await c.gather(recv, back, root);
      if (r === root) same(`gather root=${root} ${blockLen}`, got!, all);
      checks += 2;
    }
  }
  for (const alg of ALGORITHMS.allgather) {
    for (const blockLen of [0, 1, 3, 1000, 300_000]) {
      const d = dtype("f32");
      const recv = new d.ctor(blockLen * p);
      await c.allgather(contrib(d, r, blockLen, 1), recv, { algorithm: alg });
      for (let q = 0; q < p; q++) {
        same(
          `allgather ${alg} ${blockLen} block ${q}`,
          recv.subarray(q * blockLen, (q + 1) * blockLen),
          contrib(d, q, blockLen, 1),
        );
      }
      checks++;
    }
  }
  for (const blockLen of [0, 1, 7, 50_000]) {
    const send = new Uint32Array(blockLen * p).map((_, i) => r * 1_000_000 + i);
    const recv = new Uint32Array(blockLen * p);
    await c.alltoall(send, recv);
    for (let q = 0; q < p; q++) {
      for (let k = 0; k < blockLen; k++) {
        assert.equal(
          recv[q * blockLen + k],
          q * 1_000_000 + r * blockLen + k,
          `alltoall ${blockLen}`,
        );
      }
    }
    checks++;
  }
  await c.barrier();

  section("concurrent");
  // Concurrent collectives on one communicator: all started before any is awaited.
  {
    const d = dtype("f64");
    const bufs = Array.from({ length: 12 }, (_, k) => contrib(d, r, 1000 + k * 977, k));
    const algs = ALGORITHMS.allreduce;
    const bc = r === 1 % p ? contrib(d, 1 % p, 5000, 3) : new d.ctor(5000);
    const agSend = contrib(d, r, 333, 2), agRecv = new d.ctor(333 * p);
    const all: Promise<unknown>[] = bufs.map((b, k) =>
      c.allreduce(b, Max, { algorithm: algs[k % algs.length], pipeline: { chunkBytes: 512 } })
    );
    all.splice(5, 0, c.broadcast(bc, 1 % p), c.allgather(agSend, agRecv), c.barrier());
    await Promise.all(all);
    bufs.forEach((b, k) => same(`concurrent allreduce ${k}`, b, expected(d, Max, p, b.length, k)));
    same("concurrent broadcast", bc, contrib(d, 1 % p, 5000, 3));
    for (let q = 0; q < p; q++) {
      same("concurrent allgather", agRecv.subarray(q * 333, (q + 1) * 333), contrib(d, q, 333, 2));
    }
    checks += bufs.length + 2;
  }

  section("two communicators");
  // Two communicators at once, started in opposite orders on odd and even ranks.
  {
    const c2 = await c.dup();
    assert.notEqual(c2.id, c.id);
    const d = dtype("i64");
    for (let round = 0; round < 5; round++) {
      const a = contrib(d, r, 20_000 + round, round), b = contrib(d, r, 20_000 + round, round + 1);
      const runA = () => c.allreduce(a, BitXor, { algorithm: "ring" });
      const runB = () => c2.allreduce(b, BitXor, { algorithm: "ring" });
      const [pa, pb] = r % 2 ? [runB(), runA()].reverse() : [runA(), runB()];
      await Promise.all([pa, pb]);
      same(`two comms A ${round}`, a, expected(d, BitXor, p, a.length, round));
      same(`two comms B ${round}`, b, expected(d, BitXor, p, b.length, round + 1));
      checks += 2;
    }
    await c2.close();
  }

  section("errors");
  // Local argument errors: nothing is posted, the next collective still works.
  const f = new Float32Array(4);
  await assert.rejects(c.allreduce(f, BitXor), InvalidArgumentError);
  await assert.rejects(
    c.allreduce(f, Sum, { algorithm: "nope" as "ring" }),
    /unknown algorithm "nope"/,
  );
  await assert.rejects(c.allgather(f, new Float32Array(4 * p + 1)), ShapeError);
  await assert.rejects(
    c.allgather(f, new Float64Array(4 * p) as unknown as Float32Array),
    ShapeError,
  );
  await assert.rejects(c.broadcast(f, p), InvalidArgumentError);
  // (Every rank makes the same mistake: a call only some ranks start would desynchronise
  // the communicator, as in MPI.)
  await assert.rejects(c.reduceScatter(f, new Float32Array(3), Sum), ShapeError);
  await assert.rejects(c.gather(f, null, -1), InvalidArgumentError);
  await assert.rejects(
    c.alltoall(new Int8Array(p + 1), new Int8Array(p + 1)),
    InvalidArgumentError,
  );
  await assert.rejects(c.allreduce([1, 2] as unknown as Float32Array, Sum), InvalidArgumentError);
  await assert.rejects(c.allreduce(f, Sum, { timeout: -1 }), InvalidArgumentError);
  const ac = new AbortController();
  ac.abort();
  await assert.rejects(c.allreduce(f, Sum, { signal: ac.signal }), { code: "ECANCELED" });
  const last = contrib(dtype("f32"), r, 9);
  await c.allreduce(last, Sum);
  same("after errors", last, expected(dtype("f32"), Sum, p, 9));
  checks += 12;

  await c.close();
  await assert.rejects(c.barrier(), { code: "EBADF" });
  console.log(`MATRIX OK ${checks}`);
});
rt.close();
