/**
 * Remote READ benchmark (Pluvio's `mpi_example`): every rank serves reads of its own
 * file through io_uring and registered buffers, and reads random blocks of the next
 * rank's file over UCX Active Messages, verifying every byte. MPI gives rank and size,
 * exchanges the UCX worker addresses and gathers the figures.
 *
 * ```sh
 * mpirun --allow-run-as-root --oversubscribe -n 2 deno run -A examples/mpi_example.ts \
 *   [--size-mib 64] [--bs-kib 128] [--qd 8] [--seconds 5] [--timeout-s 120]
 * ```
 *
 * Each rank writes `--size-mib` MiB with `O_DIRECT` into a temp dir under /tmp (removed
 * at the end); word `k` (4 bytes) of rank `r`'s file holds `k ^ salt(r)`, so a client
 * can check what comes back. Request: AM 20 with header [u32 id, u32 length, f64
 * offset], sent with `needReply`; reply: AM 21 on the reply endpoint with header
 * [i32 id, i32 bytes or -errno] and the block (UCX switches to rendezvous for large
 * blocks, and the client pulls it straight into its buffer).
 *
 * Each rank prints `rank R/N: ... verified V/V reads ... MB/s ... IOPS p50 ... p99 ...`;
 * rank 0 then prints `aggregate: ...` (sum of MB/s and IOPS, worst p99).
 *
 * @module
 */
import { Runtime } from "@pluvio/pluvio";
import { finalize, init, MpiCommunicator, MpiReactor } from "@pluvio/pluvio/collective";
import { type AmMessage, Context, type Endpoint, type Worker } from "@pluvio/pluvio/ucx";
import { DmaFile, IoUringReactor } from "@pluvio/pluvio/uring";

const READ = 20, READ_DONE = 21;
const HEADER = 16;

function arg(name: string, fallback: number): number {
  const i = Deno.args.indexOf(`--${name}`);
  const v = Number(i >= 0 && i + 1 < Deno.args.length ? Deno.args[i + 1] : fallback);
  if (!Number.isFinite(v) || v <= 0) {
    console.error(`--${name} must be a positive number (got ${Deno.args[i + 1]})`);
    Deno.exit(2);
  }
  return v;
}

const sizeMiB = arg("size-mib", 64);
const bs = Math.round(arg("bs-kib", 128) * 1024);
const qd = Math.round(arg("qd", 8));
const seconds = arg("seconds", 5);
const timeoutS = arg("timeout-s", seconds + 120);
const total = Math.round(sizeMiB * (1 << 20));
if (bs % 4096 !== 0 || total % bs !== 0) {
  console.error("--bs-kib must be a multiple of 4 and --size-mib a multiple of the block size");
  Deno.exit(2);
}
const blocks = total / bs;

/** The per-rank salt of the file content (rank 0's is not 0, so zeros never verify). */
const salt = (rank: number) => Math.imul(rank + 1, 0x9e3779b9) >>> 0;

/** Fills `words` with the content of the file at byte `offset` of `rank`'s file. */
function fill(words: Uint32Array, offset: number, rank: number): void {
  const base = offset / 4, s = salt(rank);
  for (let k = 0; k < words.length; k++) words[k] = ((base + k) ^ s) >>> 0;
}

/** The first byte offset where `bytes` differs from `rank`'s file at `offset`, or -1. */
function mismatch(bytes: Uint8Array, offset: number, rank: number): number {
  const words = new Uint32Array(bytes.buffer, bytes.byteOffset, bytes.length >>> 2);
  const base = offset / 4, s = salt(rank);
  for (let k = 0; k < words.length; k++) {
    if (words[k] !== ((base + k) ^ s) >>> 0) return k * 4;
  }
  return -1;
}

function request(id: number, len: number, offset: number): Uint8Array {
  const b = new Uint8Array(HEADER);
  const v = new DataView(b.buffer);
  v.setUint32(0, id, true);
  v.setUint32(4, len, true);
  v.setFloat64(8, offset, true);
  return b;
}

/** Writes the deterministic content with `qd` fixed-buffer writes in flight. */
async function createFile(file: DmaFile, rank: number): Promise<void> {
  await file.fallocate(0, total);
  let next = 0;
  await Promise.all(Array.from({ length: Math.min(qd, blocks) }, async () => {
    using buf = await file.acquireBuffer();
    const words = new Uint32Array(buf.bytes.buffer, buf.bytes.byteOffset, bs / 4);
    while (next < blocks) {
      const off = next++ * bs;
      fill(words, off, rank);
      const n = await file.writeFixed(buf, off, { length: bs });
      if (n !== bs) throw new Error(`writing the file at ${off}: ${n} of ${bs} bytes`);
    }
  }));
  await file.fdatasync();
}

/** Serves READ requests until `stream` is closed; resolves when every reply went out. */
async function serve(worker: Worker, file: DmaFile): Promise<number> {
  const reads = worker.amStream(READ);
  const inflight = new Set<Promise<void>>();
  let served = 0;
  const one = async (m: AmMessage) => {
    const v = new DataView(m.header.buffer, m.header.byteOffset, m.header.byteLength);
    const id = v.getUint32(0, true), len = v.getUint32(4, true), offset = v.getFloat64(8, true);
    m.release();
    using buf = await file.acquireBuffer();
    let r: number;
    try {
      if (m.header.length !== HEADER || len > buf.size || offset + len > total) {
        throw Object.assign(new Error("bad request"), { errno: 22 });
      }
      r = await file.readFixed(buf, offset, { length: len });
    } catch (e) {
      r = -((e as { errno?: number }).errno ?? 5);
    }
    // The buffer returns to the pool only once UCX has sent it (rendezvous reads it).
    await m.reply(
      READ_DONE,
      new Int32Array([id, r]),
      r > 0 ? buf.bytes.subarray(0, r) : undefined,
    );
    served++;
  };
  const loop = (async () => {
    for await (const m of reads) {
      const p = one(m).catch((e) => console.error(`serving a read: ${e}`)).finally(() =>
        inflight.delete(p)
      );
      inflight.add(p);
    }
    await Promise.all(inflight);
  })();
  stopServing = () => reads.close();
  await loop;
  return served;
}
let stopServing = () => {};

interface ClientResult {
  reads: number;
  verified: number;
  bytes: number;
  seconds: number;
  latenciesMs: Float64Array;
}

/** Keeps `qd` random-offset reads of `peer`'s file in flight for `seconds`. */
async function client(worker: Worker, ep: Endpoint, peer: number): Promise<ClientResult> {
  const waiting = new Map<number, (m: AmMessage) => void>();
  const replies = worker.amStream(READ_DONE);
  const pump = (async () => {
    for await (const m of replies) {
      const id = new DataView(m.header.buffer, m.header.byteOffset).getInt32(0, true);
      const w = waiting.get(id);
      if (w) w(m);
      else m.release();
    }
  })().catch(() => {});
  let nextId = 0, reads = 0, verified = 0;
  const lat: number[] = [];
  let x = (Deno.pid * 2654435761) >>> 0 || 1;
  const random = () => {
    x ^= x << 13;
    x ^= x >>> 17;
    x ^= x << 5;
    x >>>= 0;
    return x % blocks;
  };
  const t0 = performance.now();
  const deadline = t0 + seconds * 1000;
  await Promise.all(Array.from({ length: qd }, async () => {
    const dst = new Uint8Array(bs);
    while (performance.now() < deadline) {
      const id = nextId++, offset = random() * bs;
      const start = performance.now();
      const reply = new Promise<AmMessage>((r) => waiting.set(id, r));
      await ep.amSend(READ, request(id, bs, offset), undefined, { needReply: true });
      const m = await reply;
      waiting.delete(id);
      const r = new DataView(m.header.buffer, m.header.byteOffset).getInt32(4, true);
      if (r !== bs) {
        m.release();
        throw new Error(`read of ${bs} B at ${offset} from rank ${peer} returned ${r}`);
      }
      const data = await m.recvData(dst);
      lat.push(performance.now() - start);
      reads++;
      const bad = data.length === bs ? mismatch(data, offset, peer) : 0;
      if (bad >= 0) {
        throw new Error(`rank ${peer}'s block at ${offset} came back wrong at byte ${bad}`);
      }
      verified++;
    }
  }));
  const secs = (performance.now() - t0) / 1000;
  replies.close();
  await pump;
  return {
    reads,
    verified,
    bytes: reads * bs,
    seconds: secs,
    latenciesMs: Float64Array.from(lat).sort(),
  };
}

function percentile(sorted: Float64Array, p: number): number {
  if (sorted.length === 0) return NaN;
  return sorted[Math.min(sorted.length - 1, Math.floor(p * sorted.length))];
}

// The whole run is bounded: a hung peer or collective must not hang mpirun forever.
const watchdog = setTimeout(() => {
  console.error(`mpi_example: no result after ${timeoutS} s, giving up`);
  Deno.exit(3);
}, timeoutS * 1000);

await init();
const mpi = new MpiReactor();
const uring = IoUringReactor.builder()
  .queueSize(Math.max(64, 2 ** Math.ceil(Math.log2(qd * 2))))
  .bufferSize(bs)
  .bufferCount(qd * 2)
  .build();
const runtime = new Runtime();
runtime.registerReactor("mpi", mpi);
runtime.registerReactor("io_uring", uring);
const dir = await Deno.makeTempDir({ dir: "/tmp", prefix: "pluvio_mpi_example_" });
let failed = false;

try {
  await runtime.run(async () => {
    const world = MpiCommunicator.world(mpi);
    const { rank, size } = world;
    const peer = (rank + 1) % size;
    using ctx = new Context();
    using worker = ctx.createWorker();

    // Exchange worker addresses: lengths first, then fixed-size padded buffers.
    const mine = worker.address();
    const lens = new Int32Array(size);
    await world.allgather(new Int32Array([mine.length]), lens, { timeout: 30_000 });
    const width = Math.max(...lens);
    const padded = new Uint8Array(width);
    padded.set(mine);
    const table = new Uint8Array(width * size);
    await world.allgather(padded, table, { timeout: 30_000 });

    await using file = await DmaFile.open(`${dir}/rank${rank}.dat`, {
      read: true,
      write: true,
      create: true,
    });
    await createFile(file, rank);
    const served = serve(worker, file);
    // Every file is written and every server listening before any client starts.
    await world.barrier({ timeout: 60_000 });

    const ep = worker.connectAddr(table.slice(peer * width, peer * width + lens[peer]));
    let res: ClientResult | null = null;
    let err: unknown = null;
    try {
      res = await client(worker, ep, peer);
    } catch (e) {
      err = e;
    }
    // Every client is done (so no request is left) before the servers stop.
    await world.barrier({ timeout: 60_000 });
    stopServing();
    const nServed = await served;

    const mbps = res ? res.bytes / 1e6 / res.seconds : 0;
    const iops = res ? res.reads / res.seconds : 0;
    const p50 = res ? percentile(res.latenciesMs, 0.5) : NaN;
    const p99 = res ? percentile(res.latenciesMs, 0.99) : NaN;
    if (res) {
      console.log(
        `rank ${rank}/${size}: read rank ${peer}'s file (${sizeMiB} MiB) bs ${bs / 1024} KiB ` +
          `qd ${qd} for ${res.seconds.toFixed(2)} s: verified ${res.verified}/${res.reads} ` +
          `reads, ${mbps.toFixed(1)} MB/s, ${iops.toFixed(0)} IOPS, ` +
          `p50 ${(p50 * 1000).toFixed(0)} us, p99 ${(p99 * 1000).toFixed(0)} us; ` +
          `served ${nServed}`,
      );
    } else {
      console.error(`rank ${rank}/${size}: client failed: ${err}`);
    }

    // [ok, reads, verified, MB/s, IOPS, p50, p99] of every rank, to rank 0.
    const stats = new Float64Array([
      res ? 1 : 0,
      res?.reads ?? 0,
      res?.verified ?? 0,
      mbps,
      iops,
      p50,
      p99,
    ]);
    const all = rank === 0 ? new Float64Array(stats.length * size) : null;
    await world.gather(stats, all, 0, { timeout: 30_000 });
    if (all) {
      const rows = Array.from({ length: size }, (_, i) => all.subarray(i * 7, i * 7 + 7));
      const ok = rows.filter((r) => r[0] === 1).length;
      const sum = (k: number) => rows.reduce((a, r) => a + r[k], 0);
      const worst = Math.max(...rows.map((r) => r[6]));
      const p50s = rows.map((r) => r[5]).sort((a, b) => a - b);
      console.log(
        `aggregate: ${ok}/${size} ranks ok, ${sum(2)}/${sum(1)} reads verified, ` +
          `${sum(3).toFixed(1)} MB/s, ${sum(4).toFixed(0)} IOPS, ` +
          `median p50 ${(p50s[Math.floor(size / 2)] * 1000).toFixed(0)} us, ` +
          `worst p99 ${(worst * 1000).toFixed(0)} us`,
      );
    }

    // Close our endpoint while every peer still drives its worker, then meet once more.
    await ep.close({ signal: AbortSignal.timeout(5_000) }).catch(() => ep.close({ force: true }));
    await world.barrier({ timeout: 30_000 });
    await file.close();
    world.close();
    if (err) throw err;
  });
} catch (e) {
  failed = true;
  console.error(`mpi_example failed: ${e instanceof Error ? e.stack : e}`);
} finally {
  await uring.close();
  mpi.close();
  runtime.close();
  await Deno.remove(dir, { recursive: true }).catch(() => {});
}
await finalize();
clearTimeout(watchdog);
if (failed) Deno.exit(1);
