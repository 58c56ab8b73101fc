/**
 * A rank of the multi-host tests (run through the launcher on namespace hosts): prints
 * the topology it sees (`TOPO rank localRank localSize hosts`), then runs every
 * algorithm of allreduce, reduce, broadcast and allgather (the hierarchical ones
 * included) and both barriers against locally computed values with uneven lengths,
 * checks that hierarchical and flat results agree bit for bit, and prints
 * `HOSTS OK <checks>`. Any mismatch throws (the rank exits non-zero).
 *
 * Argument: the communicator's `errorHandling` (default: the communicator's default).
 *
 * @module
 */
import { Runtime } from "../../mod.ts";
import { Max, Sum } from "../../lib/collective/mod.ts";
import { ALGORITHMS, UcxCommunicator } from "../../lib/collective/ucx/communicator.ts";
import type { UcxErrorHandling } from "../../lib/collective/ucx/group.ts";
import { contrib, dtype, expected, same } from "./_check.ts";

const errorHandling = (Deno.args[0] || undefined) as UcxErrorHandling | undefined;
const rt = new Runtime();
let checks = 0;
await rt.run(async () => {
  const c = await UcxCommunicator.create({
    timeout: 60_000,
    bootstrapTimeoutMs: 30_000,
    errorHandling,
  });
  const p = c.size, r = c.rank;
  console.log(`TOPO ${r} ${c.localRank} ${c.localSize} ${JSON.stringify(c.hosts)}`);
  const lengths = [0, 1, p + 1, 1001, 70_001, (1 << 18) + 3]; // the last: 1 MiB and more
  const cases = [[dtype("f32"), Sum], [dtype("i32"), Max], [dtype("f64"), Sum]] as const;
  for (const [d, op] of cases) {
    for (const n of lengths) {
      const want = expected(d, op, p, n);
      const results = [];
      for (const alg of ALGORITHMS.allreduce) {
        const buf = contrib(d, r, n);
        await c.allreduce(buf, op, { algorithm: alg });
        same(`allreduce ${alg} ${d.name} ${op.name} n=${n}`, buf, want);
        results.push(buf);
        checks++;
      }
      for (const b of results) same(`allreduce flat vs hierarchical n=${n}`, b, results[0]);
    }
  }
  for (const alg of ALGORITHMS.reduce) {
    for (const root of [0, p - 1]) {
      for (const n of [0, 3, 1001, 70_001]) {
        const d = dtype("f64");
        const recv = r === root ? new d.ctor(n) : null;
        const out = await c.reduce(contrib(d, r, n), recv, Sum, root, { algorithm: alg });
        if (r === root) same(`reduce ${alg} root=${root} n=${n}`, out!, expected(d, Sum, p, n));
        checks++;
      }
    }
  }
  for (const alg of ALGORITHMS.broadcast) {
    for (let root = 0; root < p; root++) {
      for (const n of [0, 1, p + 1, 4099, 300_001]) {
        const d = dtype("u16");
        const want = contrib(d, root, n, 5);
        const buf = r === root ? contrib(d, root, n, 5) : new d.ctor(n);
        await c.broadcast(buf, root, { algorithm: alg });
        same(`broadcast ${alg} root=${root} n=${n}`, buf, want);
        checks++;
      }
    }
  }
  for (const alg of ALGORITHMS.allgather) {
    for (const blockLen of [0, 1, 3, 1000, 70_001]) {
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
  for (const algorithm of ["dissemination", "hierarchical"] as const) {
    for (let k = 0; k < 5; k++) await c.barrier({ algorithm });
    checks++;
  }
  // Concurrent hierarchical calls on one communicator, started before any is awaited.
  const bufs = [0, 1, 2].map((k) => contrib(dtype("i32"), r, 5000 + k, k));
  await Promise.all(bufs.map((b) => c.allreduce(b, Sum, { algorithm: "hierarchical" })));
  bufs.forEach((b, k) => same(`concurrent ${k}`, b, expected(dtype("i32"), Sum, p, 5000 + k, k)));
  checks++;
  await c.close();
});
rt.close();
console.log(`HOSTS OK ${checks}`);
