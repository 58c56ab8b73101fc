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
 * sent (the server receives them into buffers posted with an `AmReceiver`), then asks
 * the server how many messages and bytes it received, and prints MiB/s and messages/s
 * computed from the messages actually sent (Pluvio's original example multiplied by the
 * window a second time and printed figures 32× too high).
 * UCX settings come from the `UCX_*` variables (e.g. `UCX_TLS=tcp`).
 *
 * @module
 */
import { ClosedError, Runtime } from "@pluvio/pluvio";
import { type AmMessage, Context, DONE, type Worker } from "@pluvio/pluvio/ucx";

const DATA = 1, END = 2, REPORT = 3, HELLO = 4;
/** Receives the server keeps posted: several transfers land at once. */
const POSTED = 8;

async function server(worker: Worker, addr: string): Promise<void> {
  using listener = worker.createListener(addr);
  console.log(`listening on ${listener.address}`);
  // Data messages land in buffers posted ahead of time (an AmReceiver): eager payloads are
  // copied and rendezvous pulls started inside the UCX callback, with no JavaScript turn
  // between a message's arrival and its transfer. Messages that come before a buffer is
  // posted are held by the worker until the next post.
  using data = worker.amReceiver(DATA);
  const hello = worker.amStream(HELLO);
  const end = worker.amStream(END);
  const req = await listener.next();
  const ep = await worker.accept(req);
  // The client announces its message size first (same endpoint: it arrives before data).
  const size = new DataView((await hello.recv()).header.slice().buffer).getFloat64(0, true);
  let count = 0, bytes = 0;
  let expected = Infinity;
  const post = (buf: Uint8Array) => {
    const p = data.recvInto(buf);
    p.catch(() => {}); // receives still posted at the end reject with ClosedError
    return p;
  };
  const slots = Array.from({ length: POSTED }, () => {
    const buf = new Uint8Array(size);
    return { buf, p: post(buf) };
  });
  const receiving = (async () => {
    // Completions come in posting order, which is arrival order.
    for (let i = 0; count < expected; i = (i + 1) % POSTED) {
      const s = slots[i];
      let m: AmMessage;
      try {
        m = await s.p;
      } catch (e) {
        if (e instanceof ClosedError) return; // all in: receives left posted are withdrawn
        throw e;
      }
      bytes += m.dataLength;
      count++;
      s.p = post(s.buf);
    }
  })();
  const last = await end.recv();
  expected = new DataView(last.header.slice().buffer).getFloat64(0, true);
  while (count < expected) await new Promise((r) => setTimeout(r, 1));
  data.close();
  await receiving;
  await ep.amSend(REPORT, new Float64Array([count, bytes]));
  // close() flushes the report out; the client may close as soon as it has it, and
  // closing an endpoint whose peer has gone resolves.
  await ep.close();
}

async function client(worker: Worker, addr: string, size: number, count: number, window: number) {
  const ep = await worker.connectSocket(addr);
  const report = worker.amStream(REPORT);
  const payload = new Uint8Array(size).fill(7);
  await ep.amSend(HELLO, new Float64Array([size]));
  // Warm-up (connection, registration caches), not timed.
  for (let i = 0; i < Math.min(window, count); i++) await ep.amSend(DATA, undefined, payload);
  const inflight: Promise<void>[] = [];
  const t0 = performance.now();
  for (let i = 0; i < count; i++) {
    const p = ep.amSend(DATA, undefined, payload);
    if (p === DONE) continue; // finished at once (small eager sends): nothing in flight
    inflight.push(p);
    if (inflight.length >= window) await inflight.shift();
  }
  await Promise.all(inflight);
  await ep.flush(); // every message has reached the server
  const seconds = (performance.now() - t0) / 1000;
  const total = count + Math.min(window, count);
  const r = report.recv();
  await ep.amSend(END, new Float64Array([total]));
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
