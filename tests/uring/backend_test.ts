/**
 * The two engines behind `IoUringReactor`: io_uring and the native thread pool used
 * where io_uring is unavailable. (The whole tests/uring suite also runs with
 * `PLUVIO_URING=threads`; see the `test` task.)
 */
import assert from "node:assert/strict";
import { CancelledError, InvalidArgumentError, OsError } from "../../lib/errors.ts";
import { Runtime } from "../../mod.ts";
import { DmaFile, IoUringReactor } from "../../lib/uring/mod.ts";
import { pattern, tempPath, withReactor } from "./helpers.ts";

const SYSCTL = "/proc/sys/kernel/io_uring_disabled";

function sysctlSkipReason(): string | undefined {
  try {
    Deno.readTextFileSync(SYSCTL);
  } catch {
    return `${SYSCTL} does not exist (kernel before 6.6)`;
  }
  if (Deno.uid() !== 0) return `not root: cannot write ${SYSCTL}`;
  try {
    const f = Deno.openSync(SYSCTL, { write: true });
    f.close();
  } catch (e) {
    return `${SYSCTL} is not writable here (${(e as Error).message})`;
  }
  return undefined;
}

Deno.test("uring: reactor.backend follows PLUVIO_URING; an unknown backend is refused", async () => {
  const env = Deno.env.get("PLUVIO_URING");
  const r = IoUringReactor.builder().bufferCount(0).build();
  try {
    assert.equal(r.backend, env === "threads" ? "threads" : "io_uring");
  } finally {
    await r.close();
  }
  assert.throws(
    // @ts-expect-error: not a backend
    () => IoUringReactor.builder().backend("epoll"),
    (e: unknown) =>
      e instanceof InvalidArgumentError && /"auto", "io_uring", "threads"/.test(e.message),
  );
  assert.throws(() => IoUringReactor.builder().threads(0), InvalidArgumentError);
});

Deno.test("uring: the thread backend runs the same operations with the same results", async () => {
  const t = await tempPath("threads");
  try {
    await withReactor(async (reactor) => {
      assert.equal(reactor.backend, "threads");
      assert.equal(reactor.sqPoll, false);
      await using f = await DmaFile.open(t.path, { write: true, create: true, truncate: true });
      const size = reactor.options.bufferSize;
      await f.fallocate(0, 16 * size);
      assert.equal(await f.size(), 16 * size);
      await Promise.all(Array.from({ length: 16 }, async (_, i) => {
        using b = await f.acquireBuffer();
        pattern(b.bytes, i * size, 7);
        assert.equal(await f.writeFixed(b, i * size), size);
      }));
      await f.fsync();
      const plain = f.alloc(size);
      for (let i = 0; i < 16; i++) {
        assert.equal(await f.read(plain, i * size), size);
        const expect = new Uint8Array(size);
        pattern(expect, i * size, 7);
        assert.deepEqual(plain, expect);
      }
      assert.equal(await f.read(plain, 16 * size), 0, "EOF");
      await assert.rejects(
        DmaFile.open(t.path + ".missing"),
        (e: unknown) => e instanceof OsError && e.errno === 2,
      );
    }, (b) => b.backend("threads").threads(3).bufferSize(64 * 1024).bufferCount(4));
    const all = await Deno.readFile(t.path);
    const expect = new Uint8Array(16 * 64 * 1024);
    pattern(expect, 0, 7);
    assert.deepEqual(all, expect);
  } finally {
    await t.cleanup();
  }
});

Deno.test("uring: the thread backend cancels queued and blocked operations", async () => {
  const t = await tempPath("thrcancel");
  try {
    const mk = await new Deno.Command("mkfifo", { args: [t.path] }).output();
    assert.ok(mk.success);
    await withReactor(async (reactor) => {
      // O_RDWR on a FIFO opens without a peer; reads then wait for data.
      await using f = await DmaFile.open(t.path, { write: true, direct: false });
      const a = new AbortController();
      const b = new AbortController();
      const first = f.read(new Uint8Array(8), 0, { signal: a.signal }); // on the one worker
      const second = f.read(new Uint8Array(8), 0, { signal: b.signal }); // queued behind it
      await new Promise((r) => setTimeout(r, 20));
      b.abort();
      await assert.rejects(second, CancelledError);
      a.abort();
      await assert.rejects(first, CancelledError);
      assert.equal(reactor.status(), 0);
    }, (b) => b.backend("threads").threads(1));
  } finally {
    await t.cleanup();
  }
});

const reason = sysctlSkipReason();
Deno.test({
  name: `uring: with kernel.io_uring_disabled=2 "auto" falls back to threads${
    reason ? ` (skipped: ${reason})` : ""
  }`,
  ignore: reason !== undefined,
  fn: async () => {
    const before = Deno.readTextFileSync(SYSCTL).trim();
    let auto: IoUringReactor;
    let strict: unknown;
    // Kept as short as possible: the setting is machine-wide.
    Deno.writeTextFileSync(SYSCTL, "2");
    try {
      // No buffer pool: nothing to allocate while the setting is on.
      auto = IoUringReactor.builder().backend("auto").bufferCount(0).build();
      try {
        await IoUringReactor.builder().backend("io_uring").bufferCount(0).build().close();
      } catch (e) {
        strict = e;
      }
    } finally {
      Deno.writeTextFileSync(SYSCTL, before);
    }
    assert.equal(Deno.readTextFileSync(SYSCTL).trim(), before, "restored");
    assert.ok(
      strict instanceof OsError && strict.errno === 1 && /io_uring_setup/.test(strict.message),
      `backend("io_uring") fails with EPERM: ${strict}`,
    );
    assert.equal(auto.backend, "threads");
    const t = await tempPath("disabled");
    const runtime = new Runtime();
    runtime.registerReactor("io_uring", auto);
    try {
      await runtime.run(async () => {
        await using f = await DmaFile.open(t.path, { write: true, create: true }, auto);
        const buf = f.alloc(4096).fill(0x42);
        assert.equal(await f.write(buf, 0), 4096);
        assert.equal(await f.read(buf.fill(0), 0), 4096);
        assert.equal(buf[4095], 0x42);
      });
    } finally {
      await auto.close();
      runtime.close();
      await t.cleanup();
    }
  },
});
