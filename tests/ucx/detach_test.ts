/**
 * Buffers detached while in flight: `buf.buffer.transfer()` frees (or moves) the memory
 * of an ordinary ArrayBuffer at once, so UCX must never use it directly. Receives into
 * such buffers land in staging memory and reject with `InvalidArgumentError` ("the
 * buffer was detached") when the buffer is gone at completion; sends are copied at
 * submission and deliver the original bytes. Every case repeats, detaching at once and
 * after a short delay, with `transfer(0)` and `transfer(2 × length)`, then checks that
 * the endpoint still carries correct data and that the peer exits cleanly.
 */
import assert from "node:assert/strict";
import { InvalidArgumentError } from "../../mod.ts";
import type { AmMessage, Endpoint, Worker } from "../../lib/ucx/mod.ts";
import { allocAligned } from "../../lib/uring/mod.ts";
import { deadline, pattern, stopPeer, withPeer } from "./helpers.ts";

const ROUNDS = 12;
const SIZES = [1024, 1 << 20]; // eager and rendezvous

/** Detaches `b`'s buffer: round-robin `transfer(0)` / `transfer(2 × length)`. */
function detach(b: Uint8Array, round: number): void {
  const ab = b.buffer as ArrayBuffer;
  ab.transfer(round % 2 === 0 ? 0 : ab.byteLength * 2);
  assert.ok(ab.detached);
}

/** Half the rounds detach at once, half after the peer had time to answer. */
async function pause(round: number): Promise<void> {
  if (round % 4 >= 2) await new Promise((r) => setTimeout(r, 2));
}

/** Whether `e` is the defined detached-buffer error. */
function isDetached(e: unknown): boolean {
  return e instanceof InvalidArgumentError && /detached/.test(e.message);
}

/** The buffer is gone, or the bytes it still shows are `want`'s (it completed first). */
function equalBytes(a: Uint8Array, b: Uint8Array): boolean {
  if (a.length !== b.length) return false;
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return false;
  return true;
}

/** A tag round trip through the echo peer on allocAligned memory: the endpoint works. */
async function tagWorks(w: Worker, ep: Endpoint, n: number, seed: number): Promise<void> {
  const want = pattern(n, seed);
  const out = allocAligned(n);
  out.set(want);
  const into = allocAligned(n);
  const r = w.tagRecv(0x7100n + BigInt(seed) + 1n, into);
  await ep.tagSend(0x7100n + BigInt(seed), out);
  const got = await deadline(r, 10_000, "tag echo");
  assert.equal(got.length, n);
  assert.ok(equalBytes(got.data, want), "tag echo payload");
}

Deno.test("ucx: detaching a tagRecv buffer or a large tagSend buffer in flight (real peer)", async () => {
  await withPeer("echo", async (w, peer) => {
    const ep = w.connectAddr(peer.addr);
    let detachedErrors = 0, completed = 0;
    for (const n of SIZES) {
      for (let round = 0; round < ROUNDS; round++) {
        const seed = (n & 0xff) + round;
        const tag = 0x5000n + BigInt(round) * 2n;
        // A receive whose buffer goes away while the echo is on its way.
        const buf = new Uint8Array(n);
        const r = w.tagRecv(tag + 1n, buf);
        const late = round % 4 >= 2;
        if (!late) detach(buf, round);
        // A send whose buffer goes away right after submission: its bytes still arrive.
        const data = pattern(n, seed);
        const sent = ep.tagSend(tag, data);
        detach(data, round);
        await pause(round);
        if (late) detach(buf, round);
        await deadline(sent, 10_000, "tagSend");
        try {
          await deadline(r, 10_000, "tagRecv");
          completed++; // it finished before the detach (delayed rounds)
          assert.ok(late, `round ${round}: a receive into a detached buffer resolved`);
        } catch (e) {
          if (!isDetached(e)) throw e;
          detachedErrors++;
        }
        await tagWorks(w, ep, n, seed);
      }
    }
    assert.equal(detachedErrors + completed, SIZES.length * ROUNDS);
    assert.ok(detachedErrors >= SIZES.length * ROUNDS / 2, `detached: ${detachedErrors}`);
    // A send of an ordinary buffer detached right after submission delivers its bytes.
    for (const n of SIZES) {
      const data = pattern(n, 3);
      const into = allocAligned(n);
      const r = w.tagRecv(0x6001n, into);
      const sent = ep.tagSend(0x6000n, data);
      detach(data, 1);
      await sent;
      const got = await deadline(r, 10_000, "echo of a detached send");
      assert.ok(equalBytes(got.data, pattern(n, 3)), `${n}-byte send from a detached buffer`);
    }
    await stopPeer(ep, peer);
  });
});

Deno.test("ucx: detaching AmReceiver.recvInto buffers and amSend buffers in flight (real peer)", async () => {
  await withPeer("echo", async (w, peer) => {
    const ep = w.connectAddr(peer.addr);
    const rx = w.amReceiver(2); // the peer echoes AM 1 as AM 2
    for (const n of SIZES) {
      for (let round = 0; round < ROUNDS; round++) {
        const seed = (n & 0xff) + round;
        const data = new Uint8Array(n);
        const header = new Uint8Array(8);
        const r = rx.recvInto(data, { header });
        const late = round % 4 >= 2;
        const victim = round % 3 === 2 ? header : data;
        if (!late) detach(victim, round);
        const payload = pattern(n, seed);
        const hdr = new Uint8Array(8).fill(round);
        const sent = ep.amSend(1, hdr, payload);
        detach(payload, round);
        detach(hdr, round + 1);
        await pause(round);
        if (late) detach(victim, round);
        await deadline(sent, 10_000, "amSend");
        await deadline(r, 10_000, "recvInto").then(
          // It finished before the detach (delayed rounds).
          () => assert.ok(late, `round ${round}: a detached receive resolved`),
          (e) => assert.ok(isDetached(e), String(e)),
        );
        // The receiver goes on: the next message lands in good buffers, intact.
        const into = allocAligned(n);
        const hInto = allocAligned(8);
        const next = rx.recvInto(into, { header: hInto });
        await ep.amSend(1, new Uint8Array(8).fill(round), pattern(n, seed + 1));
        const m = await deadline(next, 10_000, "recvInto after a detached one");
        assert.ok(equalBytes(m.data!, pattern(n, seed + 1)), "payload after a detached receive");
        assert.ok(equalBytes(m.header!, new Uint8Array(8).fill(round)), "header");
      }
    }
    rx.close();
    await stopPeer(ep, peer);
  });
});

Deno.test("ucx: detaching the buffer of a rendezvous pull in flight (real peer)", async () => {
  await withPeer("echo", async (w, peer) => {
    const ep = w.connectAddr(peer.addr);
    const s = w.amStream(2);
    const n = 4 << 20;
    let detachedErrors = 0, completed = 0;
    for (let round = 0; round < ROUNDS; round++) {
      await ep.amSend(1, new Uint8Array(4), allocAligned(n).fill(round));
      const m: AmMessage = await deadline(s.recv(), 10_000, "AM echo");
      assert.ok(m.isRendezvous, "a 4 MiB message is rendezvous");
      const buf = new Uint8Array(n);
      const p = m.recvData(buf);
      await pause(round);
      detach(buf, round);
      try {
        await deadline(p, 10_000, "pull");
        completed++; // the pull finished before the detach (delayed rounds)
      } catch (e) {
        if (!isDetached(e)) throw e;
        detachedErrors++;
      }
      // The stream goes on with intact data.
      await ep.amSend(1, new Uint8Array(4), pattern(n, round));
      const m2 = await deadline(s.recv(), 10_000, "AM echo after a detached pull");
      const d = await m2.recvData(allocAligned(n));
      assert.ok(equalBytes(d, pattern(n, round)), "payload after a detached pull");
    }
    assert.equal(detachedErrors + completed, ROUNDS);
    assert.ok(detachedErrors >= ROUNDS / 2, `at-once detaches fail the pull (${detachedErrors})`);
    await stopPeer(ep, peer);
  });
});
