/**
 * One measured run of the io_uring benchmark, in its own process so its CPU time is its
 * own: `pluvio` (DmaFile + fixed buffers) or `deno` (node:fs positional reads/writes on
 * an O_DIRECT descriptor, N concurrent promises). Prints one JSON line.
 *
 * Args: --tool pluvio|deno --rw randread|randwrite|read|write --bs N --qd N
 *       --seconds S --file PATH --size BYTES [--spin-ms MS]
 *
 * @module
 */
import fs from "node:fs";
import process from "node:process";
import { Runtime } from "../../mod.ts";
import { allocAligned, DmaFile, IoUringReactor } from "../../lib/uring/mod.ts";

function arg(name: string, fallback?: string): string {
  const i = Deno.args.indexOf(`--${name}`);
  if (i >= 0 && i + 1 < Deno.args.length) return Deno.args[i + 1];
  if (fallback === undefined) throw new Error(`--${name} is required`);
  return fallback;
}

const tool = arg("tool");
const rw = arg("rw");
const bs = Number(arg("bs"));
const qd = Number(arg("qd"));
const seconds = Number(arg("seconds"));
const file = arg("file");
const size = Number(arg("size"));
const spinMs = Number(arg("spin-ms", "0"));
const isWrite = rw === "randwrite" || rw === "write";
const random = rw.startsWith("rand");
const nblocks = Math.floor(size / bs);

// xorshift32: cheap, deterministic per worker.
function rng(seed: number): () => number {
  let x = seed | 0 || 1;
  return () => {
    x ^= x << 13;
    x ^= x >>> 17;
    x ^= x << 5;
    return (x >>> 0) % nblocks;
  };
}

const lat = new Float64Array(4_000_000);
let nlat = 0;
let ios = 0;
let seq = 0;

type IoFn = (worker: number, offset: number) => Promise<number>;

async function drive(io: IoFn): Promise<{ elapsed: number; cpuMs: number }> {
  // Short warm-up so JIT and ring setup are out of the window.
  const warmEnd = performance.now() + 200;
  const runWorkers = (end: number, record: boolean) =>
    Promise.all(Array.from({ length: qd }, async (_, w) => {
      const next = rng(0x9e3779b1 + w * 7919);
      // One clock read per I/O (performance.now() costs ~0.1 µs here): the end of one
      // I/O is the start of the next (picking the offset in between takes nanoseconds).
      let t0 = performance.now();
      while (t0 < end) {
        const block = random ? next() : seq++ % nblocks;
        const n = await io(w, block * bs);
        if (n !== bs) throw new Error(`short ${rw}: ${n} of ${bs} at block ${block}`);
        const t1 = performance.now();
        if (record) {
          if (nlat < lat.length) lat[nlat++] = t1 - t0;
          ios++;
        }
        t0 = t1;
      }
    }));
  await runWorkers(warmEnd, false);
  const cpu0 = process.cpuUsage();
  const t0 = performance.now();
  await runWorkers(t0 + seconds * 1000, true);
  const elapsed = (performance.now() - t0) / 1000;
  const c = process.cpuUsage(cpu0);
  return { elapsed, cpuMs: (c.user + c.system) / 1000 };
}

let result: { elapsed: number; cpuMs: number };
if (tool === "pluvio") {
  const reactor = IoUringReactor.builder()
    .queueSize(Math.max(64, 2 ** Math.ceil(Math.log2(qd))))
    .bufferSize(bs)
    .bufferCount(qd)
    .waitCompleteTimeout(spinMs)
    .build();
  const runtime = new Runtime();
  runtime.registerReactor("io_uring", reactor);
  result = await runtime.run(async () => {
    await using f = await DmaFile.open(file, { write: isWrite });
    const bufs = await Promise.all(Array.from({ length: qd }, () => f.acquireBuffer()));
    for (const b of bufs) b.bytes.fill(0x5c);
    const r = await drive(
      isWrite ? (w, off) => f.writeFixed(bufs[w], off) : (w, off) => f.readFixed(bufs[w], off),
    );
    for (const b of bufs) b.release();
    return r;
  });
  if (Deno.env.get("PLUVIO_BENCH_STATS")) console.error(JSON.stringify(runtime.stats()));
  await reactor.close();
} else if (tool === "deno") {
  const flags = (isWrite ? fs.constants.O_RDWR : fs.constants.O_RDONLY) | fs.constants.O_DIRECT;
  const fd = fs.openSync(file, flags);
  const bufs = Array.from({ length: qd }, () => allocAligned(bs).fill(0x5c));
  const op = isWrite ? fs.write : fs.read;
  result = await drive((w, off) =>
    new Promise<number>((resolve, reject) =>
      // deno-lint-ignore no-explicit-any
      (op as any)(
        fd,
        bufs[w],
        0,
        bs,
        off,
        (e: Error | null, n: number) => e ? reject(e) : resolve(n),
      )
    )
  );
  fs.closeSync(fd);
} else {
  throw new Error(`unknown --tool ${tool}`);
}

const sample = lat.subarray(0, nlat).sort();
const mean = sample.reduce((a, b) => a + b, 0) / Math.max(1, nlat);
console.log(JSON.stringify({
  ios,
  seconds: result.elapsed,
  iops: ios / result.elapsed,
  mbps: (ios * bs) / result.elapsed / 1e6,
  latMeanUs: mean * 1000,
  latP99Us: sample[Math.min(nlat - 1, Math.floor(nlat * 0.99))] * 1000,
  cpuUsPerIo: (result.cpuMs * 1000) / Math.max(1, ios),
}));
