/**
 * `Endpoint.amSendMany` (windowed send lists refilled natively) across real processes:
 * the peer of tests/ucx/peer.ts counts AM 7 messages and checks their sequence numbers.
 * Every test is bounded (peers are killed on failure or timeout).
 */
import assert from "node:assert/strict";
import { CancelledError, ClosedError, InvalidArgumentError, PeerError } from "../../lib/errors.ts";
import type { Endpoint, Worker } from "../../lib/ucx/mod.ts";
import { deadline, readU32, stopPeer, UCX_ENV, withPeer } from "./helpers.ts";

for (const [k, v] of Object.entries(UCX_ENV)) Deno.env.set(k, v);

/** Payload `seq` of `n` bytes (n ≥ 4): u32 `seq` first, every other byte `seq & 0xff`. */
function numbered(seq: number, n: number): Uint8Array {
  const b = new Uint8Array(n).fill(seq & 0xff);
  new DataView(b.buffer).setUint32(0, seq, true);
  return b;
}

/** Asks the peer for its AM 7 report: [count, errors] since the last report. */
async function report(w: Worker, ep: Endpoint): Promise<[number, number]> {
  const s = w.amStream(5);
  const got = s.recv();
  await ep.amSend(7, new Uint8Array(8));
  const m = await deadline(got, 30_000, "AM 7 report");
  s.close();
  return [readU32(m.header, 0), readU32(m.header, 1)];
}

Deno.test("ucx: amSendMany sends eager and rendezvous lists in order, window 1..64", async () => {
  await withPeer("echo", async (w, peer) => {
    const ep = w.connectAddr(peer.addr);
    const sizes = [5, 100, 5000, 70_000, 1 << 20, 3 << 20];
    const list = Array.from({ length: 240 }, (_, i) => numbered(i, sizes[i % sizes.length]));
    for (const window of [1, 4, 64]) {
      await deadline(
        ep.amSendMany(7, list, { header: new Uint8Array([1]), window }),
        60_000,
        `list with window ${window}`,
      );
      assert.deepEqual(await report(w, ep), [240, 0], `window ${window}`);
    }
    // The same buffer many times (the peer only counts: header byte 0 is 0), forced
    // eager and rendezvous; an empty list and an ArrayBuffer payload (checked: it is
    // message 1000 since the last report).
    const one = new Uint8Array(256 << 10);
    await ep.amSendMany(7, Array(500).fill(one), { header: new Uint8Array([0]), proto: "rndv" });
    await ep.amSendMany(7, Array(500).fill(one.subarray(0, 64)), {
      header: new Uint8Array([0]),
      proto: "eager",
    });
    await ep.amSendMany(7, []);
    await ep.amSendMany(7, [numbered(1000, 16).buffer as ArrayBuffer], {
      header: new Uint8Array([1]),
    });
    assert.deepEqual(await report(w, ep), [1001, 0]);
    await stopPeer(ep, peer);
  });
});

Deno.test("ucx: amSendMany rejects bad input with typed errors and sends nothing", async () => {
  await withPeer("echo", async (w, peer) => {
    const ep = w.connectAddr(peer.addr);
    const list = [numbered(0, 8)];
    const hdr = new Uint8Array([1]);
    for (const window of [0, 4097, 1.5, NaN]) {
      await assert.rejects(ep.amSendMany(7, list, { header: hdr, window }), InvalidArgumentError);
    }
    await assert.rejects(ep.amSendMany(70_000, list), InvalidArgumentError);
    await assert.rejects(
      // @ts-expect-error: a wrong protocol name
      ep.amSendMany(7, list, { header: hdr, proto: "fast" }),
      InvalidArgumentError,
    );
    await assert.rejects(
      ep.amSendMany(7, list, { header: hdr, signal: AbortSignal.abort() }),
      CancelledError,
    );
    assert.deepEqual(await report(w, ep), [0, 0], "nothing was sent");
    await stopPeer(ep, peer);
    await ep.close({ force: true });
    await assert.rejects(ep.amSendMany(7, list, { header: hdr }), ClosedError);
  });
});

Deno.test("ucx: amSendMany aborted mid-list stops, keeps order, and the endpoint goes on", async () => {
  await withPeer("echo", async (w, peer) => {
    const ep = w.connectAddr(peer.addr);
    const n = 100;
    const list = Array.from({ length: n }, (_, i) => numbered(i, 1 << 20));
    const ac = new AbortController();
    const p = ep.amSendMany(7, list, { header: new Uint8Array([1]), window: 2, signal: ac.signal });
    // Aborted before the worker progresses again: the first window is on its way, no
    // further send starts.
    ac.abort();
    await assert.rejects(deadline(p, 30_000, "aborted list"), CancelledError);
    const [count, errors] = await report(w, ep);
    assert.equal(errors, 0);
    assert.ok(count > 0 && count < n, `a prefix arrived (${count} of ${n})`);
    // The endpoint is still usable, and the next list starts a fresh count.
    await ep.amSendMany(7, list.slice(0, 50), { header: new Uint8Array([1]) });
    assert.deepEqual(await report(w, ep), [50, 0]);
    await stopPeer(ep, peer);
  });
});

Deno.test("ucx: amSendMany to a peer killed mid-list rejects with PeerError, no hang", async () => {
  await withPeer("sink", async (w, peer) => {
    const ep = w.connectAddr(peer.addr);
    // The sink takes headers but never pulls payloads: the first sends stay in flight.
    const big = new Uint8Array(16 << 20);
    const p = ep.amSendMany(1, Array(8).fill(big), { header: new Uint8Array(4), window: 2 });
    p.catch(() => {});
    const first = await deadline(peer.lines.next(), 15_000, "sink got a header");
    assert.match(String(first.value), /^got \d+/);
    peer.kill();
    await assert.rejects(deadline(p, 20_000, "list to a dead peer"), PeerError);
    await assert.rejects(ep.amSendMany(1, [big]), PeerError);
    void w;
  });
});
