import assert from "node:assert/strict";
import { CancelledError } from "../../lib/errors.ts";
import { DmaFile } from "../../lib/uring/mod.ts";
import { pattern, tempPath, withReactor } from "./helpers.ts";

async function mkfifo(path: string): Promise<void> {
  const r = await new Deno.Command("mkfifo", { args: [path] }).output();
  assert.ok(r.success, "mkfifo failed");
}

Deno.test("uring: cancelling a read the kernel is blocked on (empty FIFO) rejects with CancelledError", async () => {
  const t = await tempPath("fifo");
  try {
    await mkfifo(t.path);
    await withReactor(async (reactor) => {
      // O_RDWR on a FIFO opens without a peer; a read then waits for data forever.
      await using f = await DmaFile.open(t.path, { write: true, direct: false });
      const ac = new AbortController();
      const buf = new Uint8Array(64);
      const started = performance.now();
      const p = f.read(buf, 0, { signal: ac.signal });
      await new Promise((r) => setTimeout(r, 30));
      assert.equal(reactor.status(), 1, "the read is in flight");
      ac.abort(new Error("user gave up"));
      await assert.rejects(
        p,
        (e: unknown) =>
          e instanceof CancelledError && e.errno === 125 &&
          /read of .* was cancelled$/.test(e.message) &&
          (e.cause as Error).message === "user gave up",
      );
      assert.ok(performance.now() - started < 5000);
      assert.equal(reactor.status(), 0, "the read and its cancel have completed");
      // The file still works: data written now is read by a new read.
      const w = new TextEncoder().encode("hello");
      assert.equal(await f.write(w, 0), 5);
      assert.equal(await f.read(buf, 0), 5);
      assert.equal(new TextDecoder().decode(buf.subarray(0, 5)), "hello");
    });
  } finally {
    await t.cleanup();
  }
});

Deno.test("uring: cancelling many in-flight O_DIRECT reads: every promise settles, no slot leaks", async () => {
  const t = await tempPath("cancel_many");
  try {
    const block = 64 * 1024;
    const blocks = 256;
    const data = new Uint8Array(block * blocks);
    pattern(data, 0, 5);
    await Deno.writeFile(t.path, data);
    await withReactor(async (reactor) => {
      await using f = await DmaFile.open(t.path);
      const ac = new AbortController();
      const bufs = Array.from({ length: blocks }, () => f.alloc(block));
      const ps = bufs.map((b, i) => f.read(b, i * block, { signal: ac.signal }));
      // Let part of them reach the kernel, then cancel everything still pending.
      await new Promise((r) => setTimeout(r, 1));
      ac.abort();
      const results = await Promise.allSettled(ps);
      let done = 0, cancelled = 0;
      results.forEach((r, i) => {
        if (r.status === "fulfilled") {
          done++;
          assert.equal(r.value, block);
          assert.deepEqual(bufs[i], data.subarray(i * block, (i + 1) * block));
        } else {
          cancelled++;
          assert.ok(r.reason instanceof CancelledError, String(r.reason));
        }
      });
      assert.equal(done + cancelled, blocks);
      assert.ok(cancelled > 0, `some reads were cancelled (done ${done})`);
      assert.equal(reactor.status(), 0);
      // The reactor is healthy afterwards.
      const b = f.alloc(block);
      assert.equal(await f.read(b, 0), block);
      assert.deepEqual(b, data.subarray(0, block));
    }, (b) => b.queueSize(64).submitDepth(16));
  } finally {
    await t.cleanup();
  }
});

Deno.test("uring: a write cancelled before its batch is submitted never reaches the file", async () => {
  const t = await tempPath("cancel_batched");
  try {
    await withReactor(async () => {
      await using f = await DmaFile.open(t.path, { write: true, create: true });
      const buf = f.alloc(4096).fill(0x77);
      const ac = new AbortController();
      const p = f.write(buf, 0, { signal: ac.signal });
      ac.abort(); // synchronously: the write is still in the submission area
      await assert.rejects(p, CancelledError);
      assert.equal(await f.size(), 0, "the write was turned into a no-op");
      // An already-aborted signal rejects at once.
      await assert.rejects(f.write(buf, 0, { signal: ac.signal }), /cancelled before submission/);
    });
  } finally {
    await t.cleanup();
  }
});
