/**
 * The pluvio side of the UCX benchmark: spawns `pong.ts`, connects by worker address and
 * measures AM ping-pong latency and windowed AM bandwidth. Prints one JSON line:
 * `{ lat, latEvent: { [size]: one-way µs }, bw: { [size]: MiB/s } }` (medians over
 * rounds; `lat` with both sides busy-waiting up to `PLUVIO_BENCH_SPIN_US` (default 50) for
 * the next message, `latEvent` without: woken through the runtime's reactor).
 *
 * Usage: `deno run -A bench/ucx/pluvio_client.ts <sizes,comma> <rounds>` (UCX_* from env;
 * `PLUVIO_BENCH_EH=peer` connects with peer-failure handling, else without, like
 * `ucx_perftest` without `-e`).
 *
 * @module
 */
import { Buffer } from "node:buffer";
import { Runtime } from "../../mod.ts";
import { Context, type Endpoint, type Worker } from "../../lib/ucx/mod.ts";

const sizes = (Deno.args[0] ?? "8,4096,1048576").split(",").map(Number);
const rounds = Number(Deno.args[1] ?? 5);

function median(v: number[]): number {
  const s = [...v].sort((a, b) => a - b);
  return s[s.length >> 1];
}

/** Iterations per latency round, by size (about the same time per round). */
function latIters(size: number): number {
  return size >= 1 << 20 ? 300 : size >= 4096 ? 10_000 : 20_000;
}

/** Messages per bandwidth round, by size. */
function bwCount(size: number): number {
  return size >= 1 << 20 ? 1500 : size >= 4096 ? 100_000 : 200_000;
}

/** Microseconds each side busy-waits for the next ping/pong (`PLUVIO_BENCH_SPIN_US`, 50). */
const SPIN_US = Number(Deno.env.get("PLUVIO_BENCH_SPIN_US") ?? 50);

async function latency(w: Worker, ep: Endpoint, size: number, spinUs: number): Promise<number> {
  const s = w.amStream(2);
  const payload = new Uint8Array(size);
  // The header tells the pong side whether to busy-wait for the next ping.
  const header = new Uint8Array([spinUs > 0 ? 1 : 0]);
  const opts = { spinUs };
  let buf = new Uint8Array(size);
  const one = async () => {
    await ep.amSend(1, header, payload); // first: a spinning recv holds the thread
    const m = await s.recv(opts);
    if (m.isRendezvous) {
      if (buf.length < m.dataLength) buf = new Uint8Array(m.dataLength);
      await m.recvData(buf);
    }
  };
  const n = latIters(size);
  for (let i = 0; i < n / 10; i++) await one(); // warm-up
  const t0 = performance.now();
  for (let i = 0; i < n; i++) await one();
  return ((performance.now() - t0) * 1000) / n / 2;
}

async function bandwidth(w: Worker, ep: Endpoint, size: number, window = 32): Promise<number> {
  const done = w.amStream(5);
  const payload = new Uint8Array(size);
  const count = bwCount(size);
  const inflight: Promise<void>[] = [];
  const t0 = performance.now();
  for (let i = 0; i < count; i++) {
    inflight.push(ep.amSend(3, undefined, payload));
    if (inflight.length >= window) await inflight.shift();
  }
  await Promise.all(inflight);
  const end = done.recv();
  await ep.amSend(3, new Uint8Array(1)); // end of round: the pong side reports when all is in
  await end;
  const s = (performance.now() - t0) / 1000;
  return (count * size) / (1 << 20) / s;
}

const rt = new Runtime();
const out: {
  lat: Record<number, number>;
  latEvent: Record<number, number>;
  bw: Record<number, number>;
} = { lat: {}, latEvent: {}, bw: {} };
await rt.run(async () => {
  using ctx = new Context();
  using w = ctx.createWorker();
  // PLUVIO_BENCH_PONG_CPU pins the pong process (the caller pins this one), as the
  // bench pins ucx_perftest's server and client.
  const pongCpu = Deno.env.get("PLUVIO_BENCH_PONG_CPU");
  const pongArgs = [
    "run",
    "-A",
    new URL("./pong.ts", import.meta.url).pathname,
    Buffer.from(w.address()).toString("base64"),
  ];
  const child = new Deno.Command(pongCpu ? "taskset" : Deno.execPath(), {
    args: pongCpu ? ["-c", pongCpu, Deno.execPath(), ...pongArgs] : pongArgs,
    stdout: "piped",
    stdin: "null",
  }).spawn();
  const kill = setTimeout(() => child.kill("SIGKILL"), 240_000);
  try {
    const reader = child.stdout.pipeThrough(new TextDecoderStream()).getReader();
    const line = (await reader.read()).value ?? "";
    reader.releaseLock();
    const ep = w.connectAddr(new Uint8Array(Buffer.from(line.trim(), "base64")), {
      errorHandling: Deno.env.get("PLUVIO_BENCH_EH") === "peer" ? "peer" : "none",
    });
    await ep.flush();
    for (const size of sizes) {
      const l: number[] = [];
      const le: number[] = [];
      const b: number[] = [];
      for (let r = 0; r < rounds; r++) l.push(await latency(w, ep, size, SPIN_US));
      for (let r = 0; r < rounds; r++) le.push(await latency(w, ep, size, 0));
      for (let r = 0; r < rounds; r++) b.push(await bandwidth(w, ep, size));
      out.lat[size] = median(l);
      out.latEvent[size] = median(le);
      out.bw[size] = median(b);
    }
    await ep.amSend(9);
    await child.status;
  } finally {
    clearTimeout(kill);
  }
});
rt.close();
console.log(JSON.stringify(out));
