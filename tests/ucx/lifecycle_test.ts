/**
 * Validation and lifecycle of the UCX layer: bad data refused before sending, abort
 * listeners of finished operations removed, EMSGSIZE, closing after the peer left, and
 * `endpoint.closed`.
 */
import assert from "node:assert/strict";
import { ClosedError, InvalidArgumentError, PeerError } from "../../lib/ucx/mod.ts";
import { deadline, readU32, u32, withPeer, withTwoWorkers } from "./helpers.ts";

Deno.test("ucx: data that is not a buffer is refused before anything is sent", async () => {
  await withTwoWorkers(async (a, b) => {
    const ep = a.connectAddr(b.address());
    await ep.flush();
    const s = b.amStream(1);
    // deno-lint-ignore no-explicit-any
    const bad: any[] = [5, "text", [1, 2, 3], { length: 4 }, null];
    for (const v of bad) {
      await assert.rejects(ep.amSend(1, v), InvalidArgumentError);
      await assert.rejects(ep.amSend(1, undefined, v), InvalidArgumentError);
      await assert.rejects(ep.tagSend(3n, v), InvalidArgumentError);
      await assert.rejects(ep.amSendMany(1, [new Uint8Array(1), v]), InvalidArgumentError);
      await assert.rejects(b.tagRecv(3n, v), InvalidArgumentError);
    }
    await assert.rejects(ep.amSendMany(1, "ab" as unknown as Uint8Array[]), InvalidArgumentError);
    // Nothing went out: the first message to arrive is the good one sent now.
    await ep.amSend(1, u32(42), new Uint8Array(3));
    const m = await s.recv();
    assert.equal(readU32(m.header), 42);
    assert.equal(b.stats().held, 0);
    await ep.close();
  });
});

Deno.test("ucx: a process whose finished operations had 60 s signals exits at once", async () => {
  const child = new Deno.Command(Deno.execPath(), {
    args: ["run", "-A", new URL("./signal_peer.ts", import.meta.url).pathname],
    stdin: "null",
    stdout: "piped",
    stderr: "inherit",
  }).spawn();
  try {
    // Far below the signals' 60 s: an abort listener left behind would hold it that long.
    const out = await deadline(child.output(), 30_000, "signal_peer exit");
    assert.equal(out.code, 0);
    assert.equal(new TextDecoder().decode(out.stdout).trim(), "done");
  } finally {
    try {
      child.kill("SIGKILL");
    } catch { /* exited */ }
  }
});

Deno.test("ucx: a tag receive into a too-small buffer fails with EMSGSIZE", async () => {
  await withTwoWorkers(async (a, b) => {
    const ep = a.connectAddr(b.address());
    const r = b.tagRecv(5n, new Uint8Array(4));
    await ep.tagSend(5n, new Uint8Array(64));
    await assert.rejects(r, (e: Error & { code?: string }) => e.code === "EMSGSIZE");
    await ep.close();
  });
});

Deno.test("ucx: closing an endpoint whose peer has left resolves", async () => {
  await withPeer("echo", async (w, peer) => {
    const ep = w.connectAddr(peer.addr);
    await ep.flush();
    peer.kill();
    await peer.status();
    await ep.close();
    assert.equal(ep.isClosed, true);
    await ep.closed.catch(() => {}); // settled either way (the failure may come first)
  });
});

Deno.test("ucx: endpoint.closed rejects when the peer dies while a task waits in recv()", async () => {
  await withPeer("echo", async (w, peer) => {
    const ep = w.connectAddr(peer.addr);
    const s = w.amStream(2);
    await ep.amSend(1, u32(7)); // echoed back as AM 2: the connection is up
    assert.equal(readU32((await s.recv()).header), 7);
    const waiting = s.recv();
    peer.kill();
    await assert.rejects(ep.closed, PeerError);
    assert.ok(ep.error instanceof PeerError);
    s.close();
    await assert.rejects(waiting, ClosedError);
    await ep.close(); // the peer is gone: resolves
  });
});

Deno.test("ucx: endpoint.closed resolves on close and on the worker's close", async () => {
  await withTwoWorkers(async (a, b) => {
    const ep = a.connectAddr(b.address());
    await ep.flush();
    const other = a.connectAddr(b.address());
    await other.flush();
    await ep.close();
    await ep.closed;
    a.close();
    await other.closed;
    assert.equal(other.isClosed, true);
  });
});
