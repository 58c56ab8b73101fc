import assert from "node:assert/strict";
import { CancelledError } from "../../lib/errors.ts";
import { DmaFile } from "../../lib/uring/mod.ts";
import { tempPath, withReactor } from "./helpers.ts";

// The ring reuses the objects of settled reads and writes: results, data and errors must
// still go to the right caller when reuse interleaves with aborts, waits for room in the
// queue (a queue smaller than the loops) and fixed-buffer I/O.
Deno.test("uring: reused operations never mix results: concurrent reads, writes and aborts", async () => {
  const t = await tempPath("op_reuse");
  try {
    const block = 4096;
    const blocks = 512;
    const data = new Uint8Array(block * blocks);
    const view = new DataView(data.buffer);
    for (let b = 0; b < blocks; b++) {
      for (let i = 0; i < block; i += 4) view.setUint32(b * block + i, b * 1_000_003 + i);
    }
    await Deno.writeFile(t.path, data);
    await withReactor(async (reactor) => {
      await using f = await DmaFile.open(t.path, { write: true });
      let x = 12345;
      const next = () => {
        x ^= x << 13;
        x ^= x >>> 17;
        x ^= x << 5;
        return (x >>> 0) % blocks;
      };
      let read = 0;
      let aborted = 0;
      const loops = 48; // more than the queue: some operations wait for room
      await Promise.all(Array.from({ length: loops }, async (_, w) => {
        const buf = f.alloc(block);
        const fixed = w % 4 === 0 ? await reactor.acquireBuffer() : undefined;
        try {
          for (let k = 0; k < 150; k++) {
            const b = next();
            const dst = fixed ? fixed.bytes : buf;
            dst.fill(0);
            if (k % 7 === 3) {
              const ac = new AbortController();
              if (k % 2 === 0) ac.abort();
              const p = fixed
                ? f.readFixed(fixed, b * block, { signal: ac.signal, length: block })
                : f.read(buf, b * block, { signal: ac.signal });
              ac.abort();
              try {
                await p;
              } catch (e) {
                assert.ok(e instanceof CancelledError, String(e));
                aborted++;
                continue;
              }
            } else if (k % 11 === 5) {
              // Rewrite the block with its own content: a write result among the reads.
              const src = data.subarray(b * block, (b + 1) * block);
              if (fixed) {
                fixed.bytes.set(src);
                assert.equal(await f.writeFixed(fixed, b * block, { length: block }), block);
              } else {
                buf.set(src);
                assert.equal(await f.write(buf, b * block), block);
              }
              continue;
            } else {
              const n = fixed
                ? await f.readFixed(fixed, b * block, { length: block })
                : await f.read(buf, b * block);
              assert.equal(n, block);
            }
            const got = new DataView(dst.buffer, dst.byteOffset, block);
            for (let i = 0; i < block; i += 256) {
              assert.equal(got.getUint32(i), b * 1_000_003 + i, `loop ${w} block ${b} byte ${i}`);
            }
            read++;
          }
        } finally {
          fixed?.release();
        }
      }));
      assert.ok(read > loops * 100, `${read} reads checked`);
      assert.ok(aborted > 0 || read > 0);
      assert.equal(reactor.status(), 0);
    }, (b) => b.queueSize(16).submitDepth(8).bufferSize(4096).bufferCount(16));
  } finally {
    await t.cleanup();
  }
});
