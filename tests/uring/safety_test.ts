/**
 * No wrong data and no crash from any call sequence: each case is a defect a new user
 * ran into (issue "io_uring at the CPU limit, …, no crash").
 */
import assert from "node:assert/strict";
import { Runtime } from "../../mod.ts";
import { ClosedError, InvalidArgumentError } from "../../lib/errors.ts";
import { allocAligned, DmaFile, IoUringReactor } from "../../lib/uring/mod.ts";
import { tempPath, withReactor } from "./helpers.ts";

const isInvalid = (re: RegExp) => (e: unknown) =>
  e instanceof InvalidArgumentError && re.test(e.message);

Deno.test("uring: a number or string where options go is refused before submission, no bytes move", async () => {
  const t = await tempPath("optnum");
  try {
    await Deno.writeFile(t.path, new Uint8Array(65536).fill(9));
    await withReactor(async (reactor) => {
      await using f = await DmaFile.open(t.path, { write: true });
      using buf = await f.acquireBuffer();
      buf.bytes.fill(1);
      const plain = f.alloc(4096);
      const obj = /options must be an object/;
      // @ts-expect-error: a length where the options object goes
      await assert.rejects(f.readFixed(buf, 0, 4096), isInvalid(obj));
      // @ts-expect-error: as above
      await assert.rejects(f.writeFixed(buf, 65536, 4096), isInvalid(obj));
      // @ts-expect-error: as above
      await assert.rejects(f.read(plain, 0, 4096), isInvalid(obj));
      // @ts-expect-error: as above
      await assert.rejects(f.write(plain, 0, "x"), isInvalid(obj));
      // @ts-expect-error: as above
      await assert.rejects(f.fallocate(0, 4096, 1), isInvalid(obj));
      // @ts-expect-error: as above
      await assert.rejects(f.fsync(1), isInvalid(obj));
      // @ts-expect-error: as above
      await assert.rejects(f.fdatasync(true), isInvalid(obj));
      // @ts-expect-error: as above
      await assert.rejects(f.stat([]), isInvalid(obj));
      // @ts-expect-error: as above
      await assert.rejects(f.size("x"), isInvalid(obj));
      // @ts-expect-error: as above
      await assert.rejects(DmaFile.open(t.path, 1), isInvalid(obj));
      // @ts-expect-error: as above
      await assert.rejects(reactor.acquireBuffer(5), isInvalid(obj));
      await assert.rejects(
        // @ts-expect-error: not a reactor
        DmaFile.open(t.path, {}, { poll() {} }),
        isInvalid(/must be an IoUringReactor/),
      );
      // A misspelt key, and a signal that is not one.
      await assert.rejects(
        // @ts-expect-error: misspelt
        f.writeFixed(buf, 0, { lenght: 4096 }),
        isInvalid(/unknown option "lenght"/),
      );
      // @ts-expect-error: misspelt
      await assert.rejects(DmaFile.open(t.path, { writable: true }), isInvalid(/"writable"/));
      await assert.rejects(
        // @ts-expect-error: not a boolean
        DmaFile.open(t.path, { write: "yes" }),
        isInvalid(/write must be a boolean/),
      );
      await assert.rejects(
        // @ts-expect-error: not an AbortSignal
        f.read(plain, 0, { signal: 1 }),
        isInvalid(/signal must be an AbortSignal/),
      );
      await assert.rejects(
        f.writeFixed(buf, 0, { length: "4096" as unknown as number }),
        isInvalid(/length "4096" \(a string\)/),
      );
      assert.equal(reactor.status(), 0, "nothing was submitted");
    });
    const after = await Deno.readFile(t.path);
    assert.equal(after.length, 65536, "the file did not grow");
    assert.ok(after.every((b) => b === 9), "no byte was overwritten");
  } finally {
    await t.cleanup();
  }
});

Deno.test("uring: error messages name the problem (buffer kind, read-only, directory, string offset)", async () => {
  const t = await tempPath("msgs");
  try {
    await Deno.writeFile(t.path, new Uint8Array(8192));
    await withReactor(async () => {
      await using ro = await DmaFile.open(t.path);
      const plain = new Uint8Array(4096);
      await assert.rejects(
        // @ts-expect-error: not a FixedBuffer
        ro.readFixed(plain, 0),
        isInvalid(/readFixed .*needs a FixedBuffer from acquireBuffer\(\), got \(Uint8Array\)/),
      );
      await assert.rejects(
        ro.write(ro.alloc(4096), 0),
        isInvalid(/opened read-only; open it with \{ write: true \}/),
      );
      using fb = await ro.acquireBuffer();
      await assert.rejects(ro.writeFixed(fb, 0), isInvalid(/opened read-only/));
      await assert.rejects(ro.fallocate(0, 4096), isInvalid(/opened read-only/));
      await using wo = await DmaFile.open(t.path, { read: false, write: true });
      await assert.rejects(wo.read(wo.alloc(4096), 0), isInvalid(/opened write-only/));
      await assert.rejects(
        ro.read(ro.alloc(4096), "4096" as unknown as number),
        isInvalid(/offset "4096" \(a string\) is not a non-negative integer/),
      );
      const dir = t.path.replace(/\/data$/, "");
      await assert.rejects(DmaFile.open(dir), isInvalid(/is a directory/));
      await assert.rejects(DmaFile.open(dir, { direct: false }), isInvalid(/is a directory/));
    });
  } finally {
    await t.cleanup();
  }
});

Deno.test("uring: reactor.close() inside run() detaches cleanly; pending ops reject ClosedError", async () => {
  // A child process: the defect showed as a segfault at exit of a later runtime.
  const code = `
    import { Runtime } from ${JSON.stringify(new URL("../../mod.ts", import.meta.url).href)};
    import { DmaFile, IoUringReactor } from ${
    JSON.stringify(new URL("../../lib/uring/mod.ts", import.meta.url).href)
  };
    const fifo = Deno.args[0];
    for (let round = 0; round < 3; round++) {
      const runtime = new Runtime();
      const reactor = IoUringReactor.builder().build();
      runtime.registerReactor("io_uring", reactor);
      const out = await runtime.run(async () => {
        // A read the kernel blocks on (an empty FIFO opened buffered): still pending.
        const f = await DmaFile.open(fifo, { direct: false, read: true, write: true });
        const pending = f.read(new Uint8Array(8), 0).then(() => "resolved", (e) => e.name);
        await new Promise((r) => setTimeout(r, 20));
        await reactor.close();
        const r = await pending;
        await f.close();
        // The runtime keeps working without the reactor.
        await new Promise((r) => setTimeout(r, 5));
        return r + "," + runtime.reactor("io_uring");
      });
      runtime.close();
      console.log(out);
    }
    // A later runtime with a fresh reactor parks and wakes on its own eventfd.
    const runtime = new Runtime();
    const reactor = IoUringReactor.builder().build();
    runtime.registerReactor("io_uring", reactor);
    await runtime.run(async () => {
      await using f = await DmaFile.open(Deno.args[1], { write: true, create: true });
      const b = f.alloc(4096).fill(3);
      for (let i = 0; i < 50; i++) await f.write(b, i * 4096);
    });
    await reactor.close();
    runtime.close();
    console.log("done");
  `;
  const t = await tempPath("closeinrun");
  const fifo = t.path + ".fifo";
  try {
    const mk = await new Deno.Command("mkfifo", { args: [fifo] }).output();
    assert.ok(mk.success, "mkfifo");
    const child = await new Deno.Command(Deno.execPath(), {
      args: ["eval", "--ext=ts", code, fifo, t.path],
      stdout: "piped",
      stderr: "piped",
      signal: AbortSignal.timeout(60_000),
    }).output();
    const out = new TextDecoder().decode(child.stdout);
    const err = new TextDecoder().decode(child.stderr);
    assert.equal(child.signal, null, `no crash (signal ${child.signal}): ${err}`);
    assert.equal(child.code, 0, err);
    assert.equal(out, "ClosedError,undefined\n".repeat(3) + "done\n");
  } finally {
    await t.cleanup();
  }
});

Deno.test("uring: detaching a plain buffer while a read is in flight cannot make the kernel write freed memory", async () => {
  const t = await tempPath("detach");
  const size = 256 * 1024;
  try {
    await Deno.writeFile(t.path, new Uint8Array(size * 4).fill(0x5a));
    await withReactor(async () => {
      await using f = await DmaFile.open(t.path);
      for (let i = 0; i < 200; i++) {
        const buf = new Uint8Array(size);
        const p = f.read(buf, (i % 4) * size);
        buf.buffer.transfer(0); // frees the JS memory now
        assert.equal(await p, size, "the read completes into memory it owns");
        assert.equal(buf.length, 0);
        // Churn the allocator: freed memory the kernel wrote would show up here.
        const junk = new Uint8Array(size);
        assert.ok(junk.every((b) => b === 0), "no stray bytes in fresh memory");
      }
      // An attached plain buffer gets the data (copied through the bounce buffer).
      const buf = new Uint8Array(size);
      assert.equal(await f.read(buf, 0), size);
      assert.ok(buf.every((b) => b === 0x5a));
      // allocAligned and FixedBuffer memory cannot be detached at all.
      const aligned = allocAligned(4096);
      const inflight = f.read(aligned, 0);
      assert.throws(() => aligned.buffer.transfer(0), TypeError);
      assert.equal(await inflight, 4096);
      using fb = await f.acquireBuffer();
      assert.throws(() => fb.bytes.buffer.transfer(), TypeError);
      assert.throws(() => structuredClone(aligned.buffer, { transfer: [aligned.buffer] }));
    });
  } finally {
    await t.cleanup();
  }
});

Deno.test("uring: a file of a closed reactor can still be closed, releasing its fd", async () => {
  const t = await tempPath("orphan");
  try {
    const reactor = IoUringReactor.builder().build();
    const runtime = new Runtime();
    runtime.registerReactor("io_uring", reactor);
    const f = await runtime.run(() => DmaFile.open(t.path, { write: true, create: true }));
    const fd = f.fd;
    const link = () => Deno.readLinkSync(`/proc/self/fd/${fd}`);
    assert.equal(link(), t.path);
    await reactor.close();
    runtime.close();
    await assert.rejects(f.read(f.alloc(4096), 0), ClosedError);
    await f.close();
    assert.equal(f.closed, true);
    let now: string | undefined;
    try {
      now = link();
    } catch {
      now = undefined;
    }
    assert.notEqual(now, t.path, "the fd was released");
  } finally {
    await t.cleanup();
  }
});
