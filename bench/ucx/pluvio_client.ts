/**
 * The pluvio side of the UCX benchmark: spawns `pong.ts`, connects by worker address,
 * then runs one measurement per command line read from stdin and prints one JSON line
 * each, so that `ucx_bench.ts` can alternate pluvio and `ucx_perftest` rounds (this
 * machine's shared-memory latency changes by 4× over minutes: only rounds taken side by
 * side compare).
 *
 * Commands:
 * - `lat <size> <mode> <iters>` → `{ "us": one-way µs }`: AM ping-pong, payload echoed.
 *   `sync`: both sides receive with `stream.tryRecvInto(buf, { header, spinUs })`
 *   (synchronous: an eager payload lands in `buf` during the spin, no promise but the
 *   send's), rendezvous payloads with `await message.recvData(buf)`; `spin`:
 *   `await stream.recv({ spinUs })`; `event`: `await stream.recv()` (woken through the
 *   runtime's reactor); `plain`: the code a newcomer writes, no options anywhere —
 *   `await ep.amSend(...)`, `for await (const m of stream)`, `await m.recvData(buf)`
 *   (the pong side: `await stream.recv()`); in these, payloads are received into a buffer with
 *   `await message.recvData(buf)`. Sends are awaited in every mode; rendezvous sends and pulls
 *   (1 MiB) spin like the receives (`spinUs` of `amSend` and `recvData`).
 * - `bw <size> <count> [many|each]` → `{ "mibs": MiB/s }`: AM sends with 32 in flight,
 *   `many` (default): one `endpoint.amSendMany` list (native code refills the window);
 *   `each`: an `amSend` per message (sends done at once are not awaited), received under 64 KiB synchronously with `tryRecvInto`, from
 *   64 KiB into buffers posted with `AmReceiver.recvInto` (see `pong.ts`), timed until the
 *   receiver confirms the last one.
 * - `cold` → `{ "us": mean one-way µs }`: the first 1 000 round trips of the `plain` mode in
 *   this fresh process (run it first: `PLUVIO_BENCH_COLD=1` skips the JIT warm-up).
 * - `quit`.
 *
 * Usage: `deno run -A bench/ucx/pluvio_client.ts` (UCX_* from the environment;
 * `PLUVIO_BENCH_EH=peer` connects with peer-failure handling, else without, like
 * `ucx_perftest` without `-e`; `PLUVIO_BENCH_PONG_CPU` pins the pong process, the caller
 * pins this one; `PLUVIO_BENCH_PONG_CMD` runs another pong executable, given the address as
 * its argument (`bench/ucx/sides.ts`); `PLUVIO_BENCH_SPIN_US`, default 50, is the spin of
 * `sync` and `spin`; `PLUVIO_BENCH_STATS=1` prints the runtime's counters per round trip of
 * each `lat` command to stderr).
 *
 * @module
 */
import { Buffer } from "node:buffer";
import { Runtime, type RuntimeStats } from "../../mod.ts";
import { allocAligned as aligned } from "../../lib/uring/mod.ts";

/**
 * `PLUVIO_BENCH_BUFFERS=ordinary`: the buffers are plain `new Uint8Array(n)` (detachable,
 * so pluvio stages them: `lib/ucx/staging.ts`) instead of `allocAligned` memory.
 */
const allocAligned = Deno.env.get("PLUVIO_BENCH_BUFFERS") === "ordinary"
  ? (n: number) => new Uint8Array(n)
  : aligned;
import { type AmMessage, Context, DONE, type Endpoint, type Worker } from "../../lib/ucx/mod.ts";

/**
 * The send and receive buffers of a size, allocated once per process like perftest's and
 * page-aligned like them (a 1 MiB copy between buffers of different alignment measured up
 * to 2.5x slower here). Once per process also matters for what a send reads: perftest never
 * writes its send buffer, so its pages are never faulted in and shared memory reads them
 * from the zero page; a fresh `allocAligned` is the same, but a new buffer per round is
 * often carved from memory malloc reused (real pages, zeroed by calloc), which read at
 * ~26 000 instead of ~34 000 MiB/s here and made the rounds swing between the two.
 */
const buffers = new Map<number, { send: Uint8Array; recv: Uint8Array }>();
function buffersFor(size: number) {
  let b = buffers.get(size);
  if (!b) buffers.set(size, b = { send: allocAligned(size), recv: allocAligned(size) });
  return b;
}

const SPIN_US = Number(Deno.env.get("PLUVIO_BENCH_SPIN_US") ?? 50);
/** Header byte 0 of a ping: how the pong side receives the next one. */
const MODES: Record<string, number> = { event: 0, spin: 1, sync: 2, plain: 0 };

async function latency(
  w: Worker,
  ep: Endpoint,
  size: number,
  mode: string,
  n: number,
): Promise<number> {
  const s = w.amStream(2);
  const payload = buffersFor(size).send;
  const header = new Uint8Array([MODES[mode]]);
  const opts = { spinUs: mode === "event" ? 0 : SPIN_US };
  let buf = buffersFor(size).recv;
  // The reply's payload lands in `buf` (one copy for eager, a pull for rendezvous).
  const pull = async (m: AmMessage) => {
    if (buf.length < m.dataLength) buf = allocAligned(m.dataLength);
    await m.recvData(buf, opts);
  };
  // Rendezvous sends (1 MiB) spin in the spinning modes, like the receives.
  const sendOpts = size > 8192 ? opts : undefined;
  // One loop per mode, no per-iteration function: an `await` between receiving the reply
  // and sending the next ping would sit on the measured path.
  const into = { header: new Uint8Array(1), spinUs: SPIN_US };
  const plain = async (k: number) => {
    // What the README's API looks like with no options: an iterator over the stream.
    const it = s[Symbol.asyncIterator]();
    for (let i = 0; i < k; i++) {
      await ep.amSend(1, header, payload);
      const r = await it.next();
      if (r.done) throw new Error("stream closed");
      if (buf.length < r.value.dataLength) buf = allocAligned(r.value.dataLength);
      await r.value.recvData(buf);
    }
  };
  const run = mode === "plain" ? plain : mode === "sync"
    ? async (k: number) => {
      for (let i = 0; i < k; i++) {
        // The send's await overlaps the flight of the ping.
        await ep.amSend(1, header, payload, sendOpts);
        // Eager replies land in `buf` (header in `into.header`) during the spin;
        // rendezvous ones are pulled into it.
        let m = s.tryRecvInto(buf, into);
        while (m === null) m = s.tryRecvInto(buf, into);
        if (m.isRendezvous) await pull(m);
        else if (m.dataLength !== size) throw new Error("short reply");
      }
    }
    : async (k: number) => {
      for (let i = 0; i < k; i++) {
        await ep.amSend(1, header, payload, sendOpts);
        await pull(await s.recv(opts));
      }
    };
  await run(Math.min(n, 2000)); // settles the pong side's mode
  const t0 = performance.now();
  await run(n);
  return ((performance.now() - t0) * 1000) / n / 2;
}

async function bandwidth(
  w: Worker,
  ep: Endpoint,
  size: number,
  count: number,
  how: string,
  window = 32,
) {
  const done = w.amStream(5);
  const payload = buffersFor(size).send;
  // Small messages go to the pong's synchronous (`tryRecvInto`) sink, larger ones to its
  // AmReceiver (posted buffers, pulls started in the UCX callback).
  const id = size < 65536 ? 6 : 3;
  const t0 = performance.now();
  if (how === "many") {
    // One list: native code keeps `window` sends in flight, no JS turn per message.
    await ep.amSendMany(id, Array(count).fill(payload), { window });
  } else {
    const inflight: Promise<void>[] = [];
    for (let i = 0; i < count; i++) {
      // Sends UCX finished at once (DONE) are not in flight: no await for them.
      const p = ep.amSend(id, undefined, payload);
      if (p === DONE) continue;
      inflight.push(p);
      if (inflight.length >= window) await inflight.shift();
    }
    await Promise.all(inflight);
  }
  const end = done.recv();
  await ep.amSend(id, new Uint8Array(1)); // end of round: the pong side reports when all is in
  await end;
  const s = (performance.now() - t0) / 1000;
  return (count * size) / (1 << 20) / s;
}

/**
 * `PLUVIO_BENCH_STATS=1`: after each `lat` command, prints to stderr the runtime's
 * counters per round trip (executor turns, spins, yields, parks, reactor polls).
 */
const STATS = Deno.env.get("PLUVIO_BENCH_STATS") === "1";
function printStats(a: RuntimeStats, b: RuntimeStats, n: number) {
  const trips = n + Math.min(n, 2000); // `latency` runs a settling round first
  const e = (k: keyof RuntimeStats["executor"]) =>
    ((b.executor[k] - a.executor[k]) / trips).toFixed(2);
  const ucx = (k: "polls" | "completions") =>
    (((b.reactors.ucx?.[k] ?? 0) - (a.reactors.ucx?.[k] ?? 0)) / trips).toFixed(2);
  console.error(
    `per round trip: turns ${e("turns")} spinTurns ${e("spinTurns")} spins ${e("spins")} ` +
      `misses ${e("spinMisses")} yields ${e("yields")} parks ${e("parks")} ` +
      `ucx polls ${ucx("polls")} completions ${ucx("completions")}`,
  );
}

const rt = new Runtime();
await rt.run(async () => {
  using ctx = new Context();
  using w = ctx.createWorker();
  const pongCpu = Deno.env.get("PLUVIO_BENCH_PONG_CPU");
  const addr = Buffer.from(w.address()).toString("base64");
  // PLUVIO_BENCH_PONG_CMD: another pong executable (bench/ucx/c/sink.c), given the address.
  const pongCmd = Deno.env.get("PLUVIO_BENCH_PONG_CMD");
  const cmd = pongCmd
    ? [pongCmd, addr]
    : [Deno.execPath(), "run", "-A", new URL("./pong.ts", import.meta.url).pathname, addr];
  const child = new Deno.Command(pongCpu ? "taskset" : cmd[0], {
    args: pongCpu ? ["-c", pongCpu, ...cmd] : cmd.slice(1),
    stdout: "piped",
    stdin: "null",
  }).spawn();
  const kill = setTimeout(() => child.kill("SIGKILL"), 1_800_000);
  try {
    const reader = child.stdout.pipeThrough(new TextDecoderStream()).getReader();
    const line = (await reader.read()).value ?? "";
    reader.releaseLock();
    const ep = w.connectAddr(new Uint8Array(Buffer.from(line.trim(), "base64")), {
      // "default": no option (the library's default endpoints).
      ...(Deno.env.get("PLUVIO_BENCH_EH") === "default"
        ? {}
        : { errorHandling: Deno.env.get("PLUVIO_BENCH_EH") === "peer" ? "peer" : "none" }),
    });
    await ep.flush();
    // The benchmark's buffers first, from memory nothing used before (see buffersFor).
    for (const size of [8, 4096, 1 << 20]) buffersFor(size);
    if (Deno.env.get("PLUVIO_BENCH_COLD") === "1") {
      // A fresh process: the first 1 000 plain round trips, nothing run before.
      const s = w.amStream(2);
      const payload = buffersFor(8).send;
      const buf = buffersFor(8).recv;
      const header = new Uint8Array([MODES.plain]);
      const it = s[Symbol.asyncIterator]();
      const t0 = performance.now();
      for (let i = 0; i < 1000; i++) {
        await ep.amSend(1, header, payload);
        const r = await it.next();
        await r.value!.recvData(buf);
      }
      const us = ((performance.now() - t0) * 1000) / 1000 / 2;
      console.log(JSON.stringify({ us }));
      await ep.amSend(9);
      await child.status;
      return;
    }
    // JIT warm-up of every path before the first timed round.
    for (const mode of Object.keys(MODES)) await latency(w, ep, 8, mode, 30_000);
    console.log(JSON.stringify({ ready: true }));
    const stdin = Deno.stdin.readable.pipeThrough(new TextDecoderStream()).getReader();
    let pending = "";
    for (;;) {
      const nl = pending.indexOf("\n");
      if (nl < 0) {
        const r = await stdin.read();
        if (r.done) break;
        pending += r.value;
        continue;
      }
      const [cmd, ...a] = pending.slice(0, nl).trim().split(/\s+/);
      pending = pending.slice(nl + 1);
      if (cmd === "quit") break;
      if (cmd === "lat") {
        const before = STATS ? rt.stats() : null;
        const us = await latency(w, ep, Number(a[0]), a[1], Number(a[2]));
        console.log(JSON.stringify({ us }));
        if (before !== null) printStats(before, rt.stats(), Number(a[2]));
      } else if (cmd === "bw") {
        const mibs = await bandwidth(w, ep, Number(a[0]), Number(a[1]), a[2] ?? "many");
        console.log(JSON.stringify({ mibs }));
      } else throw new Error(`unknown command ${cmd}`);
    }
    await ep.amSend(9);
    await child.status;
  } finally {
    clearTimeout(kill);
  }
});
rt.close();
