/**
 * The client of `hold_test.ts`: sends Active Messages before the server has a stream
 * for them.
 *
 * Usage: `deno run -A tests/ucx/early_peer.ts <mode> [address]`
 * - `early`: reads "host:port" lines on stdin; for each, connects, at once sends 100
 *   8-byte messages, one of 64 KiB and one of 16 MiB as AM 11 (header: u32 sequence,
 *   payload: `pattern(n, seq)`), waits for AM 12 from the server, closes and prints
 *   "done".
 * - `overflow <host:port>`: sends 3 messages as AM 13 and 30 as AM 11 (sequence
 *   0..29), waits for AM 12, sends AM 11 with sequence 30..34, waits for AM 12, exits.
 *
 * @module
 */
import { Runtime } from "../../mod.ts";
import { Context, type Endpoint } from "../../lib/ucx/mod.ts";
import { pattern, u32 } from "./helpers.ts";

const [mode, addr] = Deno.args;

async function* lines(): AsyncGenerator<string> {
  let rest = "";
  for await (const chunk of Deno.stdin.readable.pipeThrough(new TextDecoderStream())) {
    rest += chunk;
    let i;
    while ((i = rest.indexOf("\n")) >= 0) {
      yield rest.slice(0, i);
      rest = rest.slice(i + 1);
    }
  }
}

function send(ep: Endpoint, id: number, from: number, to: number, n = 8): Promise<void>[] {
  const out: Promise<void>[] = [];
  for (let i = from; i < to; i++) out.push(ep.amSend(id, u32(i), pattern(n, i)));
  return out;
}

const rt = new Runtime();
await rt.run(async () => {
  using ctx = new Context();
  using w = ctx.createWorker();
  const ack = w.amStream(12);
  if (mode === "early") {
    for await (const line of lines()) {
      const ep = await w.connectSocket(line);
      const sends = send(ep, 11, 0, 100);
      sends.push(ep.amSend(11, u32(100), pattern(64 << 10, 100)));
      sends.push(ep.amSend(11, u32(101), pattern(16 << 20, 101)));
      await Promise.all(sends);
      await ack.recv();
      await ep.close();
      console.log("done");
    }
  } else if (mode === "overflow") {
    const ep = await w.connectSocket(addr);
    await Promise.all([...send(ep, 13, 0, 3), ...send(ep, 11, 0, 30)]);
    await ack.recv();
    await Promise.all(send(ep, 11, 30, 35));
    await ack.recv();
    await ep.close();
  } else throw new Error(`unknown mode ${mode}`);
});
rt.close();
