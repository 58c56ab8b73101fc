/**
 * UCX Active Message bandwidth between two processes, through pluvio.
 *
 * ```sh
 * deno run -A examples/ucx_example.ts                       # spawns a server, runs a client
 * deno run -A examples/ucx_example.ts auto [size] [count] [window]
 * deno run -A examples/ucx_example.ts server 127.0.0.1:0    # prints "listening on ip:port"
 * deno run -A examples/ucx_example.ts client 127.0.0.1:PORT [size] [count] [window]
 * ```
 *
 * The client keeps `window` sends of `size` bytes in flight until `count` messages are
 * sent, then asks the server how many messages and bytes it received, and prints
 * MiB/s and messages/s computed from the messages actually sent (Pluvio's original
 * example multiplied by the window a second time and printed figures 32× too high).
 * UCX settings come from the `UCX_*` variables (e.g. `UCX_TLS=tcp`).
 *
 * @module
 */
import { Runtime } from "../mod.ts";
import { type AmMessage, Context, type Worker } from "../lib/ucx/mod.ts";

const DATA = 1, DONE = 2, REPORT = 3;

async function server(worker: Worker, addr: string): Promise<void> {
  using listener = worker.createListener(addr);
  console.log(`listening on ${listener.address}`);
  const data = worker.amStream(DATA);
  const done = worker.amStream(DONE);
  const req = await listener.next();
  const ep = await worker.accept(req);
  let count = 0, bytes = 0;
  // Rendezvous payloads are pulled concurrently (a few buffers), so the sender's window
  // is not serialised behind one transfer at a time.
  const pool: Uint8Array[] = [];
  const inflight = new Set<Promise<void>>();
  const pull = async (m: AmMessage) => {
    const buf = pool.pop() ?? new Uint8Array(m.dataLength);
    const got = await m.recvData(buf.length >= m.dataLength ? buf : new Uint8Array(m.dataLength));
    bytes += got.length;
    count++;
    pool.push(buf);
  };
  const receiving = (async () => {
    for await (const m of data) {
      if (!m.isRendezvous) {
        bytes += m.dataLength;
        count++;
        continue;
      }
      const p = pull(m).finally(() => inflight.delete(p));
      inflight.add(p);
      if (inflight.size >= 8) await Promise.race(inflight);
    }
  })();
  const end = await done.recv();
  await Promise.all(inflight);
  // Messages before DONE were all dispatched to `data` already (same endpoint, in order).
  const expected = new DataView(end.header.buffer, end.header.byteOffset).getFloat64(0, true);
  while (count < expected) await new Promise((r) => setTimeout(r, 1));
  await ep.amSend(REPORT, new Float64Array([count, bytes]));
  await ep.flush();
  data.close();
  await receiving;
  await ep.close();
}

async function client(worker: Worker, addr: string, size: number, count: number, window: number) {
  const ep = await worker.connectSocket(addr);
  const report = worker.amStream(REPORT);
  const payload = new Uint8Array(size).fill(7);
  // Warm-up (connection, registration caches), not timed.
  for (let i = 0; i < Math.min(window, count); i++) await ep.amSend(DATA, undefined, payload);
  const inflight: Promise<void>[] = [];
  const t0 = performance.now();
  for (let i = 0; i < count; i++) {
    inflight.push(ep.amSend(DATA, undefined, payload));
    if (inflight.length >= window) await inflight.shift();
  }
  await Promise.all(inflight);
  await ep.flush(); // every message has reached the server
  const seconds = (performance.now() - t0) / 1000;
  const total = count + Math.min(window, count);
  const r = report.recv();
  await ep.amSend(DONE, new Float64Array([total]));
  const m = await r;
  const [got, bytes] = new Float64Array(m.header.slice().buffer);
  if (got !== total || bytes !== total * size) {
    throw new Error(
      `server received ${got} messages / ${bytes} B, expected ${total} / ${total * size}`,
    );
  }
  const mib = (count * size) / (1 << 20);
  console.log(
    `${count} messages of ${size} B, window ${window}: ${seconds.toFixed(3)} s, ` +
      `${(mib / seconds).toFixed(1)} MiB/s, ${(count / seconds).toFixed(0)} messages/s`,
  );
  await ep.close();
}

async function main(args: string[]): Promise<void> {
  const [mode = "auto"] = args;
  if (mode === "auto") {
    const [, size = "1048576", count = "2000", window = "32"] = args;
    // Both sides: a server child, this process as the client.
    const child = new Deno.Command(Deno.execPath(), {
      args: ["run", "-A", new URL(import.meta.url).pathname, "server", "127.0.0.1:0"],
      stdout: "piped",
      stdin: "null",
    }).spawn();
    const reader = child.stdout.pipeThrough(new TextDecoderStream()).getReader();
    let line = "";
    while (!line.includes("\n")) {
      const { value, done } = await reader.read();
      if (done) throw new Error("the server exited before listening");
      line += value;
    }
    const where = /listening on (\S+)/.exec(line)?.[1];
    if (!where) throw new Error(`unexpected server output: ${line}`);
    const timer = setTimeout(() => child.kill("SIGKILL"), 60_000);
    let failure: unknown = null;
    try {
      await main(["client", where, size, count, window]);
    } catch (e) {
      failure = e;
      child.kill("SIGKILL");
    }
    const st = await child.status;
    clearTimeout(timer);
    reader.releaseLock();
    if (failure) throw failure;
    if (!st.success) throw new Error(`server failed (${st.code})`);
    return;
  }
  const [, addr, size = "1048576", count = "2000", window = "32"] = args;
  const rt = new Runtime();
  try {
    await rt.run(async () => {
      using ctx = new Context();
      using worker = ctx.createWorker();
      if (mode === "server") await server(worker, addr ?? "0.0.0.0:13337");
      else if (mode === "client" && addr) {
        await client(worker, addr, Number(size), Number(count), Number(window));
      } else throw new Error("usage: ucx_example.ts [server host:port | client host:port ...]");
    });
  } finally {
    rt.close();
  }
}

await main(Deno.args);
