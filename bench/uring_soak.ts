/**
 * Soak of the io_uring backend: a million operations through the plain API (readFixed,
 * writeFixed, read into allocAligned memory, read into an ordinary buffer through the
 * bounce path, cancellations, a file opened and closed every 10 000 operations), with
 * the process's RSS and open fds sampled every 100 000 operations and printed. Exits 1
 * if the fd count grew or RSS grew by more than half after the first sample.
 *
 * Usage: deno run -A bench/uring_soak.ts [--ops 1000000] [--qd 32] [--backend io_uring|threads]
 *
 * @module
 */
import { Runtime } from "../mod.ts";
import { CancelledError } from "../lib/errors.ts";
import { type Backend, DmaFile, IoUringReactor } from "../lib/uring/mod.ts";

function arg(name: string, fallback: string): string {
  const i = Deno.args.indexOf(`--${name}`);
  return i >= 0 && i + 1 < Deno.args.length ? Deno.args[i + 1] : fallback;
}

const total = Number(arg("ops", "1000000"));
const qd = Number(arg("qd", "32"));
const backend = arg("backend", "io_uring") as Backend;
const blocks = 4096; // 16 MiB file of 4 KiB blocks
const every = 100_000;

function rssKiB(): number {
  const m = /VmRSS:\s+(\d+)/.exec(Deno.readTextFileSync("/proc/self/status"));
  return m ? Number(m[1]) : 0;
}

function fds(): number {
  let n = 0;
  for (const _ of Deno.readDirSync("/proc/self/fd")) n++;
  return n;
}

const dir = await Deno.makeTempDir({ dir: "/tmp", prefix: "pluvio_soak_" });
const path = `${dir}/data`;
await Deno.writeFile(path, new Uint8Array(blocks * 4096).fill(0x11));

const reactor = IoUringReactor.builder().backend(backend).bufferSize(4096).bufferCount(qd)
  .build();
const runtime = new Runtime();
runtime.registerReactor("io_uring", reactor);
const samples: { ops: number; rssKiB: number; fds: number; seconds: number }[] = [];
const t0 = performance.now();
let done = 0;
let nextSample = every;
/** Workers between opening and having closed their extra file. */
let opening = 0;
try {
  await runtime.run(async () => {
    await using f = await DmaFile.open(path, { write: true });
    await Promise.all(Array.from({ length: qd }, async (_, w) => {
      using fb = await f.acquireBuffer();
      const aligned = f.alloc(4096);
      let x = 0x9e3779b1 ^ (w * 7919);
      while (done < total) {
        x ^= x << 13;
        x ^= x >>> 17;
        x ^= x << 5;
        const off = ((x >>> 0) % blocks) * 4096;
        const kind = (x >>> 0) % 16;
        if (kind < 10) await f.readFixed(fb, off);
        else if (kind < 12) await f.writeFixed(fb, off);
        else if (kind < 14) await f.read(aligned, off);
        else if (kind < 15) await f.read(new Uint8Array(4096), off); // bounce path
        else {
          const a = new AbortController();
          const p = f.readFixed(fb, off, { signal: a.signal });
          a.abort();
          await p.catch((e) => {
            if (!(e instanceof CancelledError)) throw e;
          });
        }
        done++;
        if (done % 10_000 === 0) {
          opening++;
          const g = await DmaFile.open(path);
          await g.close();
          opening--;
        }
        // Not while another worker's open/close is in progress: its fd would count.
        if (done >= nextSample && opening === 0) {
          nextSample += every;
          samples.push({
            ops: done,
            rssKiB: rssKiB(),
            fds: fds(),
            seconds: (performance.now() - t0) / 1000,
          });
          console.log(
            `${String(done).padStart(8)} ops  RSS ${(rssKiB() / 1024).toFixed(1)} MiB  ` +
              `fds ${fds()}  ${((performance.now() - t0) / 1000).toFixed(1)} s`,
          );
        }
      }
    }));
  });
} finally {
  await reactor.close();
  runtime.close();
  await Deno.remove(dir, { recursive: true });
}

const first = samples[0];
const last = samples[samples.length - 1];
const rssGrowth = last.rssKiB / first.rssKiB;
const fdGrowth = last.fds - first.fds;
console.log(
  `soak ${backend}: ${done} ops in ${last.seconds.toFixed(1)} s; RSS ${
    (first.rssKiB / 1024).toFixed(1)
  } -> ${(last.rssKiB / 1024).toFixed(1)} MiB (x${
    rssGrowth.toFixed(2)
  }); fds ${first.fds} -> ${last.fds}`,
);
if (fdGrowth > 0 || rssGrowth > 1.5) {
  console.log("NOT FLAT");
  Deno.exit(1);
}
