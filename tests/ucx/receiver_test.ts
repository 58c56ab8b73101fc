/**
 * AmReceiver (posted Active Message receives) across real processes: the echo peer of
 * tests/ucx/peer.ts sends every AM 1 back as AM 2, which this side receives into
 * posted buffers. Every test is bounded (peers are killed on failure or timeout).
 */
import assert from "node:assert/strict";
import { CancelledError, ClosedError, InvalidArgumentError, PeerError } from "../../lib/errors.ts";
import type { AmReceiver, Worker } from "../../lib/ucx/mod.ts";
import {
  deadline,
  pattern,
  readU32,
  stopPeer,
  u32,
  UCX_ENV,
  withPeer,
  withTwoWorkers,
} from "./helpers.ts";

for (const [k, v] of Object.entries(UCX_ENV)) Deno.env.set(k, v);

/** Progresses `w` (through another stream's spin) until `r` holds `n` messages. */
function waitHeld(w: Worker, r: AmReceiver, n: number): void {
  const idle = w.amStream(50);
  for (let spins = 0; r.held < n; spins++) {
    if (spins > 20_000) throw new Error(`receiver holds ${r.held} messages, expected ${n}`);
    idle.tryRecv({ spinUs: 1000 });
  }
  idle.close();
}

Deno.test("ucx: AmReceiver takes eager and rendezvous messages into posted buffers, in order", async () => {
  await withPeer("echo", async (w, peer) => {
    const ep = w.connectAddr(peer.addr);
    const r = w.amReceiver(2);
    assert.equal(w.amReceiver(2), r, "one receiver per id");
    assert.throws(() => w.amStream(2), InvalidArgumentError);
    // Posted before the messages come: header-only, small, 1 MiB rendezvous, 64 KiB.
    const sizes = [0, 100, 1 << 20, 64 << 10];
    const bufs = sizes.map(() => new Uint8Array(2 << 20));
    const hdrs = sizes.map(() => new Uint8Array(4));
    const got = bufs.map((b, i) => r.recvInto(b, { header: hdrs[i] }));
    assert.equal(r.pending, 4);
    for (const [i, n] of sizes.entries()) await ep.amSend(1, u32(i), pattern(n, i));
    for (const [i, n] of sizes.entries()) {
      const m = await deadline(got[i], 30_000, `posted receive ${i}`);
      assert.equal(m.id, 2);
      assert.equal(readU32(hdrs[i]), i);
      assert.equal(m.headerLength, 4);
      assert.equal(m.dataLength, n);
      assert.equal(m.header.buffer, hdrs[i].buffer, "header is a view of the posted header");
      assert.equal(m.data!.buffer, bufs[i].buffer, "data is a view of the posted buffer");
      assert.deepEqual(m.data, pattern(n, i));
      assert.equal(m.isRendezvous, false);
    }
    assert.equal(r.pending, 0);

    // Held: messages that came while nothing was posted wait for the next receives.
    const big = pattern(4 << 20, 7);
    const sends = [];
    for (let i = 0; i < 10; i++) {
      sends.push(ep.amSend(1, u32(i), i === 4 ? big : pattern(50 + i, i)));
    }
    // The peer echoes one message at a time and awaits each send: the echo of the
    // rendezvous message (4) completes only once pulled here, so 0..4 are held first.
    waitHeld(w, r, 5);
    for (let i = 0; i < 10; i++) {
      const data = new Uint8Array(4 << 20);
      const hb = new Uint8Array(4);
      const m = await deadline(r.recvInto(data, { header: hb }), 30_000, `held message ${i}`);
      assert.equal(readU32(hb), i);
      assert.deepEqual(m.data, i === 4 ? big : pattern(50 + i, i));
    }
    await Promise.all(sends);
    assert.equal(r.held, 0);

    // Many at once through a ring of 8 posted buffers: none lost, in order.
    const N = 2000;
    const slots = Array.from({ length: 8 }, () => ({
      buf: new Uint8Array(256 << 10),
      hdr: new Uint8Array(4),
    }));
    const posts = slots.map((s) => r.recvInto(s.buf, { header: s.hdr }));
    const sender = (async () => {
      for (let i = 0; i < N; i++) {
        // Every 100th is a rendezvous message.
        await ep.amSend(1, u32(i), pattern(i % 100 === 0 ? 200 << 10 : i % 300, i));
      }
    })();
    for (let i = 0; i < N; i++) {
      const k = i % 8;
      const m = await deadline(posts[k], 30_000, `message ${i}`);
      assert.equal(readU32(m.header), i);
      assert.deepEqual(m.data, pattern(i % 100 === 0 ? 200 << 10 : i % 300, i));
      if (i + 8 < N) posts[k] = r.recvInto(slots[k].buf, { header: slots[k].hdr });
    }
    await sender;
    await stopPeer(ep, peer);
  });
});

Deno.test("ucx: AmReceiver misfits, abort, close: typed errors and no message lost", async () => {
  await withPeer("echo", async (w, peer) => {
    const ep = w.connectAddr(peer.addr);
    const r = w.amReceiver(2);
    const hb = new Uint8Array(4);
    // Posted too small (payload, then header): each fails, the next receive gets it.
    const small = r.recvInto(new Uint8Array(10), { header: hb });
    const noHdr = r.recvInto(new Uint8Array(200));
    const fits = r.recvInto(new Uint8Array(200), { header: hb });
    await ep.amSend(1, u32(1), pattern(100, 1));
    await assert.rejects(
      small,
      (e) => e instanceof InvalidArgumentError && /100-byte/.test(e.message),
    );
    await assert.rejects(
      noHdr,
      (e) => e instanceof InvalidArgumentError && /4-byte header/.test(e.message),
    );
    const m = await deadline(fits, 10_000, "the message after two misfits");
    assert.equal(readU32(hb), 1);
    assert.deepEqual(m.data, pattern(100, 1));

    // A held message that does not fit fails the call and stays held.
    await ep.amSend(1, u32(2), pattern(300, 2));
    waitHeld(w, r, 1);
    await assert.rejects(r.recvInto(new Uint8Array(299), { header: hb }), InvalidArgumentError);
    assert.equal(r.held, 1);
    const kept = await r.recvInto(new Uint8Array(300), { header: hb });
    assert.equal(readU32(hb), 2);
    assert.deepEqual(kept.data, pattern(300, 2));

    // Aborted before any message: withdrawn, the next message goes to the next receive.
    const ac = new AbortController();
    const aborted = r.recvInto(new Uint8Array(64), { header: hb, signal: ac.signal });
    const next = r.recvInto(new Uint8Array(64), { header: hb });
    ac.abort();
    await assert.rejects(aborted, CancelledError);
    await ep.amSend(1, u32(3), pattern(64, 3));
    assert.deepEqual((await deadline(next, 10_000, "after an abort")).data, pattern(64, 3));
    await assert.rejects(
      r.recvInto(new Uint8Array(1), { signal: AbortSignal.abort() }),
      CancelledError,
    );

    // Close: posted receives reject, later ones too; the id can then get a stream.
    const left = r.recvInto(new Uint8Array(64), { header: hb });
    r.close();
    await assert.rejects(left, ClosedError);
    await assert.rejects(r.recvInto(new Uint8Array(64)), ClosedError);
    assert.equal(r.closed, true);
    const s = w.amStream(2);
    await ep.amSend(1, u32(4), pattern(8, 4));
    assert.deepEqual(
      (await deadline(s.recv(), 10_000, "stream after receiver")).data,
      pattern(8, 4),
    );
    assert.throws(() => w.amReceiver(2), InvalidArgumentError);
    assert.throws(() => w.amReceiver(70_000), InvalidArgumentError);
    await stopPeer(ep, peer);
  });
});

Deno.test("ucx: AmReceiver: sender killed before its held rendezvous payload is pulled", async () => {
  await withPeer("blast", async (w, peer) => {
    const r = w.amReceiver(6);
    w.connectAddr(peer.addr); // keeps the connection watched from this side too
    waitHeld(w, r, 1);
    peer.kill();
    await peer.status();
    const buf = new Uint8Array(64 << 20);
    await assert.rejects(
      deadline(r.recvInto(buf, { header: new Uint8Array(4) }), 20_000, "pull"),
      PeerError,
    );
    assert.equal(r.held, 0);
  });
});

Deno.test("ucx: AmReceiver messages keep the reply endpoint; a closed worker rejects receives", async () => {
  await withTwoWorkers(async (a, b) => {
    const ep = a.connectAddr(b.address());
    await ep.flush();
    const r = b.amReceiver(1);
    const answers = a.amStream(2);
    const buf = new Uint8Array(16);
    const hb = new Uint8Array(4);
    for (let i = 0; i < 20; i++) {
      const got = r.recvInto(buf, { header: hb });
      await ep.amSend(1, u32(i), pattern(8, i), { needReply: true });
      const m = await deadline(got, 10_000, "posted receive");
      assert.ok(m.replyEndpoint !== null);
      await m.reply(2, hb, m.data!);
      const back = await deadline(answers.recv(), 10_000, "reply");
      assert.equal(readU32(back.header), i);
      assert.deepEqual(back.data, pattern(8, i));
    }
    const pending = r.recvInto(buf);
    b.close();
    await assert.rejects(pending, ClosedError);
    assert.equal(r.closed, true);
    assert.equal(r.held, 0);
    await assert.rejects(r.recvInto(buf), ClosedError);
  });
});
