// Registered files (the io_uring backend names open files by their slot in the ring's
// file table) and the executor's idle behaviour while io_uring I/O is in flight.
import assert from "node:assert/strict";
import { DmaFile } from "../../lib/uring/mod.ts";
import { pattern, tempPath, withReactor } from "./helpers.ts";

Deno.test("uring: more files open at once than registered-file slots, each reads its own data", async () => {
  const t = await tempPath("files_many");
  try {
    const n = 1100; // beyond the 1024 slots: the rest use their plain fd
    const paths: string[] = [];
    for (let i = 0; i < n; i++) {
      const p = `${t.path}_${i}`;
      const data = new Uint8Array(4096);
      pattern(data, 0, i);
      await Deno.writeFile(p, data);
      paths.push(p);
    }
    await withReactor(async () => {
      const files = await Promise.all(paths.map((p) => DmaFile.open(p, { write: true })));
      const bufs = files.map((f) => f.alloc(4096));
      assert.deepEqual(
        await Promise.all(files.map((f, i) => f.read(bufs[i], 0))),
        bufs.map(() => 4096),
      );
      for (let i = 0; i < n; i++) {
        const want = new Uint8Array(4096);
        pattern(want, 0, i);
        assert.deepEqual(bufs[i], want, `file ${i}`);
      }
      // Writes, fsync and fallocate go through the same slot.
      await Promise.all(files.map((f, i) => {
        pattern(bufs[i], 4096, i + 7);
        return f.write(bufs[i], 4096).then(() => f.fdatasync()).then(() => f.fallocate(8192, 4096));
      }));
      await Promise.all(files.map((f) => f.close()));
    });
    for (let i = 0; i < n; i += 97) {
      const got = await Deno.readFile(paths[i]);
      assert.equal(got.length, 12288);
      const want = new Uint8Array(4096);
      pattern(want, 4096, i + 7);
      assert.deepEqual(got.subarray(4096, 8192), want, `file ${i} written`);
    }
  } finally {
    await t.cleanup();
  }
});

Deno.test("uring: slots freed by close are reused: thousands of open/read/close cycles", async () => {
  const t = await tempPath("files_reuse");
  try {
    const a = new Uint8Array(4096);
    const b = new Uint8Array(4096);
    pattern(a, 0, 1);
    pattern(b, 0, 2);
    await Deno.writeFile(`${t.path}_a`, a);
    await Deno.writeFile(`${t.path}_b`, b);
    await withReactor(async () => {
      for (let i = 0; i < 2500; i++) {
        const which = i % 2 === 0 ? "a" : "b";
        const f = await DmaFile.open(`${t.path}_${which}`);
        const buf = f.alloc(4096);
        assert.equal(await f.read(buf, 0), 4096);
        // A stale slot would read the other file (or fail with EBADF).
        assert.deepEqual(buf, which === "a" ? a : b, `cycle ${i}`);
        await f.close();
      }
    });
  } finally {
    await t.cleanup();
  }
});

Deno.test("uring: with waitCompleteTimeout, back-to-back I/O still lets timers run", async () => {
  const t = await tempPath("files_timer");
  try {
    await Deno.writeFile(t.path, new Uint8Array(4096));
    await withReactor(async () => {
      await using f = await DmaFile.open(t.path);
      const buf = f.alloc(4096);
      let fired = false;
      setTimeout(() => fired = true, 1);
      let n = 0;
      // Each poll after a completion refuses to park for 50 ms: the executor must still
      // yield to the event loop, or the timer never fires.
      while (!fired && n < 200_000) {
        await f.read(buf, 0);
        n++;
      }
      assert.ok(fired, `the timer did not fire during ${n} reads`);
    }, (b) => b.waitCompleteTimeout(50));
  } finally {
    await t.cleanup();
  }
});
