import assert from "node:assert/strict";
import { CancelledError, ClosedError, InvalidArgumentError } from "../../lib/errors.ts";
import { DmaFile, IoUringReactor } from "../../lib/uring/mod.ts";
import { pattern, tempPath, withReactor } from "./helpers.ts";

Deno.test("uring: writeFixed / readFixed round trip through registered buffers", async () => {
  const t = await tempPath("fixed");
  try {
    await withReactor(async (reactor) => {
      await using f = await DmaFile.open(t.path, { write: true, create: true });
      const size = reactor.options.bufferSize;
      const n = 16;
      await Promise.all(Array.from({ length: n }, async (_, i) => {
        using b = await f.acquireBuffer();
        assert.equal(b.address % 4096, 0, "registered buffers are page aligned");
        pattern(b.bytes, i * size, 3);
        assert.equal(await f.writeFixed(b, i * size), size);
      }));
      await f.fdatasync();
      await Promise.all(Array.from({ length: n }, async (_, i) => {
        using b = await f.acquireBuffer();
        b.bytes.fill(0);
        // A partial fixed read: only the first half of the buffer.
        const half = size / 2;
        assert.equal(await f.readFixed(b, i * size, { length: half }), half);
        const expect = new Uint8Array(half);
        pattern(expect, i * size, 3);
        assert.deepEqual(b.bytes.subarray(0, half), expect);
        assert.equal(b.bytes[half], 0, "bytes past length untouched");
      }));
    }, (b) => b.bufferSize(64 * 1024).bufferCount(8));
    const all = await Deno.readFile(t.path);
    const expect = new Uint8Array(16 * 64 * 1024);
    pattern(expect, 0, 3);
    assert.deepEqual(all, expect);
  } finally {
    await t.cleanup();
  }
});

Deno.test("uring: pool exhaustion makes acquireBuffer wait, served in FIFO order", async () => {
  await withReactor(async (reactor) => {
    const pool = reactor.bufferPool!;
    assert.equal(pool.available, 2);
    const a = await reactor.acquireBuffer();
    const b = await reactor.acquireBuffer();
    assert.equal(pool.available, 0);
    assert.equal(reactor.tryAcquireBuffer(), undefined);
    const order: number[] = [];
    const waiters = [1, 2, 3, 4].map((i) =>
      reactor.acquireBuffer().then((buf) => {
        order.push(i);
        return buf;
      })
    );
    // An aborted waiter leaves the queue without taking a buffer.
    const ac = new AbortController();
    const aborted = reactor.acquireBuffer({ signal: ac.signal });
    const late = reactor.acquireBuffer().then((buf) => {
      order.push(5);
      return buf;
    });
    await new Promise((r) => setTimeout(r, 5));
    assert.deepEqual(order, [], "nobody is served while the pool is empty");
    assert.equal(pool.waiting, 6);
    ac.abort();
    await assert.rejects(aborted, CancelledError);
    a.release();
    b.release();
    const [w1, w2] = await Promise.all([waiters[0], waiters[1]]);
    assert.deepEqual(order, [1, 2]);
    w1.release();
    w2.release();
    const [w3, w4] = await Promise.all([waiters[2], waiters[3]]);
    assert.deepEqual(order, [1, 2, 3, 4]);
    w3.release();
    const w5 = await late;
    assert.deepEqual(order, [1, 2, 3, 4, 5]);
    w4.release();
    w5.release();
    assert.equal(pool.available, 2);
    assert.equal(pool.waiting, 0);
  }, (b) => b.bufferSize(4096).bufferCount(2));
});

Deno.test("uring: releasing a FixedBuffer twice is an error, not a second buffer in the pool", async () => {
  await withReactor(async (reactor) => {
    const pool = reactor.bufferPool!;
    const a = await reactor.acquireBuffer();
    a.release();
    assert.throws(() => a.release(), InvalidArgumentError);
    assert.throws(() => a.bytes, ClosedError, "a released lease cannot touch the memory");
    assert.equal(pool.available, 1);
    const b = await reactor.acquireBuffer();
    assert.equal(b.index, a.index);
    assert.throws(() => a.release(), /already released/);
    assert.equal(pool.available, 0, "the stale lease did not free b's buffer");
    b[Symbol.dispose]();
    b[Symbol.dispose](); // dispose after release is a no-op
    assert.equal(pool.available, 1);
  }, (b) => b.bufferSize(4096).bufferCount(1));
});

Deno.test("uring: a buffer in use by an in-flight operation cannot be released; other reactor's buffers are refused", async () => {
  const t = await tempPath("busy");
  const other = IoUringReactor.builder().bufferSize(4096).bufferCount(1).build();
  try {
    await withReactor(async () => {
      await using f = await DmaFile.open(t.path, { write: true, create: true });
      const b = await f.acquireBuffer();
      const p = f.writeFixed(b, 0);
      assert.throws(() => b.release(), /in use by 1 in-flight/);
      assert.equal(await p, 4096);
      b.release();
      const foreign = await other.acquireBuffer();
      await assert.rejects(f.writeFixed(foreign, 0), /belongs to another reactor/);
      await assert.rejects(f.readFixed(b, 0), ClosedError);
      foreign.release();
    }, (b) => b.bufferSize(4096).bufferCount(2));
  } finally {
    await other.close();
    await t.cleanup();
  }
});

Deno.test("uring: closing the reactor fails buffer waiters; held views stay valid memory", async () => {
  const reactor = IoUringReactor.builder().bufferSize(4096).bufferCount(1).build();
  const held = await reactor.acquireBuffer();
  const bytes = held.bytes;
  bytes[0] = 1;
  const waiter = reactor.acquireBuffer();
  await reactor.close();
  await assert.rejects(waiter, ClosedError);
  // The pool memory is garbage-collected memory that cannot be detached: a view still
  // held reads what it held, never unmapped memory.
  assert.equal(bytes.length, 4096);
  assert.equal(bytes[0], 1);
  assert.throws(() => bytes.buffer.transfer(), TypeError, "pool memory cannot be detached");
  await assert.rejects(reactor.acquireBuffer(), ClosedError);
});
