/**
 * Deno's own TCP on loopback, the baseline of the UCX benchmark.
 *
 * `deno run -A bench/ucx/tcp_side.ts server` listens on 127.0.0.1:0 and prints the port;
 * per connection it reads a 9-byte command [mode u8, size u32, count u32] then either
 * echoes `count` messages of `size` bytes (mode 1, ping-pong) or reads `count * size`
 * bytes and answers one byte (mode 2, bandwidth).
 * `deno run -A bench/ucx/tcp_side.ts client <port> <sizes> <rounds>` prints
 * `{ lat: { [size]: one-way µs }, bw: { [size]: MiB/s } }` (medians).
 *
 * @module
 */

async function readFull(c: Deno.Conn, buf: Uint8Array): Promise<void> {
  let off = 0;
  while (off < buf.length) {
    const n = await c.read(buf.subarray(off));
    if (n === null) throw new Error("connection closed");
    off += n;
  }
}

async function writeFull(c: Deno.Conn, buf: Uint8Array): Promise<void> {
  let off = 0;
  while (off < buf.length) off += await c.write(buf.subarray(off));
}

async function serve(c: Deno.TcpConn): Promise<void> {
  c.setNoDelay(true);
  const cmd = new Uint8Array(9);
  for (;;) {
    try {
      await readFull(c, cmd);
    } catch {
      return;
    }
    const dv = new DataView(cmd.buffer);
    const size = dv.getUint32(1, true), count = dv.getUint32(5, true);
    const buf = new Uint8Array(size);
    if (cmd[0] === 1) {
      for (let i = 0; i < count; i++) {
        await readFull(c, buf);
        await writeFull(c, buf);
      }
    } else {
      let left = size * count;
      const chunk = new Uint8Array(1 << 20);
      while (left > 0) {
        const n = await c.read(chunk.subarray(0, Math.min(chunk.length, left)));
        if (n === null) return;
        left -= n;
      }
      await writeFull(c, new Uint8Array(1));
    }
  }
}

function median(v: number[]): number {
  const s = [...v].sort((a, b) => a - b);
  return s[s.length >> 1];
}

async function command(c: Deno.Conn, mode: number, size: number, count: number) {
  const cmd = new Uint8Array(9);
  const dv = new DataView(cmd.buffer);
  cmd[0] = mode;
  dv.setUint32(1, size, true);
  dv.setUint32(5, count, true);
  await writeFull(c, cmd);
}

async function client(port: number, sizes: number[], rounds: number) {
  const c = await Deno.connect({ hostname: "127.0.0.1", port, transport: "tcp" });
  c.setNoDelay(true);
  const out: { lat: Record<number, number>; bw: Record<number, number> } = { lat: {}, bw: {} };
  for (const size of sizes) {
    const buf = new Uint8Array(size);
    const iters = size >= 1 << 20 ? 300 : size >= 4096 ? 10_000 : 20_000;
    const l: number[] = [];
    for (let r = 0; r < rounds; r++) {
      await command(c, 1, size, iters + iters / 10);
      for (let i = 0; i < iters / 10; i++) {
        await writeFull(c, buf);
        await readFull(c, buf);
      }
      const t0 = performance.now();
      for (let i = 0; i < iters; i++) {
        await writeFull(c, buf);
        await readFull(c, buf);
      }
      l.push(((performance.now() - t0) * 1000) / iters / 2);
    }
    const count = size >= 1 << 20 ? 1500 : size >= 4096 ? 100_000 : 200_000;
    const b: number[] = [];
    const ack = new Uint8Array(1);
    for (let r = 0; r < rounds; r++) {
      await command(c, 2, size, count);
      const t0 = performance.now();
      for (let i = 0; i < count; i++) await writeFull(c, buf);
      await readFull(c, ack);
      b.push((count * size) / (1 << 20) / ((performance.now() - t0) / 1000));
    }
    out.lat[size] = median(l);
    out.bw[size] = median(b);
  }
  c.close();
  console.log(JSON.stringify(out));
}

if (Deno.args[0] === "server") {
  const l = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  console.log((l.addr as Deno.NetAddr).port);
  const c = await l.accept();
  await serve(c);
  l.close();
} else {
  await client(Number(Deno.args[1]), Deno.args[2].split(",").map(Number), Number(Deno.args[3]));
}
