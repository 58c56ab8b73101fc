import assert from "node:assert/strict";
import { allocAligned, DmaFile } from "../../lib/uring/mod.ts";
import { pattern, tempPath, withReactor } from "./helpers.ts";

Deno.test("uring: write a pattern at depth 64 with O_DIRECT, read it back, compare with Deno.readFile", async () => {
  const t = await tempPath("integrity");
  try {
    const block = 16 * 1024;
    const blocks = 256; // 4 MiB
    await withReactor(async () => {
      await using f = await DmaFile.open(t.path, { write: true, create: true, truncate: true });
      assert.equal(f.direct, true);
      assert.equal(f.alignment.offset > 0 && f.alignment.offset <= 4096, true);
      const depth = 64;
      let next = 0;
      const worker = async () => {
        const buf = f.alloc(block);
        while (next < blocks) {
          const i = next++;
          pattern(buf, i * block);
          assert.equal(await f.write(buf, i * block), block);
        }
      };
      await Promise.all(Array.from({ length: depth }, worker));
      await f.fsync();
      assert.equal(await f.size(), block * blocks);

      next = 0;
      const expect = new Uint8Array(block);
      const reader = async () => {
        const buf = f.alloc(block);
        while (next < blocks) {
          const i = next++;
          buf.fill(0);
          assert.equal(await f.read(buf, i * block), block);
          pattern(expect, i * block);
          assert.deepEqual(buf, expect, `block ${i}`);
        }
      };
      await Promise.all(Array.from({ length: depth }, reader));
      // Past the end: 0 bytes; straddling the end: a short read.
      const buf = f.alloc(block);
      assert.equal(await f.read(buf, block * blocks), 0);
    });
    const all = await Deno.readFile(t.path);
    const expect = new Uint8Array(block * blocks);
    pattern(expect, 0);
    assert.equal(all.length, expect.length);
    assert.deepEqual(all, expect);
  } finally {
    await t.cleanup();
  }
});

Deno.test("uring: short read at EOF returns the byte count", async () => {
  const t = await tempPath("eof");
  try {
    const data = new Uint8Array(4096 + 512);
    pattern(data, 0, 9);
    await Deno.writeFile(t.path, data);
    await withReactor(async () => {
      await using f = await DmaFile.open(t.path);
      const buf = allocAligned(8192);
      const n = await f.read(buf, 0);
      assert.equal(n, data.length);
      assert.deepEqual(buf.subarray(0, n), data);
    });
  } finally {
    await t.cleanup();
  }
});
