/**
 * Pipelined ring allreduce: each ring block is cut into micro-chunks, and each chunk
 * index runs the whole ring (reduce-scatter then allgather) as an independent lane, at
 * most `window` lanes at a time. Reducing one chunk overlaps with the transfer of the
 * next, which the plain ring serialises.
 *
 * @module
 */
import type { DType } from "../../dtype.ts";
import type { ReduceOp } from "../../ops.ts";
import { blocks, type Call, MAX_STEPS, mod } from "../call.ts";

/** Tuning of {@link allreducePipelined}. */
export interface PipelineOptions {
  /** Target micro-chunk size in bytes (default 256 KiB). */
  chunkBytes?: number;
  /** Lanes (chunks) in flight at once (default 4). */
  window?: number;
}

/** Default micro-chunk size. */
export const DEFAULT_CHUNK_BYTES = 256 << 10;
/** Default bound on chunks in flight. */
export const DEFAULT_WINDOW = 4;

/** Pipelined ring allreduce of `buf`, in place. */
export async function allreducePipelined(
  c: Call,
  buf: Uint8Array,
  d: DType,
  op: ReduceOp,
  options: PipelineOptions = {},
): Promise<void> {
  const p = c.size, r = c.rank;
  if (p === 1) return;
  const n = buf.length / d.bytes;
  const blk = blocks(n, p, d.bytes);
  const maxBlock = blk.reduce((m, [a, b]) => Math.max(m, b - a), 0);
  if (maxBlock === 0) return;
  const steps = 2 * (p - 1);
  // Chunks per block: as asked, but the lanes' tags (steps × chunks) must fit.
  let m = Math.max(1, Math.ceil(maxBlock / (options.chunkBytes ?? DEFAULT_CHUNK_BYTES)));
  m = Math.min(m, Math.floor(MAX_STEPS / steps), Math.max(1, Math.floor(maxBlock / d.bytes)));
  const window = Math.max(1, Math.min(options.window ?? DEFAULT_WINDOW, m));
  // Chunk k of block b: the same proportional split in every block, element-aligned.
  const chunk = (b: number, k: number): [number, number] => {
    const [a, e] = blk[b];
    const len = (e - a) / d.bytes;
    return [a + Math.floor(k * len / m) * d.bytes, a + Math.floor((k + 1) * len / m) * d.bytes];
  };
  const maxChunk = Math.ceil(maxBlock / d.bytes / m) * d.bytes;
  const right = (r + 1) % p, left = (r + p - 1) % p;
  const tmps = Array.from({ length: window }, () => [c.scratch(maxChunk), c.scratch(maxChunk)]);

  const lane = async (k: number, tmp: Uint8Array[]) => {
    const sends: Promise<void>[] = [];
    const tag = (s: number) => s * m + k;
    // Reduce-scatter: rank r ends with block r + 1 of this lane.
    const post = (s: number) => {
      const [a, b] = chunk(mod(r - s - 1, p), k);
      return b > a ? c.recv(left, tag(s), tmp[s & 1].subarray(0, b - a)) : null;
    };
    let pending = post(0);
    for (let s = 0; s < p - 1; s++) {
      const [ss, se] = chunk(mod(r - s, p), k);
      if (se > ss) sends.push(c.send(right, tag(s), buf.subarray(ss, se)));
      const got = pending;
      if (got) await got;
      pending = s + 1 < p - 1 ? post(s + 1) : null;
      const [a, b] = chunk(mod(r - s - 1, p), k);
      if (b > a) c.reduce(op, d, buf.subarray(a, b), tmp[s & 1].subarray(0, b - a));
    }
    // The reduce-scatter sends read blocks the allgather overwrites: finish them first.
    await Promise.all(sends);
    sends.length = 0;
    const recvs: (Promise<void> | null)[] = [];
    for (let s = 0; s < p - 1; s++) {
      const [a, b] = chunk(mod(r - s, p), k);
      recvs.push(b > a ? c.recv(left, tag(p - 1 + s), buf.subarray(a, b)) : null);
    }
    for (let s = 0; s < p - 1; s++) {
      if (s > 0 && recvs[s - 1]) await recvs[s - 1];
      const [a, b] = chunk(mod(r + 1 - s, p), k);
      if (b > a) sends.push(c.send(right, tag(p - 1 + s), buf.subarray(a, b)));
    }
    if (recvs[p - 2]) await recvs[p - 2];
    await Promise.all(sends);
  };

  // Lanes start in chunk order on every rank, so the lowest unfinished lane is always
  // running everywhere: no deadlock whatever the window.
  let next = 0;
  const worker = async (tmp: Uint8Array[]) => {
    while (next < m && c.failure === null) await lane(next++, tmp);
  };
  await Promise.all(tmps.map(worker));
  if (c.failure) throw c.failure;
}
