/**
 * UCX backend tests across real processes: a second `deno` (tests/ucx/peer.ts) is the
 * remote side. Every test is bounded (peers are killed on failure or timeout).
 */
import assert from "node:assert/strict";
import { Runtime } from "../../mod.ts";
import { ClosedError, InvalidArgumentError, PeerError } from "../../lib/errors.ts";
import { type AmMessage, DONE, UcxReactor, type Worker } from "../../lib/ucx/mod.ts";
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

async function echo(
  w: Worker,
  ep: ReturnType<Worker["connectAddr"]>,
  hdr: Uint8Array,
  data: Uint8Array,
  proto?: "eager" | "rndv",
) {
  const s = w.amStream(2);
  const got = s.recv();
  await ep.amSend(1, hdr, data, { needReply: true, proto });
  const m = await got;
  return { m, data: await m.recvData() };
}

Deno.test("ucx: AM round trip, small and 16 MiB rendezvous, header-only and data-only", async () => {
  await withPeer("echo", async (w, peer) => {
    const ep = w.connectAddr(peer.addr);
    // small
    let r = await echo(w, ep, u32(7, 8), pattern(100, 1));
    assert.deepEqual(r.m.header, u32(7, 8));
    assert.equal(r.m.dataLength, 100);
    assert.deepEqual(r.data, pattern(100, 1));
    // large, rendezvous
    const big = pattern(16 << 20, 3);
    r = await echo(w, ep, u32(1), big);
    assert.equal(r.m.dataLength, big.length);
    assert.ok(
      r.data.length === big.length && r.data.every((v, i) => v === big[i]),
      "16 MiB intact",
    );
    // header only
    r = await echo(w, ep, u32(0xdeadbeef), new Uint8Array(0));
    assert.equal(readU32(r.m.header), 0xdeadbeef);
    assert.equal(r.m.dataLength, 0);
    assert.equal(r.data.length, 0);
    // data only, into a caller buffer
    const s = w.amStream(2);
    const got = s.recv();
    await ep.amSend(1, undefined, pattern(5000, 9), { needReply: true });
    const m: AmMessage = await got;
    assert.equal(m.header.length, 0);
    const buf = new Uint8Array(8000);
    const view = await m.recvData(buf);
    assert.equal(view.buffer, buf.buffer);
    assert.deepEqual(view, pattern(5000, 9));
    // forced rendezvous of a small payload
    r = await echo(w, ep, u32(2), pattern(64, 4), "rndv");
    assert.deepEqual(r.data, pattern(64, 4));
    await stopPeer(ep, peer);
  });
});

Deno.test("ucx: 10 000 messages, none lost, in order", async () => {
  await withPeer("echo", async (w, peer) => {
    const ep = w.connectAddr(peer.addr);
    const N = 10_000;
    const window: Promise<void>[] = [];
    for (let i = 0; i < N; i++) {
      const data = new Uint8Array(1 + (i % 300)).fill(i & 0xff);
      window.push(ep.amSend(3, u32(i), data));
      if (window.length === 64) await Promise.all(window.splice(0));
    }
    await Promise.all(window);
    const report = w.amStream(5).recv();
    await ep.amSend(3, u32(N, 1), undefined, { needReply: true });
    const m = await report;
    assert.equal(readU32(m.header, 0), N, "count");
    assert.equal(readU32(m.header, 1), 0, "errors (out of order or corrupted)");
    await ep.amSend(9);
  });
});

Deno.test("ucx: listener connect (port 0) and several endpoints at once", async () => {
  await withPeer("echo", async (w, peer) => {
    // The peer listens: three socket endpoints plus one by address, used concurrently.
    const eps = await Promise.all([1, 2, 3].map(() => w.connectSocket(`127.0.0.1:${peer.port}`)));
    eps.push(w.connectAddr(peer.addr));
    const s = w.amStream(2);
    const seen = new Set<number>();
    const got = (async () => {
      for (let i = 0; i < eps.length * 10; i++) seen.add(readU32((await s.recv()).header));
    })();
    await Promise.all(
      eps.flatMap((ep, e) =>
        Array.from(
          { length: 10 },
          (_, j) => ep.amSend(1, u32(e * 100 + j), u32(j), { needReply: true }),
        )
      ),
    );
    await got;
    assert.equal(seen.size, eps.length * 10);
    for (const ep of eps) await ep.close();
    await w.connectAddr(peer.addr).amSend(9);
  });
});

Deno.test("ucx: listener on this side, peer accepted; unreachable listener fails", async () => {
  await withTwoWorkers(async (a, b) => {
    using l = b.createListener("127.0.0.1:0");
    assert.match(l.address, /^127\.0\.0\.1:\d+$/);
    assert.ok(l.port > 0);
    const [client, server] = await Promise.all([
      a.connectSocket(l.address),
      l.next().then((req) => {
        assert.match(req.clientAddress, /^127\.0\.0\.1:\d+$/);
        return b.accept(req);
      }),
    ]);
    const s = a.amStream(11);
    const got = s.recv();
    await server.amSend(11, u32(5));
    assert.equal(readU32((await got).header), 5);
    await client.close();
    await server.close({ force: true });
    // Nobody listens on the port any more: connecting fails with a PeerError, no hang.
    const port = l.port;
    l.close();
    await assert.rejects(
      deadline(a.connectSocket(`127.0.0.1:${port}`), 15_000, "connect"),
      PeerError,
    );
    assert.throws(() => a.createListener("not-an-address"), InvalidArgumentError);
  });
});

Deno.test("ucx: tag send/recv with masks, pre-posted receive, truncation, cancel", async () => {
  await withPeer("echo", async (w, peer) => {
    const ep = w.connectAddr(peer.addr);
    // Pre-post: the receive is waiting before the data is sent; the peer sends tag+1.
    const buf = new Uint8Array(1 << 20);
    const recv = w.tagRecv(0x1234_0000_0001n, buf, { mask: 0xffff_0000_ffffn });
    const other = new Uint8Array(64);
    const recvOther = w.tagRecv(0x9999n, other); // exact match only: must not take it
    await deadline(ep.tagSend(0x1234_5678_0000n, pattern(777_777, 5)), 20_000, "tagSend 777777");
    const r = await deadline(recv, 20_000, "tagRecv of the echo");
    assert.equal(r.tag, 0x1234_5678_0001n);
    assert.equal(r.length, 777_777);
    assert.deepEqual(r.data, pattern(777_777, 5));
    assert.equal(r.data.buffer, buf.buffer);
    await deadline(ep.tagSend(0x9998n, u32(1, 2, 3)), 20_000, "tagSend 12 B");
    assert.deepEqual((await deadline(recvOther, 20_000, "exact tagRecv")).data, u32(1, 2, 3));
    // A receive posted after its message arrived (UCX completes it at once): length and
    // sender tag are still right. A pending unrelated receive keeps the worker
    // progressing meanwhile, so the echo lands in UCX's unexpected queue first.
    const holdAbort = new AbortController();
    const hold = w.tagRecv(0xfff0n, new Uint8Array(8), { signal: holdAbort.signal });
    await ep.tagSend(0x7770n, pattern(12, 3));
    await new Promise((r) => setTimeout(r, 200));
    const late = await deadline(w.tagRecv(0x7771n, new Uint8Array(64)), 20_000, "late tagRecv");
    assert.equal(late.tag, 0x7771n);
    assert.equal(late.length, 12);
    assert.deepEqual(late.data, pattern(12, 3));
    holdAbort.abort();
    await assert.rejects(hold, { code: "ECANCELED" });
    // Too small a buffer: EMSGSIZE-style error, not silent truncation.
    const small = w.tagRecv(0x50n, new Uint8Array(4));
    await ep.tagSend(0x4fn, new Uint8Array(100));
    await assert.rejects(small, (e: Error) => /truncat|EMSGSIZE/i.test(e.message));
    // A receive nobody matches is cancelled by its signal.
    const ac = new AbortController();
    const never = w.tagRecv(0xabcdefn, new Uint8Array(8), { signal: ac.signal });
    ac.abort();
    await assert.rejects(never, { code: "ECANCELED" });
    // UCX reports the cancelled receive back, releasing the buffer it held.
    await deadline(
      (async () => {
        while (w.inflight > 0) await new Promise((r) => setTimeout(r, 1));
      })(),
      5_000,
      "the cancelled receive is returned by UCX",
    );
    await ep.amSend(9);
  });
});

Deno.test("ucx: peer killed mid-transfer: sender and receiver get PeerError, no hang", async () => {
  await withPeer("sink", async (w, peer) => {
    const ep = w.connectAddr(peer.addr);
    const big = new Uint8Array(64 << 20);
    // The sink takes headers but never pulls rendezvous payloads: these sends stay in
    // flight until the peer dies.
    const sends = [ep.amSend(1, u32(1), big), ep.amSend(1, u32(2), big)];
    const first = await deadline(peer.lines.next(), 15_000, "sink got a header");
    assert.match(String(first.value), /^got \d+/);
    const t0 = performance.now();
    peer.kill();
    for (const s of sends) {
      await assert.rejects(deadline(s, 20_000, "send to a dead peer"), PeerError);
    }
    const took = performance.now() - t0;
    assert.ok(ep.error instanceof PeerError, "endpoint reports its failure");
    // Later operations fail at once with the same kind of error.
    await assert.rejects(ep.amSend(1, u32(3)), PeerError);
    await assert.rejects(ep.tagSend(1n, u32(3)), PeerError);
    console.log(`  dead peer detected after ${took.toFixed(0)} ms`);
    await ep.close(); // closing a failed endpoint works (forced)
  });
});

Deno.test("ucx: sender killed before its rendezvous payload is pulled: recvData fails", async () => {
  await withPeer("blast", async (w, peer) => {
    const s = w.amStream(6);
    w.connectAddr(peer.addr); // keeps the connection watched from this side too
    const m = await deadline(s.recv(), 20_000, "header of the 64 MiB message");
    assert.ok(m.isRendezvous);
    assert.equal(m.dataLength, 64 << 20);
    peer.kill();
    await peer.status();
    await assert.rejects(deadline(m.recvData(), 20_000, "pulling from a dead peer"), PeerError);
  });
});

Deno.test("ucx: closed endpoint, closed worker and garbage addresses give typed errors", async () => {
  await withTwoWorkers(async (a, b) => {
    const s = b.amStream(3);
    const ep = a.connectAddr(b.address());
    await ep.amSend(3, u32(1));
    await s.recv();
    await ep.close();
    await assert.rejects(ep.amSend(3, u32(2)), ClosedError);
    await assert.rejects(ep.tagSend(1n, u32(2)), ClosedError);
    await assert.rejects(ep.flush(), ClosedError);
    await ep.close(); // idempotent
    // Garbage addresses.
    assert.throws(() => a.connectAddr(new Uint8Array([1, 2, 3])), InvalidArgumentError);
    const junk = crypto.getRandomValues(new Uint8Array(300));
    assert.throws(() => a.connectAddr(junk), InvalidArgumentError);
    const addr = b.address();
    addr[addr.length - 12] ^= 0xff; // corrupt the UCX part: the checksum catches it
    assert.throws(() => a.connectAddr(addr), /checksum/);
    // Bad arguments.
    assert.throws(() => a.amStream(70_000), InvalidArgumentError);
    const ep2 = a.connectAddr(b.address());
    await assert.rejects(ep2.amSend(-1), InvalidArgumentError);
    await assert.rejects(ep2.tagSend(-1n, u32(1)), InvalidArgumentError);
    // A waiting receive ends with ClosedError when its worker closes.
    const waiting = s.recv();
    b.close();
    await assert.rejects(waiting, ClosedError);
    assert.throws(() => b.address(), ClosedError);
    await ep2.close({ force: true });
  });
  // Every operation and wait was accounted for: the in-flight counter is back to zero.
  assert.equal(UcxReactor.current().status(), 0);
});

Deno.test("ucx: errorHandling none (shared memory) and AMs for an unregistered id", async () => {
  await withTwoWorkers(async (a, b) => {
    const ep = a.connectAddr(b.address(), { errorHandling: "none" });
    // No stream for id 77 on b: UCX 1.12 would read outside its handler table here;
    // pluvio registers a holding handler for every id, so the message is held.
    await ep.amSend(77, u32(1));
    const s = b.amStream(4);
    const big = pattern(3 << 20, 11);
    // A rendezvous send completes once the receiver has pulled the payload.
    const sent = ep.amSend(4, u32(9), big);
    const m = await s.recv();
    assert.equal(readU32(m.header), 9);
    assert.ok(m.isRendezvous);
    assert.deepEqual(await m.recvData(), big);
    await sent;
    assert.throws(
      () => a.connectAddr(b.address(), { errorHandling: "bogus" as "none" }),
      InvalidArgumentError,
    );
    await ep.close();
  });
});

Deno.test("ucx: a reactor registered by the application under its own name is used", async () => {
  const rt = new Runtime();
  rt.registerReactor("net", UcxReactor.current());
  await withTwoWorkers(async (a, b) => {
    const s = b.amStream(5);
    const ep = a.connectAddr(b.address());
    const got = s.recv();
    await ep.amSend(5, u32(42));
    assert.equal(readU32((await deadline(got, 10_000, "AM")).header), 42);
    assert.ok(rt.stats().reactors.net.polls > 0, "polled through the application's registration");
    await ep.close();
  }, rt);
});

Deno.test("ucx: eager messages larger than the arena are spilled and delivered intact", async () => {
  await withTwoWorkers(async (a, b) => {
    const s = b.amStream(8);
    for (const errorHandling of ["none", "peer"] as const) {
      const ep = a.connectAddr(b.address(), { errorHandling });
      // 6 MiB forced eager: UCX reassembles it and hands it over at once; it does not
      // fit the 4 MiB arena, so it takes the spill path.
      const big = pattern(6 << 20, 21);
      const sent = ep.amSend(8, u32(1, 2), big, { proto: "eager" });
      const m = await deadline(s.recv(), 20_000, `eager 6 MiB (${errorHandling})`);
      await sent;
      assert.equal(m.isRendezvous, false);
      assert.deepEqual(m.header, u32(1, 2));
      assert.equal(m.dataLength, big.length);
      const d = await m.recvData();
      assert.ok(d.length === big.length && d.every((v, i) => v === big[i]), "payload intact");
      await ep.close();
    }
  });
});

Deno.test("ucx: tryRecv takes messages synchronously; kept copies stay intact and aligned", async () => {
  await withPeer("echo", async (w, peer) => {
    const ep = w.connectAddr(peer.addr);
    const s = w.amStream(2);
    // Nothing sent yet: a short spin finds nothing.
    assert.equal(s.tryRecv(), null);
    assert.equal(s.tryRecv({ spinUs: 100 }), null);
    // Enough small messages to fill several 64 KiB copy chunks; all are kept and checked
    // at the end, so a copy overwritten by a later arrival would show.
    const kept: AmMessage[] = [];
    for (let i = 0; i < 3000; i++) {
      void ep.amSend(1, u32(i), pattern(1 + (i % 200), i));
      let m: AmMessage | null = null;
      for (let spins = 0; m === null; spins++) {
        assert.ok(spins < 10_000, `message ${i} did not come back`);
        m = s.tryRecv({ spinUs: 2000 });
      }
      kept.push(m);
    }
    for (let i = 0; i < kept.length; i++) {
      assert.equal(readU32(kept[i].header), i);
      assert.deepEqual(kept[i].data, pattern(1 + (i % 200), i));
      assert.equal(kept[i].data!.byteOffset % 8, 0, "payload 8-byte aligned");
    }
    // A larger eager payload waits in the worker until asked for: straight into a buffer,
    // or copied out when the worker progresses first.
    const take = () => {
      for (let spins = 0; spins < 10_000; spins++) {
        const m = s.tryRecv({ spinUs: 2000 });
        if (m !== null) return m;
      }
      throw new Error("no message");
    };
    const buf = new Uint8Array(2000);
    await ep.amSend(1, u32(1), pattern(1500, 1));
    const direct = take();
    assert.deepEqual(await direct.recvData(buf), pattern(1500, 1));
    assert.equal(direct.data!.buffer, buf.buffer, "data is the view of buf after recvData(buf)");
    await ep.amSend(1, u32(2), pattern(1500, 2));
    const later = take();
    assert.equal(s.tryRecv({ spinUs: 200 }), null); // progresses: the payload is copied out
    assert.deepEqual(await later.recvData(buf), pattern(1500, 2));
    assert.deepEqual(later.data, pattern(1500, 2));
    await assert.rejects(later.recvData(new Uint8Array(10)), InvalidArgumentError);
    // Queued messages are returned without progressing the worker.
    const burst = 20;
    for (let i = 0; i < burst; i++) await ep.amSend(1, u32(i), pattern(4, i));
    const got: number[] = [];
    for (let spins = 0; got.length < burst && spins < 10_000; spins++) {
      const m = s.tryRecv({ spinUs: 1000 });
      if (m !== null) got.push(readU32(m.header));
    }
    assert.deepEqual(got, Array.from({ length: burst }, (_, i) => i));
    assert.throws(() => s.tryRecv({ spinUs: -1 }), InvalidArgumentError);
    s.close();
    assert.throws(() => s.tryRecv(), ClosedError);
    await stopPeer(ep, peer);
  });
});

Deno.test("ucx: tryRecvInto lands messages in the caller's buffers, in order, losing none", async () => {
  await withPeer("echo", async (w, peer) => {
    const ep = w.connectAddr(peer.addr);
    const s = w.amStream(2);
    const buf = new Uint8Array(256);
    const hb = new Uint8Array(4);
    assert.equal(s.tryRecvInto(buf), null);
    assert.equal(s.tryRecvInto(buf, { header: hb, spinUs: 100 }), null);
    const take = (data: Uint8Array, header?: Uint8Array) => {
      for (let spins = 0; spins < 10_000; spins++) {
        const m = s.tryRecvInto(data, { header, spinUs: 2000 });
        if (m !== null) return m;
      }
      throw new Error("no message");
    };
    // One at a time: each lands straight in buf and hb.
    for (let i = 0; i < 500; i++) {
      const len = i % 200; // 0 included: a header-only message
      await ep.amSend(1, u32(i), pattern(len, i));
      const m = take(buf, hb);
      assert.equal(m.headerLength, 4);
      assert.equal(readU32(hb), i);
      assert.equal(m.dataLength, len);
      assert.deepEqual(buf.subarray(0, len), pattern(len, i));
      assert.equal(m.data!.buffer, buf.buffer, "data is a view of buf");
      assert.equal(m.header.buffer, hb.buffer, "header is a view of hb");
      assert.equal(m.isRendezvous, false);
    }
    // A burst: the first lands, the rest are queued; order is kept and each is intact.
    for (let i = 0; i < 20; i++) await ep.amSend(1, u32(i), pattern(8 + i, i));
    for (let i = 0; i < 20; i++) {
      const m = take(buf, hb);
      assert.equal(readU32(hb), i);
      assert.deepEqual(m.data, pattern(8 + i, i));
      assert.equal(m.header.buffer, hb.buffer);
    }
    // Too small a buffer (payload or header): an error, and the message stays queued.
    await ep.amSend(1, u32(77), pattern(100, 77));
    assert.throws(() => take(new Uint8Array(10), hb), InvalidArgumentError);
    assert.throws(() => take(buf, new Uint8Array(2)), InvalidArgumentError);
    const kept = take(buf, hb);
    assert.equal(readU32(hb), 77);
    assert.deepEqual(kept.data, pattern(100, 77));
    // Without a header buffer, the header is the message's own copy.
    await ep.amSend(1, u32(5), pattern(16, 5));
    const own = take(buf);
    assert.equal(readU32(own.header), 5);
    assert.deepEqual(own.data, pattern(16, 5));
    // A rendezvous message is announced (its payload pulled with recvData); an eager one
    // sent after it comes after it.
    const big = pattern(1 << 20, 9);
    const sent = ep.amSend(1, u32(9), big, { proto: "rndv" });
    await ep.amSend(1, u32(10), pattern(32, 10));
    const large = new Uint8Array(1 << 20);
    const r = take(large, hb);
    assert.equal(r.isRendezvous, true);
    assert.equal(readU32(hb), 9);
    assert.deepEqual(await deadline(r.recvData(large), 30_000, "rendezvous pull"), big);
    await sent;
    const after = take(buf, hb);
    assert.equal(readU32(hb), 10);
    assert.deepEqual(after.data, pattern(32, 10));
    assert.throws(() => s.tryRecvInto(buf, { spinUs: -1 }), InvalidArgumentError);
    s.close();
    assert.throws(() => s.tryRecvInto(buf), ClosedError);
    await stopPeer(ep, peer);
  });
});

Deno.test("ucx: messages of other streams that arrive during a tryRecvInto spin stay intact", async () => {
  await withPeer("echo", async (w, peer) => {
    const ep = w.connectAddr(peer.addr);
    const echoes = w.amStream(2);
    const reports = w.amStream(5);
    const buf = new Uint8Array(64);
    for (let round = 0; round < 20; round++) {
      // 20 echoes (AM 2, payloads kept in the worker until read), then a report (AM 5)
      // that the spin below waits for while the echoes arrive one by one.
      for (let i = 0; i < 20; i++) await ep.amSend(1, u32(i), pattern(200, round * 20 + i));
      await ep.amSend(3, new Uint8Array(8));
      let report: AmMessage | null = null;
      for (let spins = 0; report === null && spins < 10_000; spins++) {
        report = reports.tryRecvInto(buf, { spinUs: 100_000 });
      }
      assert.ok(report !== null, "no report");
      for (let i = 0; i < 20; i++) {
        const m = await deadline(echoes.recv(), 10_000, "echo");
        assert.equal(readU32(m.header), i);
        assert.deepEqual(m.data, pattern(200, round * 20 + i), `round ${round} echo ${i}`);
      }
    }
    await stopPeer(ep, peer);
  });
});

Deno.test("ucx: tryRecvInto keeps the reply endpoint of a landed message", async () => {
  await withTwoWorkers(async (a, b) => {
    const ep = a.connectAddr(b.address());
    await ep.flush();
    const s = b.amStream(1);
    const answers = a.amStream(2);
    const buf = new Uint8Array(16);
    const hb = new Uint8Array(4);
    for (let i = 0; i < 50; i++) {
      await ep.amSend(1, u32(i), pattern(8, i), { needReply: true });
      let m = null;
      for (let spins = 0; m === null && spins < 10_000; spins++) {
        m = s.tryRecvInto(buf, { header: hb, spinUs: 2000 });
      }
      assert.ok(m !== null && m.replyEndpoint !== null);
      assert.equal(m.header.buffer, hb.buffer);
      await m.reply(2, hb, buf.subarray(0, m.dataLength));
      const back = await deadline(answers.recv(), 10_000, "reply");
      assert.equal(readU32(back.header), i);
      assert.deepEqual(back.data, pattern(8, i));
    }
  });
});

Deno.test("ucx: busy-waiting receives (spinUs) for AMs and tags, and bad spinUs values", async () => {
  await withPeer("echo", async (w, peer) => {
    const ep = w.connectAddr(peer.addr);
    const s = w.amStream(2);
    for (let i = 0; i < 300; i++) {
      // Sent first: a spinning receive holds the thread, so the message must be on its way.
      await ep.amSend(1, u32(i), pattern(1 + (i % 64), i));
      const m = await s.recv({ spinUs: 2000 });
      assert.equal(readU32(m.header), i);
      assert.deepEqual(m.data, pattern(1 + (i % 64), i));
    }
    // Nothing comes: the spin ends and the receive waits through the event loop.
    const late = s.recv({ spinUs: 100 });
    await ep.amSend(1, u32(7), pattern(3, 7));
    assert.equal(readU32((await late).header), 7);
    const buf = new Uint8Array(16);
    for (let i = 0; i < 300; i++) {
      await ep.tagSend(BigInt(2 * i), pattern(16, i));
      const r = await w.tagRecv(BigInt(2 * i + 1), buf, { spinUs: 2000 });
      assert.equal(r.tag, BigInt(2 * i + 1));
      assert.equal(r.length, 16);
      assert.deepEqual(buf, pattern(16, i));
    }
    // Rendezvous: the send (done once the peer pulled) and the pull spin too.
    const big = pattern(1 << 20, 5);
    const into = new Uint8Array(1 << 20);
    for (let i = 0; i < 3; i++) {
      await ep.amSend(1, u32(5), big, { proto: "rndv", spinUs: 5000 });
      const m = await s.recv({ spinUs: 5000 });
      assert.equal(m.dataLength, 1 << 20);
      into.fill(0);
      assert.deepEqual(await m.recvData(into, { spinUs: 5000 }), big);
    }
    for (const spinUs of [-1, NaN, 2e6]) {
      await assert.rejects(s.recv({ spinUs }), InvalidArgumentError);
      await assert.rejects(w.tagRecv(1n, buf, { spinUs }), InvalidArgumentError);
      await assert.rejects(ep.amSend(1, u32(0), big, { spinUs }), InvalidArgumentError);
    }
    await stopPeer(ep, peer);
  });
});

Deno.test("ucx: a connected worker waiting for a message parks (no busy spin); a 16 MiB pull then completes", async () => {
  const rt = new Runtime();
  await withTwoWorkers(async (a, b) => {
    const ep = a.connectAddr(b.address());
    await ep.flush();
    const got = new Uint8Array(4);
    const recv = b.tagRecv(7n, got);
    // The message comes from a plain JS timer; until then the UCX reactor has an
    // operation in flight but nothing moving, so the executor must park, not spin.
    const delay = 300;
    const timer = setTimeout(() => ep.tagSend(7n, u32(9)).catch(() => {}), delay);
    const cpu0 = process.cpuUsage();
    const t0 = performance.now();
    await deadline(recv, 10_000, "tagRecv");
    const wall = performance.now() - t0;
    const cpu = process.cpuUsage(cpu0);
    clearTimeout(timer);
    assert.equal(readU32(got), 9);
    const cpuMs = (cpu.user + cpu.system) / 1000;
    assert.ok(cpuMs < wall * 0.25, `CPU ${cpuMs.toFixed(1)} ms over ${wall.toFixed(0)} ms wall`);
    assert.ok(rt.stats().executor.parkedMs > 0, "the executor parked");
    // Transfers that report progress without completions still finish.
    const big = pattern(16 << 20, 3);
    const into = new Uint8Array(big.length);
    const s = b.amStream(12);
    const sent = ep.amSend(12, undefined, big, { proto: "rndv" });
    const m = await deadline(s.recv(), 20_000, "16 MiB message");
    await deadline(m.recvData(into), 20_000, "16 MiB pull");
    await sent;
    assert.deepEqual(into, big);
    await ep.close();
  }, rt);
});

Deno.test("ucx: sends UCX finishes at once return DONE (resolved); the messages still arrive", async () => {
  await withTwoWorkers(async (a, b) => {
    const ep = a.connectAddr(b.address());
    await ep.flush();
    const s = b.amStream(13);
    let done = 0;
    const pending: Promise<void>[] = [];
    for (let i = 0; i < 100; i++) {
      const p = ep.amSend(13, u32(i));
      if (p === DONE) done++;
      else pending.push(p);
    }
    await Promise.all(pending);
    assert.ok(done > 0, "small eager sends to a connected peer complete at once");
    assert.equal(await DONE, undefined);
    for (let i = 0; i < 100; i++) {
      assert.equal(readU32((await deadline(s.recv(), 10_000, `message ${i}`)).header), i);
    }
    await ep.close();
  });
});
