/**
 * A process of `lifecycle_test.ts`: runs finished UCX operations that were given
 * `AbortSignal.timeout(60_000)` (tag receive, stream receive, flush, rendezvous send and
 * pull, posted AM receive), closes everything and ends; it must exit long before the
 * signals' timers would fire.
 *
 * @module
 */
import { Runtime } from "../../mod.ts";
import { Context } from "../../lib/ucx/mod.ts";

const rt = new Runtime();
await rt.run(async () => {
  using ctx = new Context();
  using a = ctx.createWorker();
  using b = ctx.createWorker();
  const signal = AbortSignal.timeout(60_000);
  const ep = a.connectAddr(b.address());
  await ep.flush({ signal });
  const s = b.amStream(1);
  const got = s.recv({ signal });
  // A rendezvous send completes once the receiver has pulled the payload.
  const sent = ep.amSend(1, new Uint8Array(4), new Uint8Array(8 << 20), { signal });
  const m = await got;
  await m.recvData(undefined, { signal });
  await sent;
  const r = b.amReceiver(2);
  const posted = r.recvInto(new Uint8Array(16), { signal });
  await ep.amSend(2, undefined, new Uint8Array(16), { signal });
  await posted;
  const t = b.tagRecv(7n, new Uint8Array(64 << 10), { signal: AbortSignal.timeout(60_000) });
  await ep.tagSend(7n, new Uint8Array(64 << 10), { signal: AbortSignal.timeout(60_000) });
  await t;
  await ep.close({ signal });
});
rt.close();
console.log("done");
