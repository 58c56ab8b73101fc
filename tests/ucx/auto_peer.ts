/**
 * A UCX process for the `errorHandling: "auto"` tests (spawned with `Deno.Command`).
 *
 * `deno run -A tests/ucx/auto_peer.ts server [listen address] [accept options as JSON]`
 * listens (default 127.0.0.1:0), prints one JSON line `{ "port": n }`, accepts one
 * connection with the options (default none: `"auto"`) and serves it:
 * - AM 1: sent back as AM 2 (header and payload) on the accepted endpoint;
 * - AM 3: answered with AM 3 whose header is the endpoint's `peerWatch` (UTF-8);
 * - AM 8: exits at once with status 3 (a crash, as far as the peer can tell);
 * - AM 9: closes the endpoint gracefully and exits with status 0;
 * - AM 10: the same 300 ms later.
 *
 * `deno run -A tests/ucx/auto_peer.ts client ADDRESS` connects with the default options,
 * echoes one 64 KiB message through the server, prints `CLIENT <its peerWatch> <the
 * server's peerWatch>`, and ends the server with AM 9.
 *
 * @module
 */
import { Runtime } from "../../mod.ts";
import { Context } from "../../lib/ucx/mod.ts";

const [role, a1, a2] = Deno.args;
const text = new TextDecoder();

await new Runtime().run(async () => {
  using ctx = new Context();
  using worker = ctx.createWorker();
  if (role === "client") {
    const ep = await worker.connectSocket(a1);
    const back = worker.amStream(2);
    const ask = worker.amStream(3);
    const data = new Uint8Array(65536).map((_, i) => i * 7);
    await ep.amSend(1, new Uint8Array([1]), data);
    const got = await (await back.recv()).recvData();
    if (got.length !== data.length || got.some((b, i) => b !== data[i])) {
      throw new Error("echo differs");
    }
    await ep.amSend(3);
    const theirs = text.decode((await ask.recv()).header);
    console.log(`CLIENT ${ep.peerWatch} ${theirs}`);
    await ep.amSend(9);
    await ep.close();
    return;
  }
  using listener = worker.createListener(a1 ?? "127.0.0.1:0");
  console.log(JSON.stringify({ port: listener.port }));
  const ep = await worker.accept(await listener.next(), a2 ? JSON.parse(a2) : {});
  const echo = worker.amStream(1);
  const ask = worker.amStream(3);
  const die = worker.amStream(8);
  const bye = worker.amStream(9);
  (async () => {
    for await (const _ of ask) await ep.amSend(3, new TextEncoder().encode(ep.peerWatch));
  })();
  die.recv().then(() => Deno.exit(3));
  const close = async () => {
    await ep.close();
    Deno.exit(0);
  };
  bye.recv().then(close);
  worker.amStream(10).recv().then(() => setTimeout(close, 300));
  for await (const m of echo) await ep.amSend(2, m.header, await m.recvData());
});
