/**
 * Direct (one message per pair) algorithms: scatter and gather through the root, the
 * pairwise all-to-all, and the dissemination barrier.
 *
 * @module
 */
import { type Call, drive, type Steps } from "../call.ts";

/**
 * Scatter by direct send: the root sends block `i` of `send` (byte ranges `blk`) to
 * rank `i` and copies its own; the others receive straight into `recv`.
 */
export async function scatterDirect(
  c: Call,
  send: Uint8Array | null,
  recv: Uint8Array,
  blk: [number, number][],
  root: number,
  step = 0,
): Promise<void> {
  if (c.rank !== root) {
    if (recv.length > 0) await c.recv(root, step, recv);
    return;
  }
  const sends: Promise<void>[] = [];
  for (let i = 0; i < c.size; i++) {
    const [a, b] = blk[i];
    if (i === root) recv.set(send!.subarray(a, b));
    else if (b > a) sends.push(c.send(i, step, send!.subarray(a, b)));
  }
  await Promise.all(sends);
}

/** Gather by direct send: rank `i` sends `send` to the root, into block `i` of `recv`. */
export async function gatherDirect(
  c: Call,
  send: Uint8Array,
  recv: Uint8Array | null,
  blk: [number, number][],
  root: number,
  step = 0,
): Promise<void> {
  if (c.rank !== root) {
    if (send.length > 0) await c.send(root, step, send);
    return;
  }
  const recvs: Promise<void>[] = [];
  for (let i = 0; i < c.size; i++) {
    const [a, b] = blk[i];
    if (i === root) recv!.set(send, a);
    else if (b > a) recvs.push(c.recv(i, step, recv!.subarray(a, b)));
  }
  await Promise.all(recvs);
}

/** Pairwise all-to-all: every receive posted first, then every send. */
export async function alltoallPairwise(
  c: Call,
  send: Uint8Array,
  recv: Uint8Array,
): Promise<void> {
  const p = c.size, r = c.rank, len = send.length / p;
  recv.set(send.subarray(r * len, (r + 1) * len), r * len);
  if (len === 0) return;
  const ops: Promise<void>[] = [];
  for (let s = 1; s < p; s++) {
    const src = (r - s + p) % p;
    ops.push(c.recv(src, 0, recv.subarray(src * len, (src + 1) * len)));
  }
  for (let s = 1; s < p; s++) {
    const dst = (r + s) % p;
    ops.push(c.send(dst, 0, send.subarray(dst * len, (dst + 1) * len)));
  }
  await Promise.all(ops);
}

const TOKEN = new Uint8Array(1);

/** Dissemination barrier: ceil(log2 p) rounds of one-byte messages. */
export function barrierDissemination(c: Call): Promise<void> | undefined {
  return drive(barrierSteps(c));
}

function* barrierSteps(c: Call): Steps {
  const p = c.size, r = c.rank;
  const token = c.scratch(1);
  let step = 0;
  for (let dist = 1; dist < p; dist *= 2, step++) {
    const wait = c.exchange(step, (r + dist) % p, TOKEN, (r - dist + p) % p, token);
    if (wait !== undefined) yield wait;
  }
}
