/**
 * The remote side of the UCX benchmark (spawned by `ucx_bench.ts`).
 *
 * Usage: `deno run -A bench/ucx/pong.ts <parent address, base64>`
 * Prints its worker address (base64) on one line, then:
 * - AM 1: sends the same header and payload straight back as AM 2 (ping-pong); header
 *   byte 1 asks it to busy-wait (`PLUVIO_BENCH_SPIN_US`, default 50) for the next ping;
 * - AM 3: a bandwidth message: pulls the payload (rendezvous) into a reusable buffer;
 * - AM 4: replies AM 5 once every AM 3 before it was received (a bandwidth round end);
 * - AM 9: exits.
 *
 * @module
 */
import { Buffer } from "node:buffer";
import { Runtime } from "../../mod.ts";
import { Context } from "../../lib/ucx/mod.ts";

const SPIN_US = Number(Deno.env.get("PLUVIO_BENCH_SPIN_US") ?? 50);
const rt = new Runtime();
await rt.run(async () => {
  using ctx = new Context();
  using worker = ctx.createWorker();
  const parent = worker.connectAddr(new Uint8Array(Buffer.from(Deno.args[0], "base64")), {
    errorHandling: Deno.env.get("PLUVIO_BENCH_EH") === "peer" ? "peer" : "none",
  });
  const ping = worker.amStream(1);
  const bw = worker.amStream(3);
  const exit = worker.amStream(9).recv();
  console.log(Buffer.from(worker.address()).toString("base64"));
  const pong = (async () => {
    let buf = new Uint8Array(1 << 20);
    let spinUs = 0; // the pinger's header says whether to busy-wait for the next ping
    for (;;) {
      let m;
      try {
        m = await ping.recv({ spinUs });
      } catch {
        return; // closed
      }
      spinUs = m.header[0] === 1 ? SPIN_US : 0;
      if (buf.length < m.dataLength) buf = new Uint8Array(m.dataLength);
      const d = m.data ?? await m.recvData(buf);
      await parent.amSend(2, m.header, d);
    }
  })();
  const sink = (async () => {
    const bufs = [new Uint8Array(1 << 20), new Uint8Array(1 << 20)];
    let k = 0;
    const pulls = new Set<Promise<unknown>>();
    for await (const m of bw) {
      if (m.header.length > 0) {
        // End of a round: wait for the pulls in progress, then report.
        await Promise.all(pulls);
        await parent.amSend(5);
        continue;
      }
      if (!m.isRendezvous) continue;
      let b = bufs[k++ & 1];
      if (b.length < m.dataLength) b = bufs[(k - 1) & 1] = new Uint8Array(m.dataLength);
      const p = m.recvData(b).finally(() => pulls.delete(p));
      pulls.add(p);
      if (pulls.size >= 2) await Promise.race(pulls);
    }
  })();
  await exit;
  ping.close();
  bw.close();
  await Promise.all([pong, sink]);
});
rt.close();
Deno.exit(0);
