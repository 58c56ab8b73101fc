/**
 * Bruck allgather: ceil(log2 p) steps for any p; at distance `2^k` each rank sends what
 * it has gathered so far to `r - 2^k` and receives as much from `r + 2^k`, in a rotated
 * buffer that is unrotated at the end (latency-optimal for small blocks).
 *
 * @module
 */
import type { Call } from "../call.ts";

/** Bruck allgather: `send` (`len` bytes per rank) of every rank into `recv`, rank order. */
export async function allgatherBruck(
  c: Call,
  send: Uint8Array,
  recv: Uint8Array,
): Promise<void> {
  const p = c.size, r = c.rank, len = send.length;
  if (p === 1 || len === 0) {
    recv.set(send, r * len);
    return;
  }
  // tmp block j holds the data of rank (r + j) mod p.
  const tmp = c.scratch(p * len);
  tmp.set(send, 0);
  let step = 0;
  for (let dist = 1; dist < p; dist *= 2, step++) {
    const cnt = Math.min(dist, p - dist);
    const got = c.recv((r + dist) % p, step, tmp.subarray(dist * len, (dist + cnt) * len));
    const sent = c.send((r - dist + p) % p, step, tmp.subarray(0, cnt * len));
    await got;
    await sent;
  }
  // Unrotate: block j is rank (r + j) mod p.
  const head = (p - r) * len;
  recv.set(tmp.subarray(0, head), r * len);
  recv.set(tmp.subarray(head, p * len), 0);
}
