/**
 * The remote side of the UCX benchmark (spawned by `ucx_bench.ts`).
 *
 * Usage: `deno run -A bench/ucx/pong.ts <parent address, base64>`
 * Prints its worker address (base64) on one line, then:
 * - AM 1: replies with the same header and a payload of the same size as AM 2 (ping-pong),
 *   sent from a buffer of its own, as `ucx_perftest` does (echoing the buffer the ping was
 *   just received into made each 1 MiB round trip carry 1 MiB of freshly written cache
 *   lines across cores, which some minutes on these VMs made 2.5× slower); header
 *   byte 0 says how to receive the next ping: 0 `await recv()`, 1 `await recv({ spinUs })`,
 *   2 `tryRecvInto(buf, { header, spinUs })` (`PLUVIO_BENCH_SPIN_US`, default 50);
 * - AM 6: a bandwidth message smaller than 64 KiB: taken synchronously by
 *   `AmStream.tryRecvInto` into one buffer (awaiting only when nothing is queued);
 * - AM 3: a bandwidth message of 64 KiB or more: received by an `AmReceiver` through
 *   `PLUVIO_BENCH_PULLS` (default 8) posted receives, reposted as they fill (rendezvous
 *   payloads are pulled from the UCX callback); all of them land in one buffer, as every
 *   message of `ucx_perftest`'s `ucp_am_bw` lands in its one receive buffer (payloads
 *   are not read here); with `PLUVIO_BENCH_SINK=stream`, by an `AmStream` whose messages
 *   are pulled into free buffers, up to that many at once;
 * - a bandwidth message with a header (AM 3 or 6) ends a round: the pong replies AM 5 once
 *   every message before it was received;
 * - AM 9: exits.
 *
 * @module
 */
import { Buffer } from "node:buffer";
import { Runtime } from "../../mod.ts";
// Page-aligned payload buffers, like perftest's: a 1 MiB copy between buffers of different
// alignment measured up to 2.5x slower here (malloc places large ArrayBuffers anywhere once
// its mmap threshold has grown).
import { allocAligned as aligned } from "../../lib/uring/mod.ts";

/**
 * `PLUVIO_BENCH_BUFFERS=ordinary`: the buffers are plain `new Uint8Array(n)` (detachable,
 * so pluvio stages them: `lib/ucx/staging.ts`) instead of `allocAligned` memory.
 */
const allocAligned = Deno.env.get("PLUVIO_BENCH_BUFFERS") === "ordinary"
  ? (n: number) => new Uint8Array(n)
  : aligned;
import { type AmMessage, type AmReceiver, type AmStream, Context } from "../../lib/ucx/mod.ts";
import { ClosedError } from "../../lib/errors.ts";

const SPIN_US = Number(Deno.env.get("PLUVIO_BENCH_SPIN_US") ?? 50);
const PULLS = Number(Deno.env.get("PLUVIO_BENCH_PULLS") ?? 8);
/** How bandwidth messages are received: `receiver` (posted receives) or `stream`. */
const SINK = Deno.env.get("PLUVIO_BENCH_SINK") ?? "receiver";
const rt = new Runtime();
await rt.run(async () => {
  using ctx = new Context();
  using worker = ctx.createWorker();
  const parent = worker.connectAddr(new Uint8Array(Buffer.from(Deno.args[0], "base64")), {
    // "default": no option (the library's default endpoints).
    ...(Deno.env.get("PLUVIO_BENCH_EH") === "default"
      ? {}
      : { errorHandling: Deno.env.get("PLUVIO_BENCH_EH") === "peer" ? "peer" : "none" }),
  });
  const ping = worker.amStream(1);
  const bw = SINK === "stream" ? worker.amStream(3) : worker.amReceiver(3);
  const small = worker.amStream(6);
  const exit = worker.amStream(9).recv();
  console.log(Buffer.from(worker.address()).toString("base64"));
  const pong = (async () => {
    let buf = allocAligned(1 << 20);
    // Replies are sent from `out`, pings received into `buf` (perftest's send and receive
    // buffers).
    let out = allocAligned(1 << 20);
    let mode = 0; // the pinger's header byte 0: how to receive the next ping
    const spin = { spinUs: SPIN_US };
    const hbuf = new Uint8Array(1);
    const into = { header: hbuf, spinUs: SPIN_US };
    // The view of `out` to send back, by length (no view per message).
    let reply = out.subarray(0, 0);
    for (;;) {
      let m: AmMessage | null = null;
      try {
        if (mode === 2) {
          // tryRecvInto spins with the header and payload landing in hbuf and buf; after
          // a whole spin without a ping, wait through the runtime.
          m = ping.tryRecvInto(buf, into) ?? ping.tryRecvInto(buf, into);
          if (m !== null) {
            mode = hbuf[0];
            if (m.isRendezvous) await m.recvData(buf, spin);
            if (reply.length !== m.dataLength) reply = out.subarray(0, m.dataLength);
            await parent.amSend(2, hbuf, reply, m.isRendezvous ? spin : undefined);
            continue;
          }
          m = await ping.recv();
        } else m = await ping.recv(mode === 1 ? spin : undefined);
      } catch (e) {
        if (e instanceof ClosedError) return;
        throw e;
      }
      mode = m.header[0];
      if (buf.length < m.dataLength) {
        buf = allocAligned(m.dataLength);
        out = allocAligned(m.dataLength);
      }
      // Rendezvous payloads (and their sends) spin in modes 1 and 2 like the receives.
      const o = mode === 0 || !m.isRendezvous ? undefined : spin;
      // Mode 2 reads a small eager payload synchronously (no promise); else one copy into
      // buf (eager) or a pull (rendezvous).
      if (mode !== 2 || m.dataLength > 64) await m.recvData(buf, o);
      else if (m.data === null) throw new Error("eager ping without its payload");
      if (reply.length !== m.dataLength) reply = out.subarray(0, m.dataLength);
      await parent.amSend(2, m.header, reply, o);
    }
  })();
  const sink = SINK === "stream" ? streamSink() : receiverSink();
  const smallSink = syncSink();
  await exit;
  ping.close();
  bw.close();
  small.close();
  await Promise.all([pong, sink, smallSink]);

  /** Bandwidth with an AmReceiver: PULLS posted receives, reposted as they fill. */
  async function receiverSink() {
    const r = bw as AmReceiver;
    // Receives still posted reject with ClosedError at the end: marked handled here,
    // awaited in the loop.
    const post = (buf: Uint8Array, header: Uint8Array) => {
      const p = r.recvInto(buf, { header });
      p.catch(() => {});
      return p;
    };
    // One landing buffer for every posted receive, like perftest's receiver. Eight
    // buffers (8 MiB, eight times this core's L2) measured 0-10 % slower over TCP in
    // side-by-side rounds of 3000 x 1 MiB (1 % in the VM's slow TCP mode).
    const landing = allocAligned(1 << 20);
    const slots = Array.from({ length: PULLS }, () => {
      const hdr = new Uint8Array(1);
      return { hdr, p: post(landing, hdr) };
    });
    // Completions are awaited in posting order (= arrival order): a round's end marker
    // is handled after every message before it is in.
    for (let i = 0;; i = (i + 1) % PULLS) {
      const s = slots[i];
      let m: AmMessage;
      try {
        m = await s.p;
      } catch (e) {
        if (e instanceof ClosedError) return;
        throw e;
      }
      s.p = post(landing, s.hdr);
      if (m.headerLength > 0) await parent.amSend(5);
    }
  }

  /**
   * Bandwidth of small messages (AM 6) with `tryRecvInto`: each message lands in `buf`
   * synchronously, no promise per message; a promise is awaited only when none is queued.
   */
  async function syncSink() {
    const s = small;
    const buf = allocAligned(1 << 20);
    const hdr = new Uint8Array(1);
    const into = { header: hdr };
    for (;;) {
      let m = s.tryRecvInto(buf, into);
      if (m === null) {
        try {
          m = await s.recv();
        } catch (e) {
          if (e instanceof ClosedError) return;
          throw e;
        }
      }
      if (m.isRendezvous) await m.recvData(buf);
      if (m.headerLength > 0) await parent.amSend(5);
    }
  }

  /** Bandwidth with an AmStream: each message pulled into a free buffer, PULLS at once. */
  async function streamSink() {
    // Up to PULLS payloads are pulled at once, each into a buffer of its own.
    const free = Array.from({ length: PULLS }, () => allocAligned(1 << 20));
    const pulls = new Set<Promise<unknown>>();
    for await (const m of bw as AmStream) {
      if (m.header.length > 0) {
        // End of a round: wait for the pulls in progress, then report.
        await Promise.all(pulls);
        await parent.amSend(5);
        continue;
      }
      if (!m.isRendezvous) continue;
      while (free.length === 0) await Promise.race(pulls);
      let b = free.pop()!;
      if (b.length < m.dataLength) b = allocAligned(m.dataLength);
      const p = m.recvData(b).finally(() => {
        pulls.delete(p);
        free.push(b);
      });
      pulls.add(p);
    }
  }
});
rt.close();
Deno.exit(0);
