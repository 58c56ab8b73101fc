import assert from "node:assert/strict";
import { coreLib } from "../../lib/ffi/library.ts";
import { type Reactor, Runtime, sleep, spawn } from "../../mod.ts";

Deno.test("other code's setInterval keeps ticking while the runtime is busy", async () => {
  const rt = new Runtime();
  // A reactor that always has work ready: the executor never idles.
  let ready = 0;
  let wake = () => {};
  const waiters: Array<() => void> = [];
  const busy: Reactor = {
    attach: (h) => wake = h.wake,
    poll: () => {
      const n = waiters.length;
      for (const w of waiters.splice(0)) w();
      ready -= n;
      return n;
    },
    status: () => ready,
  };
  rt.registerReactor("busy", busy);
  const op = () =>
    new Promise<void>((r) => {
      waiters.push(r);
      ready++;
      wake();
    });
  let ticks = 0;
  const id = setInterval(() => ticks++, 5);
  try {
    let ops = 0;
    await rt.run(async () => {
      const until = performance.now() + 200;
      const workers = Array.from({ length: 4 }, () =>
        spawn(async () => {
          while (performance.now() < until) {
            await op();
            ops++;
          }
        }));
      for (const w of workers) await w;
    });
    assert.ok(ops > 1000, `the runtime made progress (${ops} ops)`);
    assert.ok(ticks >= 10, `setInterval(5 ms) ticked ${ticks} times in 200 ms of busy runtime`);
  } finally {
    clearInterval(id);
  }
});

function cpuMs(): number {
  return Number(coreLib().pluvio_process_cpu_ns()) / 1e6;
}

Deno.test("a runtime parked for 1 s on a pending timer uses well under a fifth of a core", async () => {
  const rt = new Runtime();
  await rt.run(async () => {
    await sleep(5); // warm up: the notifier exists before measuring
    const c0 = cpuMs();
    const t0 = performance.now();
    await sleep(1_000);
    const wall = performance.now() - t0;
    const cpu = cpuMs() - c0;
    assert.ok(wall >= 1_000);
    assert.ok(cpu < wall / 5, `used ${cpu.toFixed(1)} ms of CPU in ${wall.toFixed(0)} ms`);
    assert.ok(rt.stats().executor.nativeWakes >= 1, "the timer woke the parked runtime");
  });
});

Deno.test("the nonblocking-wait park fallback also wakes timers on time", async () => {
  const rt = new Runtime({ idle: { park: "wait" } });
  await rt.run(async () => {
    const c0 = cpuMs();
    const t0 = performance.now();
    for (let i = 0; i < 5; i++) await sleep(20);
    const wall = performance.now() - t0;
    assert.ok(wall >= 100 && wall < 2_000, `5 × sleep(20) took ${wall} ms`);
    assert.ok(cpuMs() - c0 < wall / 5);
    assert.ok(rt.stats().executor.nativeWakes >= 5);
  });
});

Deno.test("a parked runtime wakes when a JS promise resolves and the task submits work", async () => {
  const rt = new Runtime();
  await rt.run(async () => {
    const t0 = performance.now();
    const h = spawn(async () => {
      await new Promise((r) => setTimeout(r, 20)); // plain JS wait: runtime parks
      await sleep(1); // submitted from the continuation: must wake the executor
      return performance.now() - t0;
    });
    const took = await h;
    assert.ok(took >= 20 && took < 1_000, `took ${took}`);
  });
});
