/**
 * Sub-communicators: `split` by colour with a reversed key, a rank left out with a null
 * colour, `dup`, and collectives in flight on several communicators at once.
 * Run: `mpirun -n 4 deno run -A rank_comm.ts` (any size >= 2 works).
 */
import { ClosedError, Max, type MpiCommunicator, Sum } from "../../lib/collective/mod.ts";
import { type Checks, runRank, same } from "./_rank.ts";

async function body(w: MpiCommunicator, _r: unknown, c: Checks): Promise<void> {
  const { rank, size } = w;
  // Split into even and odd ranks, ordered by descending world rank.
  const color = rank % 2;
  const sub = await w.split(color, -rank);
  c.ok(sub !== null, "split returned a communicator");
  if (sub === null) return;
  const members = [...Array(size).keys()].filter((r) => r % 2 === color).reverse();
  c.ok(sub.size === members.length, `sub size ${sub.size} === ${members.length}`);
  c.ok(sub.rank === members.indexOf(rank), `sub rank ${sub.rank} === ${members.indexOf(rank)}`);

  // Collectives on world, the sub-communicator and a duplicate, all in flight together.
  const dup = await w.dup();
  c.ok(dup.rank === rank && dup.size === size, "dup keeps rank and size");
  const a = new Int32Array([rank, 1]);
  const b = new Float64Array([rank * 10]);
  const d = new Uint16Array([rank + 1]);
  const g = new Int32Array(sub.size);
  await Promise.all([
    w.allreduce(a, Sum),
    sub.allreduce(b, Sum),
    dup.allreduce(d, Max),
    sub.allgather(new Int32Array([rank]), g),
    w.barrier(),
    dup.barrier(),
  ]);
  c.ok(same(a, [size * (size - 1) / 2, size]), `world allreduce ${a}`);
  c.ok(b[0] === members.reduce((s, r) => s + r * 10, 0), `sub allreduce ${b}`);
  c.ok(d[0] === size, `dup allreduce ${d}`);
  c.ok(same(g, members), `sub allgather ${g} === ${members}`);

  // Broadcast from sub-rank 0 (the highest world rank of the colour).
  const bc = new Float32Array([sub.rank === 0 ? rank : -1]);
  await sub.broadcast(bc, 0);
  c.ok(bc[0] === members[0], `sub broadcast ${bc[0]} === ${members[0]}`);

  // A split where world rank 0 joins nothing.
  const part = await w.split(rank === 0 ? null : 7);
  c.ok((part === null) === (rank === 0), `null colour -> null (${part === null})`);
  if (part !== null) {
    c.ok(part.size === size - 1 && part.rank === rank - 1, "the others form one group");
    const s = new BigInt64Array([BigInt(rank)]);
    await part.allreduce(s, Sum);
    c.ok(s[0] === BigInt(size * (size - 1) / 2), `part allreduce ${s}`);
    part.close();
  }

  // A duplicate of a sub-communicator; a split of the duplicate.
  const sdup = await sub.dup();
  const pair = await sdup.split(0, sdup.rank);
  c.ok(pair !== null && pair.size === sub.size, "split of a dup");
  const x = new Uint8Array([1 << sub.rank]);
  await pair!.allreduce(x, Sum);
  c.ok(x[0] === (1 << sub.size) - 1, `dup/split allreduce ${x[0]}`);
  pair!.close();
  sdup.close();

  // A split queued between collectives that are in flight keeps its place in the order.
  const before = new Int32Array([1]), after = new Int32Array([rank]);
  const pBefore = w.allreduce(before, Sum);
  const pSplit = w.split(rank < size / 2 ? 0 : 1);
  const pAfter = w.allreduce(after, Max);
  const [, half] = await Promise.all([pBefore, pSplit, pAfter]);
  c.ok(before[0] === size && after[0] === size - 1, "collectives around a split");
  c.ok(half !== null && half.size === size / 2, "split between collectives");
  half?.close();

  // Closed communicators refuse work with a typed error.
  dup.close();
  await c.rejects(() => dup.barrier(), ClosedError, /closed/, "barrier on a closed dup");
  sub.close();
  await w.barrier();
}

await runRank("comm", body);
