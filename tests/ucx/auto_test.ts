/**
 * `errorHandling: "auto"`, the default of `connectSocket` and `accept`, across real
 * processes: shared memory watched through pidfds on one host, UCX peer-failure handling
 * across (namespace) hosts, and the mixes with explicit modes.
 *
 * @module
 */
import assert from "node:assert/strict";
import { Runtime } from "../../mod.ts";
import { Context, type Endpoint, type Worker } from "../../lib/ucx/mod.ts";
import { PeerError } from "../../lib/errors.ts";
import { deadline, splitLines, u32 } from "./helpers.ts";
import { outputWithin } from "../helpers/bounded.ts";
import { createNsHosts, nsHostsUnavailable } from "../helpers/nshosts.ts";

const SCRIPT = new URL("./auto_peer.ts", import.meta.url).pathname;
const text = new TextDecoder();

/** An `auto_peer.ts server` process, killed after 60 s at the latest. */
async function server(options?: object) {
  const child = new Deno.Command(Deno.execPath(), {
    args: [
      "run",
      "-A",
      SCRIPT,
      "server",
      "127.0.0.1:0",
      ...(options ? [JSON.stringify(options)] : []),
    ],
    stdin: "null",
    stdout: "piped",
    stderr: "inherit",
  }).spawn();
  const kill = () => {
    try {
      child.kill("SIGKILL");
    } catch { /* gone */ }
  };
  const bound = setTimeout(kill, 60_000);
  const status = child.status.finally(() => clearTimeout(bound));
  const lines = splitLines(child.stdout.pipeThrough(new TextDecoderStream()));
  const first = await deadline(lines.next(), 20_000, "server start").catch((e) => {
    kill();
    throw e;
  });
  if (first.done) throw new Error("the server exited before printing its port");
  return { port: JSON.parse(first.value).port as number, status, kill };
}

/** Runs `body` with a worker in a runtime, connected to a fresh server. */
async function withServer(
  body: (w: Worker, ep: Endpoint, s: Awaited<ReturnType<typeof server>>) => Promise<void>,
  connect: { errorHandling?: "auto" | "peer" | "none" } = {},
  accept?: object,
): Promise<void> {
  const s = await server(accept);
  try {
    await new Runtime().run(async () => {
      using ctx = new Context();
      using w = ctx.createWorker();
      const ep = await deadline(w.connectSocket(`127.0.0.1:${s.port}`, connect), 20_000, "connect");
      await body(w, ep, s);
    });
  } finally {
    s.kill();
    await s.status;
  }
}

async function theirWatch(w: Worker, ep: Endpoint): Promise<string> {
  const ask = w.amStream(3);
  await ep.amSend(3);
  return text.decode((await deadline(ask.recv(), 10_000, "peerWatch answer")).header);
}

Deno.test("auto: one host → shared memory watched through pidfds; order kept; a crash fails the endpoint", async () => {
  await withServer(async (w, ep, s) => {
    assert.equal(ep.peerWatch, "pidfd");
    assert.equal(await theirWatch(w, ep), "pidfd");
    const back = w.amStream(2);
    // Small, 64 KiB and 16 MiB (rendezvous) messages come back in order and intact.
    const sizes = [...Array(100).fill(8), 65536, 16 << 20, 8];
    const sent = sizes.map((n, i) => new Uint8Array(n).fill(i & 0xff));
    const got = (async () => {
      for (let i = 0; i < sizes.length; i++) {
        const m = await back.recv();
        const d = await m.recvData();
        assert.equal(new DataView(m.header.buffer, m.header.byteOffset).getUint32(0, true), i);
        assert.equal(d.length, sizes[i]);
        assert.ok(d.every((b) => b === (i & 0xff)), `message ${i} intact`);
      }
    })();
    await Promise.all(sent.map((d, i) => ep.amSend(1, u32(i), d)));
    await deadline(got, 30_000, "echoes");
    // A task waiting for a message learns of the crash through `closed`.
    const waiting = back.recv();
    await ep.amSend(8);
    const e = await deadline(ep.closed.then(() => null, (e) => e), 10_000, "closed");
    assert.ok(e instanceof PeerError, String(e));
    assert.match(e.message, /exited|closed/);
    assert.equal(ep.error, e);
    await assert.rejects(ep.amSend(1, u32(0)), PeerError);
    await ep.close(); // the normal end: resolves
    assert.equal((await s.status).code, 3);
    w.amStream(2).close();
    await waiting.catch(() => {});
  });
});

Deno.test("auto: the peer closing its endpoint fails ours with PeerError; our close resolves", async () => {
  await withServer(async (_w, ep, s) => {
    assert.equal(ep.peerWatch, "pidfd");
    // The peer closes 300 ms later, when nothing is in flight here: awaiting `closed`
    // alone must still have the worker polled for its BYE and its exit.
    await ep.amSend(10);
    const e = await deadline(ep.closed.then(() => null, (e) => e), 10_000, "closed");
    assert.ok(e instanceof PeerError, String(e));
    assert.match(e.message, /exited|closed/);
    await ep.close();
    assert.equal((await s.status).code, 0);
  });
});

Deno.test("auto: explicit modes on either side keep the socket connection", async () => {
  // A client with "peer" sends no handshake: the "auto" server keeps the socket after
  // its wait.
  await withServer(async (w, ep) => {
    assert.equal(ep.peerWatch, "peer");
    assert.equal(await theirWatch(w, ep), "peer");
    await ep.amSend(9);
  }, { errorHandling: "peer" });
  // A server accepting with "peer" answers the "auto" client's handshake: stay.
  await withServer(
    async (w, ep) => {
      assert.equal(ep.peerWatch, "peer");
      assert.equal(await theirWatch(w, ep), "peer");
      await ep.amSend(9);
    },
    {},
    { errorHandling: "peer" },
  );
});

Deno.test("auto: by address; bad errorHandling values and the reserved AM id are refused", async () => {
  await new Runtime().run(() => {
    using ctx = new Context();
    using a = ctx.createWorker();
    using b = ctx.createWorker();
    // By address, "auto" reads the host and pid in the address: this process.
    const self = a.connectAddr(b.address());
    assert.equal(self.peerWatch, "pidfd");
    self.close({ force: true });
    // A bare native address (no host or pid) under "auto": peer-failure handling.
    const bare = b.address().subarray(12 + new DataView(b.address().buffer).getUint32(4, true));
    const viaBare = a.connectAddr(bare);
    assert.equal(viaBare.peerWatch, "peer");
    viaBare.close({ force: true });
    assert.throws(
      () => a.connectAddr(b.address(), { errorHandling: "bogus" as "none" }),
      /"auto", "peer" or "none"/,
    );
    assert.throws(() => a.amStream(0xffff), /0\.\.65534/);
    const ep = a.connectAddr(b.address(), { errorHandling: "none" });
    return assert.rejects(ep.amSend(0xffff), /0\.\.65534/).then(() => ep.close({ force: true }));
  });
});

Deno.test({
  name: "auto: across namespace hosts → UCX peer-failure handling",
  ignore: nsHostsUnavailable() !== null,
  async fn() {
    const h = await createNsHosts(2, { lifetimeS: 120 });
    try {
      const addr = `${h.hosts[0].addr}:7000`;
      const srv = new Deno.Command(h.rsh, {
        args: [h.hosts[0].name, `${Deno.execPath()} run -A ${SCRIPT} server ${addr}`],
        stdin: "null",
        stdout: "piped",
        stderr: "piped",
      }).spawn();
      const lines = splitLines(srv.stdout.pipeThrough(new TextDecoderStream()));
      await deadline(lines.next(), 30_000, "server start");
      const cli = new Deno.Command(h.rsh, {
        args: [h.hosts[1].name, `${Deno.execPath()} run -A ${SCRIPT} client ${addr}`],
        stdin: "null",
        stdout: "piped",
        stderr: "piped",
      }).spawn();
      const { output: o } = await outputWithin(cli, 60_000, { group: true });
      const out = text.decode(o.stdout) + text.decode(o.stderr);
      assert.equal(o.code, 0, out.slice(-3000));
      assert.match(out, /CLIENT peer peer/, out.slice(-3000));
      const st = await deadline(srv.status, 30_000, "server exit");
      assert.equal(st.code, 0);
    } finally {
      await h.close();
    }
  },
});
