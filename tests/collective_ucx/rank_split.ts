/**
 * A rank of the split test: `split(color, key)` and `dup()` on the UCX backend. Ranks
 * split by parity with reversed keys, run collectives on the halves and on the parent at
 * once, split a half again, leave one rank out (color null), and dup a half; every result
 * is checked against a locally computed one. Prints `SPLIT OK <checks>`.
 *
 * @module
 */
import assert from "node:assert/strict";
import { Runtime } from "../../mod.ts";
import { MismatchError, Sum, UcxCommunicator } from "../../lib/collective/mod.ts";

const rt = new Runtime();
await rt.run(async () => {
  const w = await UcxCommunicator.create({ timeout: 20_000, bootstrapTimeoutMs: 30_000 });
  const p = w.size, r = w.rank;
  let checks = 0;
  // Halves by parity, ordered by descending world rank.
  const half = (await w.split(r % 2, -r))!;
  const mates = Array.from({ length: p }, (_, q) => q).filter((q) => q % 2 === r % 2).reverse();
  assert.equal(half.size, mates.length);
  assert.equal(half.rank, mates.indexOf(r));
  assert.notEqual(half.id, w.id);
  // Collectives on the half and on the parent in flight at once.
  const hb = new Float64Array(1000).fill(r + 1);
  const wb = new Float64Array(1000).fill(r + 1);
  await Promise.all([half.allreduce(hb, Sum), w.allreduce(wb, Sum)]);
  const hsum = mates.reduce((a, q) => a + q + 1, 0);
  assert.ok(hb.every((x) => x === hsum), `half sum ${hb[0]} != ${hsum}`);
  assert.ok(wb.every((x) => x === p * (p + 1) / 2));
  checks += 2;
  // Rank order of the half: an allgather gives the world ranks in half-rank order.
  const ranks = new Int32Array(half.size);
  await half.allgather(Int32Array.of(r), ranks);
  assert.deepEqual([...ranks], mates);
  // A broadcast from the half's rank 0 (the highest world rank of that parity).
  const bc = new Int32Array(7).fill(half.rank === 0 ? r : -1);
  await half.broadcast(bc, 0);
  assert.ok(bc.every((x) => x === mates[0]));
  checks += 2;
  // World rank 0 joins nothing; the others form one communicator in world order.
  const rest = await w.split(r === 0 ? null : 7);
  if (r === 0) assert.equal(rest, null);
  else {
    assert.equal(rest!.size, p - 1);
    assert.equal(rest!.rank, r - 1);
    const b = new Int32Array(3).fill(r);
    await rest!.allreduce(b, Sum);
    assert.ok(b.every((x) => x === p * (p - 1) / 2));
    checks++;
    await rest!.close();
  }
  // A split of a split, and a dup of a half: ids agree whatever each rank made before.
  const quarter = (await half.split(half.rank % 2))!;
  const dup = await half.dup();
  assert.equal(dup.size, half.size);
  assert.equal(dup.rank, half.rank);
  const qb = new Float32Array(5).fill(1);
  const db = new Float32Array(5).fill(1);
  await Promise.all([quarter.allreduce(qb, Sum), dup.allreduce(db, Sum)]);
  assert.ok(qb.every((x) => x === quarter.size));
  assert.ok(db.every((x) => x === half.size));
  checks += 2;
  // A mismatch inside a half fails that half's ranks, and the half stays usable.
  if (half.size > 1) {
    const e = await half.allreduce(new Float32Array(half.rank === 0 ? 9 : 8), Sum).then(
      () => null,
      (e) => e,
    );
    assert.ok(e instanceof MismatchError, `half mismatch: ${e}`);
    const again = new Int32Array(4).fill(1);
    await half.allreduce(again, Sum);
    assert.ok(again.every((x) => x === half.size));
    checks++;
  }
  const after = await w.dup();
  const ab = new Int32Array(2).fill(1);
  await after.allreduce(ab, Sum);
  assert.ok(ab.every((x) => x === p));
  checks++;
  for (const c of [after, dup, quarter, half]) await c.close();
  await w.close();
  console.log(`SPLIT OK ${checks}`);
});
rt.close();
