/**
 * A UCX peer process for the tests (spawned with `Deno.Command`).
 *
 * Usage: `deno run -A tests/ucx/peer.ts <mode> <parent address, base64>`
 *
 * It connects to the parent's worker, listens on 127.0.0.1:0, prints one JSON line
 * `{ "addr": base64 worker address, "port": listener port }`, then serves:
 * - AM 1 (echo): sends header and payload back as AM 2 (on the reply endpoint when the
 *   sender asked for one, else on the endpoint to the parent);
 * - AM 3 (count): counts messages, checking that the u32 sequence in the header runs
 *   0, 1, 2... and that each payload byte equals seq & 0xff; an AM 3 with an 8-byte
 *   header asks for the report, sent as AM 5 with header [count, errors] (u32);
 * - AM 7 (list count, for `amSendMany`): counts messages with a 1-byte header; when
 *   header byte 0 is 1, checks that the u32 at the start of each payload runs 0, 1,
 *   2... and that its last byte equals that sequence number & 0xff; an AM 7 with an
 *   8-byte header asks for the report, AM 5 [count, errors] (u32), and resets both;
 * - tags: every message received (any tag) goes back with tag + 1;
 * - AM 9: exit.
 * Mode `sink` only receives AM 1 headers (never the payload) and prints "got" for each:
 * the test kills it mid-transfer. Mode `blast` sends one 64 MiB AM 6 to the parent and
 * waits to be killed before the parent pulls the payload.
 *
 * @module
 */
import { Buffer } from "node:buffer";
import { Runtime } from "../../mod.ts";
import { type AmMessage, Context, type Endpoint } from "../../lib/ucx/mod.ts";
import { readU32 } from "./helpers.ts";

const [mode, parentB64] = Deno.args;
const rt = new Runtime();
await rt.run(async () => {
  using ctx = new Context();
  using worker = ctx.createWorker();
  const parent = worker.connectAddr(new Uint8Array(Buffer.from(parentB64, "base64")));
  using listener = worker.createListener("127.0.0.1:0");
  const done = Promise.withResolvers<void>();
  const back = (m: AmMessage): Endpoint => m.replyEndpoint ?? parent;

  if (mode === "blast") {
    // Sends one 64 MiB message (rendezvous: the payload stays here until pulled), then
    // waits to be killed.
    console.log(
      JSON.stringify({ addr: Buffer.from(worker.address()).toString("base64"), port: 0 }),
    );
    await parent.amSend(6, new Uint8Array(4), new Uint8Array(64 << 20)).catch(() => {});
    await new Promise(() => {});
  }

  if (mode === "sink") {
    const s = worker.amStream(1);
    console.log(
      JSON.stringify({ addr: Buffer.from(worker.address()).toString("base64"), port: 0 }),
    );
    for await (const m of s) console.log(`got ${m.dataLength}`);
    return;
  }

  (async () => {
    for await (const req of listener) await worker.accept(req);
  })().catch(done.reject);
  (async () => {
    for await (const m of worker.amStream(1)) {
      const data = await m.recvData();
      await back(m).amSend(2, m.header, data);
    }
  })().catch(done.reject);
  (async () => {
    let count = 0, errors = 0;
    for await (const m of worker.amStream(3)) {
      if (m.header.length === 8) {
        // The report request travels on the same stream, so it comes after every
        // message sent before it.
        await back(m).amSend(5, new Uint32Array([count, errors]));
        count = 0;
        errors = 0;
        continue;
      }
      const seq = new DataView(m.header.buffer, m.header.byteOffset).getUint32(0, true);
      const data = await m.recvData();
      if (seq !== count || (data.length > 0 && data[data.length - 1] !== (seq & 0xff))) errors++;
      count++;
    }
  })().catch(done.reject);
  (async () => {
    let count = 0, errors = 0;
    for await (const m of worker.amStream(7)) {
      if (m.header.length === 8) {
        await back(m).amSend(5, new Uint32Array([count, errors]));
        count = 0;
        errors = 0;
        continue;
      }
      const data = await m.recvData();
      if (m.header.length !== 1) errors++;
      else if (m.header[0] === 1) {
        const seq = data.length >= 4 ? readU32(data) : -1;
        if (seq !== count || data[data.length - 1] !== (seq & 0xff)) errors++;
      }
      count++;
    }
  })().catch(done.reject);
  (async () => {
    const buf = new Uint8Array(32 << 20);
    for (;;) {
      const r = await worker.tagRecv(0n, buf, { mask: 0n });
      await parent.tagSend(r.tag + 1n, r.data);
    }
  })().catch((e) => {
    if (!worker.closed) done.reject(e);
  });
  (async () => {
    await worker.amStream(9).recv();
    done.resolve();
  })().catch(done.reject);

  console.log(JSON.stringify({
    addr: Buffer.from(worker.address()).toString("base64"),
    port: listener.port,
  }));
  await done.promise;
});
rt.close();
Deno.exit(0);
