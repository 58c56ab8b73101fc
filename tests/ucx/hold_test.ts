/**
 * Nothing lost: Active Messages that arrive before their stream or receiver exists are
 * held by the worker and delivered in order to the one opened later; past the hold
 * limit they are counted, and the receive that reaches the gap says how many.
 */
import assert from "node:assert/strict";
import { Runtime } from "../../mod.ts";
import { Context, MessagesLostError, type Worker } from "../../lib/ucx/mod.ts";
import { deadline, pattern, readU32, u32, UCX_ENV, withTwoWorkers } from "./helpers.ts";

const PEER = new URL("./early_peer.ts", import.meta.url).pathname;

function spawn(args: string[], stdin: "piped" | "null"): Deno.ChildProcess {
  return new Deno.Command(Deno.execPath(), {
    args: ["run", "-A", PEER, ...args],
    stdin,
    stdout: "piped",
    stderr: "inherit",
    env: UCX_ENV,
  }).spawn();
}

/** Keeps `w` progressing for `ms` (a receive nobody answers, aborted by a timeout). */
async function progressFor(w: Worker, ms: number): Promise<void> {
  await w.tagRecv(0xdead_beefn, new Uint8Array(1), { signal: AbortSignal.timeout(ms) })
    .catch(() => {});
}

Deno.test("ucx: messages sent before the stream opens arrive in order (20 runs, small, 64 KiB, 16 MiB)", async () => {
  const child = spawn(["early"], "piped");
  const stdin = child.stdin.getWriter();
  const out = child.stdout.pipeThrough(new TextDecoderStream()).getReader();
  const rt = new Runtime();
  using ctx = new Context();
  let heldSeen = 0;
  try {
    await deadline(
      rt.run(async () => {
        for (let run = 0; run < 20; run++) {
          using w = ctx.createWorker();
          using l = w.createListener("127.0.0.1:0");
          await stdin.write(new TextEncoder().encode(`${l.address}\n`));
          const ep = await w.accept(await l.next());
          // The natural order: the stream opens a little after accept, while the
          // client already sends (the worker keeps progressing meanwhile).
          await progressFor(w, 50);
          heldSeen += w.stats().held;
          const s = w.amStream(11);
          for (let i = 0; i < 102; i++) {
            const m = await s.recv();
            assert.equal(readU32(m.header), i, `run ${run}: message order`);
            const n = i < 100 ? 8 : i === 100 ? 64 << 10 : 16 << 20;
            assert.equal(m.dataLength, n);
            const d = await m.recvData();
            assert.ok(equalBytes(d, pattern(n, i)), `run ${run}: payload ${i}`);
          }
          const st = w.stats();
          assert.equal(st.held, 0);
          assert.equal(st.dropped, 0);
          await ep.amSend(12);
          // Both sides close (a graceful close needs the peer's progress too).
          const [line] = await Promise.all([out.read(), ep.close()]);
          assert.equal(line.value?.trim(), "done");
        }
      }),
      120_000,
      "20 early-send runs",
    );
    // The runs did exercise holding (messages arrived before their stream).
    assert.ok(heldSeen > 0, "no message arrived before its stream opened");
    await stdin.close();
    assert.equal((await deadline(child.status, 20_000, "client exit")).code, 0);
  } finally {
    try {
      child.kill("SIGKILL");
    } catch { /* exited */ }
    await child.status.catch(() => {});
    await out.cancel().catch(() => {});
    rt.close();
  }
});

Deno.test("ucx: past the hold limit messages are counted; the receive at the gap says how many", async () => {
  const rt = new Runtime();
  using ctx = new Context();
  using w = ctx.createWorker({ holdLimit: { messages: 10 } });
  using l = w.createListener("127.0.0.1:0");
  const child = spawn(["overflow", l.address], "null");
  try {
    await deadline(
      rt.run(async () => {
        const ep = await w.accept(await l.next());
        // Wait until the 33 first messages arrived: 10 held, 23 dropped.
        while (w.stats().held + w.stats().dropped < 33) await progressFor(w, 10);
        assert.deepEqual({ ...w.stats(), inflight: 0 }, {
          held: 10,
          heldBytes: 10 * (4 + 8),
          dropped: 23,
          inflight: 0,
        });
        const s = w.amStream(11);
        for (let i = 0; i < 7; i++) assert.equal(readU32((await s.recv()).header), i);
        await assert.rejects(s.recv(), (e) => {
          assert.ok(e instanceof MessagesLostError);
          assert.equal(e.lost, 23);
          assert.equal(e.code, "ENOBUFS");
          assert.match(e.message, /23 message\(s\) were dropped/);
          return true;
        });
        await ep.amSend(12);
        // Later messages still come, in order.
        for (let i = 30; i < 35; i++) assert.equal(readU32((await s.recv()).header), i);
        // An id opened only at the end gets what was held for it.
        const late = w.amStream(13);
        for (let i = 0; i < 3; i++) {
          const m = await late.recv();
          assert.equal(readU32(m.header), i);
          assert.ok(equalBytes(m.data!, pattern(8, i)));
        }
        assert.equal(w.stats().held, 0);
        await ep.amSend(12);
        const [st] = await Promise.all([deadline(child.status, 20_000, "client exit"), ep.close()]);
        assert.equal(st.code, 0);
      }),
      60_000,
      "overflow test",
    );
  } finally {
    try {
      child.kill("SIGKILL");
    } catch { /* exited */ }
    await child.status.catch(() => {});
    rt.close();
  }
});

Deno.test("ucx: an AmReceiver opened late takes the held messages in order, then reports the loss", async () => {
  await withTwoWorkers(async (a, b) => {
    const ep = a.connectAddr(b.address());
    await ep.flush();
    // Messages for id 30 before b has a receiver; b progresses meanwhile.
    const big = pattern(1 << 20, 7);
    const sends = [ep.amSend(30, u32(0), pattern(16, 0)), ep.amSend(30, u32(1), big)];
    while (b.stats().held < 2) await progressFor(b, 5);
    const r = b.amReceiver(30);
    const buf = new Uint8Array(1 << 20);
    const h = new Uint8Array(4);
    let m = await r.recvInto(buf, { header: h });
    assert.equal(readU32(m.header), 0);
    assert.ok(equalBytes(m.data!, pattern(16, 0)));
    m = await r.recvInto(buf, { header: h });
    assert.equal(readU32(m.header), 1);
    assert.ok(equalBytes(m.data!, big));
    await Promise.all(sends);
    assert.equal(b.stats().held, 0);
    await ep.close();
  });
  // With a limit of one message: the first is held, two are dropped, the next post
  // says so, and a later message still comes.
  const rt = new Runtime();
  using ctx = new Context();
  using a = ctx.createWorker();
  using b = ctx.createWorker({ holdLimit: { messages: 1 } });
  await rt.run(async () => {
    const ep = a.connectAddr(b.address());
    await ep.flush();
    await Promise.all([0, 1, 2].map((i) => ep.amSend(31, u32(i), pattern(8, i))));
    while (b.stats().held + b.stats().dropped < 3) await progressFor(b, 5);
    assert.equal(b.stats().dropped, 2);
    const r = b.amReceiver(31);
    const buf = new Uint8Array(8);
    const h = new Uint8Array(4);
    assert.equal(readU32((await r.recvInto(buf, { header: h })).header), 0);
    await assert.rejects(
      r.recvInto(buf, { header: h }),
      (e) => e instanceof MessagesLostError && e.lost === 2 && e.amId === 31,
    );
    const next = r.recvInto(buf, { header: h });
    await ep.amSend(31, u32(3), pattern(8, 3));
    assert.equal(readU32((await next).header), 3);
    await ep.close();
  });
  rt.close();
});

Deno.test("ucx: holdLimit is checked", () => {
  using ctx = new Context();
  assert.throws(() => ctx.createWorker({ holdLimit: { messages: -1 } }), /holdLimit.messages/);
  assert.throws(() => ctx.createWorker({ holdLimit: { bytes: 1.5 } }), /holdLimit.bytes/);
});

function equalBytes(a: Uint8Array, b: Uint8Array): boolean {
  if (a.length !== b.length) return false;
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return false;
  return true;
}
