import assert from "node:assert/strict";
import process from "node:process";
import { DmaFile } from "../../lib/uring/mod.ts";
import { pattern, tempPath, withReactor } from "./helpers.ts";

Deno.test("uring: far more operations than queue entries wait for room (backpressure) and all complete", async () => {
  const t = await tempPath("backpressure");
  try {
    const block = 4096;
    const blocks = 4096; // 16 MiB, 4096 reads through an 8-entry queue
    const data = new Uint8Array(block * blocks);
    pattern(data, 0, 11);
    await Deno.writeFile(t.path, data);
    await withReactor(async (reactor) => {
      await using f = await DmaFile.open(t.path);
      const big = f.alloc(block * blocks);
      const ps: Promise<number>[] = [];
      for (let i = 0; i < blocks; i++) {
        ps.push(f.read(big.subarray(i * block, (i + 1) * block), i * block));
      }
      assert.equal(reactor.waiting, blocks - 8, "only queueSize operations were admitted");
      assert.equal(reactor.status(), blocks);
      let maxWaiting = 0;
      const sample = setInterval(() => maxWaiting = Math.max(maxWaiting, reactor.waiting), 0);
      const results = await Promise.all(ps);
      clearInterval(sample);
      assert.ok(results.every((n) => n === block));
      assert.deepEqual(big, data);
      assert.equal(reactor.waiting, 0);
      assert.equal(reactor.status(), 0);
    }, (b) => b.queueSize(8).submitDepth(4));
  } finally {
    await t.cleanup();
  }
});

Deno.test("uring: writes beyond the queue keep their submission order per offset (last writer wins)", async () => {
  const t = await tempPath("bp_order");
  try {
    await withReactor(async () => {
      await using f = await DmaFile.open(t.path, { write: true, create: true });
      // 64 writes, each to its own block, through a 4-entry queue; then verify every block.
      const ps = [];
      for (let i = 0; i < 64; i++) ps.push(f.write(f.alloc(4096).fill(i), i * 4096));
      await Promise.all(ps);
      const all = await Deno.readFile(t.path);
      for (let i = 0; i < 64; i++) assert.equal(all[i * 4096 + 17], i);
    }, (b) => b.queueSize(4).submitDepth(2));
  } finally {
    await t.cleanup();
  }
});

Deno.test("uring: the runtime parks (no busy spin) while a slow operation is outstanding", async () => {
  const t = await tempPath("park");
  try {
    const mk = await new Deno.Command("mkfifo", { args: [t.path] }).output();
    assert.ok(mk.success);
    await withReactor(async (reactor, runtime) => {
      await using f = await DmaFile.open(t.path, { write: true, direct: false });
      const buf = new Uint8Array(16);
      // A second descriptor writes into the FIFO later, from a plain JS timer.
      const writer = await Deno.open(t.path, { write: true });
      const delay = 400;
      const timer = setTimeout(() => writer.writeSync(new TextEncoder().encode("late")), delay);
      const cpu0 = process.cpuUsage();
      const t0 = performance.now();
      const n = await f.read(buf, 0);
      const wall = performance.now() - t0;
      const cpu = process.cpuUsage(cpu0);
      clearTimeout(timer);
      writer.close();
      assert.equal(n, 4);
      assert.equal(new TextDecoder().decode(buf.subarray(0, 4)), "late");
      assert.ok(wall >= delay - 20, `the read completed after the write (${wall} ms)`);
      const cpuMs = (cpu.user + cpu.system) / 1000;
      // A spinning executor burns ~100% of a core for the whole wait.
      assert.ok(cpuMs < wall * 0.25, `CPU ${cpuMs.toFixed(1)} ms over ${wall.toFixed(0)} ms wall`);
      const s = runtime.stats();
      assert.ok(s.executor.parks >= 1, "the executor parked");
      assert.ok(s.executor.nativeWakes >= 1, "the notifier (eventfd or deadline) woke it");
      assert.equal(reactor.status(), 0);
    });
  } finally {
    await t.cleanup();
  }
});
