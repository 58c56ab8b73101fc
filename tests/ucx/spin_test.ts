/**
 * Fast by default: the UCX reactor asks the executor for an adaptive spin exactly while
 * an operation is pending with a live endpoint, and the plain `for await` ping-pong
 * earns a budget (the spin finds the replies).
 */
import assert from "node:assert/strict";
import { UcxReactor } from "../../lib/ucx/mod.ts";
import { u32, withTwoWorkers } from "./helpers.ts";

Deno.test("ucx: the reactor wants a spin only while work is pending on a live endpoint", async () => {
  const r = UcxReactor.current();
  await withTwoWorkers(async (a, b) => {
    const s = b.amStream(1);
    // A receive pending, but no endpoint anywhere: nothing worth spinning for.
    const waiting = s.recv();
    assert.equal(r.wantsSpin(), false);
    const ep = a.connectAddr(b.address());
    assert.equal(r.wantsSpin(), true);
    await ep.amSend(1, u32(1));
    await waiting;
    // A listener waiting for connections is no reason to spin.
    const l = a.createListener("127.0.0.1:0");
    const next = l.next();
    next.catch(() => {});
    assert.equal(r.wantsSpin(), false);
    l.close();
    await ep.close();
    assert.equal(r.wantsSpin(), false);
  });
});

Deno.test("ucx: a plain for-await ping-pong earns the reactor a spin budget", async () => {
  const r = UcxReactor.current();
  const hits0 = r.spin.hits;
  await withTwoWorkers(async (a, b) => {
    const ab = a.connectAddr(b.address(), { errorHandling: "none" });
    const ba = b.connectAddr(a.address(), { errorHandling: "none" });
    const pings = b.amStream(1);
    const pongs = a.amStream(2);
    const echo = (async () => {
      for await (const m of pings) {
        if (m.header[0] === 1) break;
        await ba.amSend(2, m.header, await m.recvData());
      }
    })();
    const it = pongs[Symbol.asyncIterator]();
    for (let i = 0; i < 2000; i++) {
      await ab.amSend(1, new Uint8Array([0]), u32(i));
      const r = await it.next();
      assert.equal(r.done, false);
    }
    await ab.amSend(1, new Uint8Array([1]));
    await echo;
    await ab.close();
    await ba.close();
  });
  // The executor reported replies found while it waited for this reactor.
  assert.ok(r.spin.hits > hits0);
  assert.ok(r.spin.maxUs >= 0);
});
