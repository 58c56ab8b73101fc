/**
 * Hierarchical algorithms for groups that span hosts: an intra-host step among the
 * ranks of each host (shared memory), an inter-host step among one leader per host
 * (the only messages that cross the network), and an intra-host step back. Between
 * hosts, each byte crosses the network once per leader instead of once per rank.
 *
 * Every helper works on a list of ranks (a host's ranks, or the leaders) addressed by
 * position, so the same binomial trees and ring serve both levels. Steps keep the
 * levels apart: messages between the same two ranks in one call never share a tag.
 *
 * @module
 */
import type { DType } from "../../dtype.ts";
import type { ReduceOp } from "../../ops.ts";
import { blocks, type Call, mod } from "../call.ts";
import type { Topology } from "../topology.ts";

/** Leaders allreduce with a ring from this size on (a tree below: fewer rounds). */
export const RING_FROM_BYTES = 64 << 10;

/** Binomial broadcast of `buf` over the ranks `list` from position `root` (tag `step`). */
async function treeBcast(
  c: Call,
  list: readonly number[],
  root: number,
  me: number,
  buf: Uint8Array,
  step: number,
): Promise<void> {
  const p = list.length;
  if (p === 1 || buf.length === 0) return;
  const vr = mod(me - root, p);
  let mask = 1;
  while (mask < p) {
    if (vr & mask) {
      await c.recv(list[mod(vr - mask + root, p)], step, buf);
      break;
    }
    mask <<= 1;
  }
  const sends: Promise<void>[] = [];
  for (mask >>= 1; mask > 0; mask >>= 1) {
    if (vr + mask < p) sends.push(c.send(list[mod(vr + mask + root, p)], step, buf));
  }
  await Promise.all(sends);
}

/**
 * Binomial reduce of `acc` over `list` to position `root`, in place (`op` null: only
 * waits for the children, as a barrier's arrival does).
 */
async function treeReduce(
  c: Call,
  list: readonly number[],
  root: number,
  me: number,
  acc: Uint8Array,
  d: DType | null,
  op: ReduceOp | null,
  step: number,
): Promise<void> {
  const p = list.length;
  if (p === 1 || acc.length === 0) return;
  const vr = mod(me - root, p);
  let tmp: Uint8Array | null = null;
  for (let mask = 1; mask < p; mask <<= 1) {
    if (vr & mask) {
      await c.send(list[mod(vr - mask + root, p)], step, acc);
      return;
    }
    if (vr + mask < p) {
      tmp ??= c.scratch(acc.length);
      await c.recv(list[mod(vr + mask + root, p)], step, tmp);
      if (op && d) c.reduce(op, d, acc, tmp);
    }
  }
}

/**
 * Ring reduce-scatter over `list` of the byte ranges `blk` of `buf` (tags from `step0`):
 * afterwards position `me` holds the reduction of block `(me + 1) mod p`.
 */
async function ringReduceScatterList(
  c: Call,
  list: readonly number[],
  me: number,
  buf: Uint8Array,
  blk: [number, number][],
  d: DType,
  op: ReduceOp,
  step0: number,
): Promise<void> {
  const p = list.length;
  const right = list[(me + 1) % p], left = list[mod(me - 1, p)];
  let max = 0;
  for (const [a, b] of blk) max = Math.max(max, b - a);
  const tmp = c.scratch(max);
  for (let s = 0; s < p - 1; s++) {
    const [sa, sb] = blk[mod(me - s, p)], [ra, rb] = blk[mod(me - s - 1, p)];
    const t = tmp.subarray(0, rb - ra);
    await Promise.all([
      sb > sa ? c.send(right, step0 + s, buf.subarray(sa, sb)) : null,
      rb > ra ? c.recv(left, step0 + s, t) : null,
    ]);
    if (rb > ra) c.reduce(op, d, buf.subarray(ra, rb), t);
  }
}

/** Ring allgather over `list` where position `me` holds block `(me + 1) mod p` of `blk`. */
async function ringAllgatherList(
  c: Call,
  list: readonly number[],
  me: number,
  buf: Uint8Array,
  blk: [number, number][],
  step0: number,
): Promise<void> {
  const p = list.length;
  const right = list[(me + 1) % p], left = list[mod(me - 1, p)];
  for (let s = 0; s < p - 1; s++) {
    const [sa, sb] = blk[mod(me + 1 - s, p)], [ra, rb] = blk[mod(me - s, p)];
    await Promise.all([
      sb > sa ? c.send(right, step0 + s, buf.subarray(sa, sb)) : null,
      rb > ra ? c.recv(left, step0 + s, buf.subarray(ra, rb)) : null,
    ]);
  }
}

/** Ring allreduce of `buf` over `list` (reduce-scatter, then allgather; tags from `step0`). */
async function ringAllreduce(
  c: Call,
  list: readonly number[],
  me: number,
  buf: Uint8Array,
  d: DType,
  op: ReduceOp,
  step0: number,
): Promise<void> {
  const p = list.length;
  const blk = blocks(buf.length / d.bytes, p, d.bytes);
  await ringReduceScatterList(c, list, me, buf, blk, d, op, step0);
  await ringAllgatherList(c, list, me, buf, blk, step0 + p - 1);
}

/** Several leaders per host (one per local rank) from this size on, when hosts are alike. */
export const MULTI_LEADER_FROM_BYTES = 1 << 20;

/**
 * Large hierarchical allreduce with every rank a leader: a ring reduce-scatter on each
 * host leaves local rank `i` with block `i + 1` of its host's sum; the ranks with the same
 * local position on every host allreduce that block between hosts (L rings at once);
 * a ring allgather on each host spreads the blocks. Needs equally many ranks per host.
 */
async function allreduceMultiLeader(
  c: Call,
  t: Topology,
  buf: Uint8Array,
  d: DType,
  op: ReduceOp,
): Promise<void> {
  const h = t.hostOf[c.rank], me = t.localOf[c.rank], local = t.hosts[h];
  const L = local.length;
  const blk = blocks(buf.length / d.bytes, L, d.bytes);
  await ringReduceScatterList(c, local, me, buf, blk, d, op, 0);
  const [a, b] = blk[(me + 1) % L];
  if (b > a) await ringAllreduce(c, t.hosts.map((x) => x[me]), h, buf.subarray(a, b), d, op, 2 * L);
  await ringAllgatherList(c, local, me, buf, blk, L);
}

/**
 * Hierarchical allreduce: a binomial reduce to each host's first rank, an allreduce
 * among those leaders (a ring from {@link RING_FROM_BYTES}, a tree reduce + broadcast
 * below), and a binomial broadcast on each host. From {@link MULTI_LEADER_FROM_BYTES},
 * when every host has the same number of ranks, every rank leads a block instead (see
 * `allreduceMultiLeader`).
 */
export async function allreduceHierarchical(
  c: Call,
  t: Topology,
  buf: Uint8Array,
  d: DType,
  op: ReduceOp,
): Promise<void> {
  if (buf.length === 0 || c.size === 1) return;
  const h = t.hostOf[c.rank], me = t.localOf[c.rank], local = t.hosts[h];
  const L = local.length, H = t.hosts.length;
  if (
    H > 1 && L > 1 && buf.length >= MULTI_LEADER_FROM_BYTES &&
    t.hosts.every((x) => x.length === L) && buf.length / d.bytes >= L * H
  ) {
    return allreduceMultiLeader(c, t, buf, d, op);
  }
  await treeReduce(c, local, 0, me, buf, d, op, 0);
  if (me === 0 && t.hosts.length > 1) {
    const leaders = t.hosts.map((x) => x[0]);
    if (buf.length >= RING_FROM_BYTES && buf.length / d.bytes >= leaders.length) {
      await ringAllreduce(c, leaders, h, buf, d, op, 2);
    } else {
      await treeReduce(c, leaders, 0, h, buf, d, op, 2);
      await treeBcast(c, leaders, 0, h, buf, 3);
    }
  }
  await treeBcast(c, local, 0, me, buf, 1);
}

/** The leader of each host for a collective rooted at `root` (the root leads its own host). */
function leadersFor(t: Topology, root: number): number[] {
  const hr = t.hostOf[root];
  return t.hosts.map((x, k) => (k === hr ? root : x[0]));
}

/** Hierarchical broadcast: a tree among the host leaders from the root, then on each host. */
export async function broadcastHierarchical(
  c: Call,
  t: Topology,
  buf: Uint8Array,
  root: number,
): Promise<void> {
  if (buf.length === 0 || c.size === 1) return;
  const leaders = leadersFor(t, root);
  const h = t.hostOf[c.rank], local = t.hosts[h];
  if (c.rank === leaders[h]) await treeBcast(c, leaders, t.hostOf[root], h, buf, 0);
  await treeBcast(c, local, local.indexOf(leaders[h]), t.localOf[c.rank], buf, 1);
}

/** Hierarchical reduce of `acc` (in place) to `root`: on each host, then among the leaders. */
export async function reduceHierarchical(
  c: Call,
  t: Topology,
  acc: Uint8Array,
  d: DType,
  op: ReduceOp,
  root: number,
): Promise<void> {
  if (acc.length === 0 || c.size === 1) return;
  const leaders = leadersFor(t, root);
  const h = t.hostOf[c.rank], local = t.hosts[h];
  await treeReduce(c, local, local.indexOf(leaders[h]), t.localOf[c.rank], acc, d, op, 0);
  if (c.rank === leaders[h]) await treeReduce(c, leaders, t.hostOf[root], h, acc, d, op, 1);
}

/**
 * Hierarchical allgather of `bytes`-long blocks (`send` into `recv` at `rank × bytes`):
 * each host's blocks are gathered at its leader, the leaders pass whole hosts' blocks
 * round a ring, and each leader broadcasts the full result on its host.
 */
export async function allgatherHierarchical(
  c: Call,
  t: Topology,
  send: Uint8Array,
  recv: Uint8Array,
): Promise<void> {
  const B = send.length;
  recv.set(send, c.rank * B);
  if (B === 0 || c.size === 1) return;
  const h = t.hostOf[c.rank], me = t.localOf[c.rank], local = t.hosts[h];
  const at = (r: number) => recv.subarray(r * B, (r + 1) * B);
  if (me !== 0) await c.send(local[0], 0, send);
  else {
    await Promise.all(local.slice(1).map((r) => c.recv(r, 0, at(r))));
    const H = t.hosts.length;
    if (H > 1) {
      const leaders = t.hosts.map((x) => x[0]);
      const right = leaders[(h + 1) % H], left = leaders[mod(h - 1, H)];
      let max = 0;
      for (const x of t.hosts) max = Math.max(max, x.length * B);
      const out = c.scratch(max), inc = c.scratch(max);
      for (let s = 0; s < H - 1; s++) {
        const sh = t.hosts[mod(h - s, H)], rh = t.hosts[mod(h - s - 1, H)];
        sh.forEach((r, i) => out.set(at(r), i * B));
        const got = inc.subarray(0, rh.length * B);
        await Promise.all([
          c.send(right, 1 + s, out.subarray(0, sh.length * B)),
          c.recv(left, 1 + s, got),
        ]);
        rh.forEach((r, i) => at(r).set(got.subarray(i * B, (i + 1) * B)));
      }
    }
  }
  await treeBcast(c, local, 0, me, recv, 1 + t.hosts.length);
}

/** Hierarchical barrier: arrivals up each host's tree and the leaders' tree, release down. */
export async function barrierHierarchical(c: Call, t: Topology): Promise<void> {
  if (c.size === 1) return;
  const h = t.hostOf[c.rank], me = t.localOf[c.rank], local = t.hosts[h];
  const token = c.scratch(1);
  await treeReduce(c, local, 0, me, token, null, null, 0);
  if (me === 0 && t.hosts.length > 1) {
    const leaders = t.hosts.map((x) => x[0]);
    await treeReduce(c, leaders, 0, h, token, null, null, 2);
    await treeBcast(c, leaders, 0, h, token, 3);
  }
  await treeBcast(c, local, 0, me, token, 1);
}
