import assert from "node:assert/strict";
import {
  CancelledError,
  ClosedError,
  InvalidArgumentError,
  OsError,
  RuntimeStateError,
} from "../../lib/errors.ts";
import { allocAligned, DmaFile, IoUringReactor } from "../../lib/uring/mod.ts";
import { tempPath, withReactor } from "./helpers.ts";

Deno.test("uring: misaligned offset, length and buffer address are refused before submission", async () => {
  const t = await tempPath("align");
  try {
    await Deno.writeFile(t.path, new Uint8Array(65536));
    await withReactor(async (reactor) => {
      await using f = await DmaFile.open(t.path, { write: true });
      const a = f.alignment.offset;
      assert.ok(a >= 512, `logical block size ${a}`);
      const buf = f.alloc(8192);
      await assert.rejects(
        f.read(buf, a + 100),
        (e: unknown) =>
          e instanceof InvalidArgumentError && e.errno === 22 &&
          e.message.includes(
            `offset ${a + 100} is not a multiple of the logical block size ${a}`,
          ) &&
          e.message.includes("misaligned by 100 bytes"),
      );
      await assert.rejects(
        f.write(buf.subarray(0, a + 1), 0),
        (e: unknown) =>
          e instanceof InvalidArgumentError &&
          e.message.includes(`length ${a + 1} is not a multiple`) &&
          e.message.includes("misaligned by 1 byte;"),
      );
      const memAlign = f.alignment.memory;
      if (memAlign > 1) {
        await assert.rejects(
          f.read(buf.subarray(1, 1 + a), 0),
          (e: unknown) =>
            e instanceof InvalidArgumentError &&
            /buffer address 0x[0-9a-f]+ is not aligned/.test(e.message) &&
            e.message.includes("misaligned by 1 byte"),
        );
      }
      await assert.rejects(f.read(buf, -4096), /offset -4096 is not a non-negative integer/);
      await assert.rejects(f.read(buf, 1.5), InvalidArgumentError);
      // @ts-expect-error: not a Uint8Array
      await assert.rejects(f.read([1, 2], 0), /must be a Uint8Array/);
      assert.equal(reactor.status(), 0, "nothing was submitted");
      // Buffered mode has no alignment rules.
      await using g = await DmaFile.open(t.path, { direct: false });
      const odd = new Uint8Array(100);
      assert.equal(await g.read(odd, 3), 100);
    });
  } finally {
    await t.cleanup();
  }
});

Deno.test("uring: operations on a closed file reject with ClosedError; close waits for in-flight ops", async () => {
  const t = await tempPath("closed");
  try {
    await withReactor(async () => {
      const f = await DmaFile.open(t.path, { write: true, create: true });
      const buf = f.alloc(4096).fill(5);
      const inflight = f.write(buf, 0);
      const closing = f.close();
      assert.equal(f.closed, true);
      assert.equal(f.fd, -1);
      assert.equal(await inflight, 4096, "the write started before close completes");
      await closing;
      assert.equal(f.close(), closing, "close is idempotent");
      await assert.rejects(
        f.read(buf, 0),
        (e: unknown) =>
          e instanceof ClosedError && e.errno === 9 &&
          /read of .* the file is closed/.test(e.message),
      );
      await assert.rejects(f.fsync(), ClosedError);
      await assert.rejects(f.stat(), ClosedError);
    });
    assert.equal((await Deno.readFile(t.path))[4095], 5);
  } finally {
    await t.cleanup();
  }
});

Deno.test("uring: kernel errors are typed with errno (ENOENT, EEXIST, EFBIG/ENOSPC)", async () => {
  const t = await tempPath("errno");
  try {
    await withReactor(async () => {
      await assert.rejects(
        DmaFile.open(t.path + ".missing"),
        (e: unknown) =>
          e instanceof OsError && e.code === "ENOENT" && e.errno === 2 &&
          e.message.includes(".missing"),
      );
      await using f = await DmaFile.open(t.path, { write: true, create: true });
      await assert.rejects(
        DmaFile.open(t.path, { write: true, createNew: true }),
        (e: unknown) => e instanceof OsError && e.errno === 17,
      );
      // A file opened read-only refuses writes before submission, saying so.
      await using ro = await DmaFile.open(t.path);
      await assert.rejects(
        ro.write(ro.alloc(4096), 0),
        (e: unknown) =>
          e instanceof InvalidArgumentError && /write of .* opened read-only/.test(e.message),
      );
      // Far more space than the disk has: the filesystem says EFBIG or ENOSPC.
      await assert.rejects(
        f.fallocate(0, 2 ** 52),
        (e: unknown) => e instanceof OsError && (e.errno === 27 || e.errno === 28),
      );
      await assert.rejects(
        DmaFile.open(t.path, { read: false }),
        /at least one of read \/ write/,
      );
      await assert.rejects(DmaFile.open(t.path, { create: true }), /need write: true/);
    });
  } finally {
    await t.cleanup();
  }
});

Deno.test("uring: a 1 GiB fallocated file: size, blocks, zero reads, writes at its end", async () => {
  const t = await tempPath("falloc");
  try {
    await withReactor(async () => {
      await using f = await DmaFile.open(t.path, { write: true, create: true });
      const GiB = 1 << 30;
      await f.fallocate(0, GiB);
      const st = await f.stat();
      assert.equal(st.size, GiB);
      assert.equal(st.isFile, true);
      assert.ok(st.blocks * 512 >= GiB, `allocated ${st.blocks} blocks`);
      const buf = f.alloc(1 << 20).fill(0xee);
      assert.equal(await f.read(buf, GiB - (1 << 20)), 1 << 20);
      assert.ok(buf.every((b) => b === 0), "fallocated space reads as zeros");
      const w = f.alloc(4096).fill(0x5a);
      assert.equal(await f.write(w, GiB - 4096), 4096);
      await f.fsync();
      const r = f.alloc(4096);
      assert.equal(await f.read(r, GiB - 4096), 4096);
      assert.deepEqual(r, w);
      assert.equal(await f.read(r, GiB), 0, "EOF");
      assert.equal(await f.size(), GiB, "writing inside the allocation keeps the size");
    });
  } finally {
    await t.cleanup();
  }
});

Deno.test("uring: a reactor without a runtime or a pool gives clear errors", async () => {
  const r = IoUringReactor.builder().bufferCount(0).build();
  try {
    assert.throws(() => r.tryAcquireBuffer(), RuntimeStateError);
    assert.throws(() => IoUringReactor.builder().queueSize(100), /power of two/);
    assert.throws(() => IoUringReactor.builder().bufferSize(1000), /multiple of 4096/);
    assert.throws(
      () => IoUringReactor.builder().queueSize(8).submitDepth(16).build(),
      /exceeds queueSize/,
    );
  } finally {
    await r.close();
  }
  assert.throws(() => allocAligned(10, 3), /power of two/);
  // Opening through a closed reactor.
  await assert.rejects(DmaFile.open("/tmp", {}, r), ClosedError);
  const ac = new AbortController();
  ac.abort();
  const r2 = IoUringReactor.builder().build();
  await assert.rejects(DmaFile.open("/tmp/x", { signal: ac.signal }, r2), CancelledError);
  await r2.close();
});
