/**
 * Remote file I/O over UCX Active Messages, served with io_uring and registered
 * (fixed) buffers: the client sends write and read requests; the server pulls each
 * write payload straight into a registered buffer, writes it with `O_DIRECT`, reads
 * into registered buffers and sends the data back.
 *
 * ```sh
 * deno run -A examples/remoteio_example.ts            # spawns a server, runs a client
 * deno run -A examples/remoteio_example.ts server 127.0.0.1:0 [file] [bs] [buffers]
 * deno run -A examples/remoteio_example.ts client 127.0.0.1:PORT [count] [bs] [qd]
 * ```
 *
 * Requests (AM header: u32 request id, u32 length, f64 file offset): AM 10 = write
 * (payload = the block), AM 12 = read; replies: AM 11 / AM 13 with header [id, result]
 * (bytes, or -errno) and, for reads, the block. AM 14 stops the server.
 *
 * @module
 */
import { PeerError, Runtime } from "@pluvio/pluvio";
import { type AmMessage, Context, type Worker } from "@pluvio/pluvio/ucx";
import { DmaFile, IoUringReactor } from "@pluvio/pluvio/uring";

const WRITE = 10, WRITE_DONE = 11, READ = 12, READ_DONE = 13, QUIT = 14, QUIT_ACK = 15;

function header(id: number, len: number, offset: number): Uint8Array {
  const b = new Uint8Array(16);
  const v = new DataView(b.buffer);
  v.setUint32(0, id, true);
  v.setUint32(4, len, true);
  v.setFloat64(8, offset, true);
  return b;
}

function parse(h: Uint8Array): { id: number; len: number; offset: number } {
  const v = new DataView(h.buffer, h.byteOffset, h.byteLength);
  return { id: v.getUint32(0, true), len: v.getUint32(4, true), offset: v.getFloat64(8, true) };
}

function result(id: number, n: number): Uint8Array {
  return new Uint8Array(new Int32Array([id, n]).buffer);
}

async function server(worker: Worker, addr: string, path: string, bs: number, buffers: number) {
  const reactor = IoUringReactor.builder().queueSize(64).bufferSize(bs).bufferCount(buffers)
    .build();
  const rt = runtime!;
  rt.registerReactor("io_uring", reactor);
  await using file = await DmaFile.open(path, { read: true, write: true, create: true });
  using listener = worker.createListener(addr);
  console.log(`listening on ${listener.address}`);
  const writes = worker.amStream(WRITE);
  const reads = worker.amStream(READ);
  const quit = worker.amStream(QUIT);
  const ep = await worker.accept(await listener.next());
  const errno = (e: unknown) => -((e as { errno?: number }).errno ?? 5);

  const serveWrite = async (m: AmMessage) => {
    const { id, len, offset } = parse(m.header);
    using buf = await file.acquireBuffer();
    let r: number;
    try {
      if (len > buf.size || m.dataLength !== len) {
        throw Object.assign(new Error("size"), { errno: 22 });
      }
      // A rendezvous payload lands directly in the registered buffer.
      await m.recvData(buf.bytes);
      r = await file.writeFixed(buf, offset, { length: len });
    } catch (e) {
      m.release();
      r = errno(e);
    }
    await ep.amSend(WRITE_DONE, result(id, r));
  };
  const serveRead = async (m: AmMessage) => {
    const { id, len, offset } = parse(m.header);
    using buf = await file.acquireBuffer();
    let r: number;
    try {
      if (len > buf.size) throw Object.assign(new Error("size"), { errno: 22 });
      r = await file.readFixed(buf, offset, { length: len });
    } catch (e) {
      r = errno(e);
    }
    // The buffer goes back to the pool only after UCX has sent it.
    await ep.amSend(READ_DONE, result(id, r), r > 0 ? buf.bytes.subarray(0, r) : undefined);
  };
  const loop = async (s: AsyncIterable<AmMessage>, f: (m: AmMessage) => Promise<void>) => {
    const inflight = new Set<Promise<void>>();
    for await (const m of s) {
      const p = f(m).finally(() => inflight.delete(p));
      inflight.add(p);
    }
    await Promise.all(inflight);
  };
  const served = Promise.all([loop(writes, serveWrite), loop(reads, serveRead)]);
  await quit.recv();
  writes.close();
  reads.close();
  await served;
  // Acknowledged once every request is served; the client closes when it has the
  // acknowledgement, which may reset this flush: that is the end we wanted.
  await ep.amSend(QUIT_ACK);
  await ep.flush().catch((e) => {
    if (!(e instanceof PeerError)) throw e;
  });
  await ep.close({ force: true });
  await file.close();
  await Deno.remove(path).catch(() => {});
  await reactor.close();
}

async function client(worker: Worker, addr: string, count: number, bs: number, qd: number) {
  const ep = await worker.connectSocket(addr);
  const done = new Map<number, (m: AmMessage) => void>();
  const pump = async (id: number) => {
    for await (const m of worker.amStream(id)) {
      done.get(new Int32Array(m.header.slice().buffer)[0])?.(m);
    }
  };
  pump(WRITE_DONE).catch(() => {});
  pump(READ_DONE).catch(() => {});
  let nextId = 0;
  const call = (am: number, offset: number, data?: Uint8Array) => {
    const id = nextId++;
    const reply = new Promise<AmMessage>((r) => done.set(id, r));
    const sent = ep.amSend(am, header(id, bs, offset), data);
    return Promise.all([reply, sent]).then(([m]) => {
      done.delete(id);
      return m;
    });
  };
  const block = (i: number) => {
    const b = new Uint8Array(bs);
    const v = new DataView(b.buffer);
    for (let o = 0; o < bs; o += 8) v.setFloat64(o, i * bs + o, true);
    return b;
  };
  const phase = async (name: string, body: (i: number) => Promise<void>) => {
    let next = 0;
    const t0 = performance.now();
    await Promise.all(Array.from({ length: qd }, async () => {
      while (next < count) await body(next++);
    }));
    const s = (performance.now() - t0) / 1000;
    console.log(
      `${name}: ${count} × ${bs} B, qd ${qd}: ${
        ((count * bs) / (1 << 20) / s).toFixed(1)
      } MiB/s, ` +
        `${(count / s).toFixed(0)} requests/s`,
    );
  };
  await phase("remote write", async (i) => {
    const m = await call(WRITE, i * bs, block(i));
    const r = new Int32Array(m.header.slice().buffer)[1];
    if (r !== bs) throw new Error(`write of block ${i} returned ${r}`);
  });
  await phase("remote read", async (i) => {
    const m = await call(READ, i * bs);
    const r = new Int32Array(m.header.slice().buffer)[1];
    if (r !== bs) throw new Error(`read of block ${i} returned ${r}`);
    const data = await m.recvData();
    const v = new Float64Array(data.slice().buffer);
    for (let k = 0; k < v.length; k++) {
      if (v[k] !== i * bs + k * 8) throw new Error(`block ${i} came back different at ${k * 8}`);
    }
  });
  console.log(`verified ${count} blocks`);
  // QUIT, then close once the server acknowledged it: closing right after QUIT (or
  // flushing while the server closes) raced with the server's own close.
  const ack = worker.amStream(QUIT_ACK).recv();
  await ep.amSend(QUIT);
  await ack;
  await ep.close({ force: true });
}

let runtime: Runtime | undefined;

async function main(args: string[]): Promise<void> {
  const [mode = "auto"] = args;
  if (mode === "auto") {
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
    const timer = setTimeout(() => child.kill("SIGKILL"), 120_000);
    let failure: unknown = null;
    try {
      await main(["client", where]);
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
  const [, addr = "127.0.0.1:0", a = "", b = "", c = ""] = args;
  runtime = new Runtime();
  try {
    await runtime.run(async () => {
      using ctx = new Context();
      using worker = ctx.createWorker();
      if (mode === "server") {
        await server(
          worker,
          addr,
          a || `/tmp/pluvio_remoteio_${Deno.pid}.dat`,
          Number(b || 1 << 20),
          Number(c || 16),
        );
      } else if (mode === "client") {
        await client(worker, addr, Number(a || 256), Number(b || 1 << 20), Number(c || 8));
      } else throw new Error("usage: remoteio_example.ts [server host:port | client host:port]");
    });
  } finally {
    runtime.close();
  }
}

await main(Deno.args);
