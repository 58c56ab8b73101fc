import assert from "node:assert/strict";
import {
  CancelledError,
  Delay,
  interval,
  InvalidArgumentError,
  Runtime,
  sleep,
  sleepUntil,
  spawn,
} from "../../mod.ts";

Deno.test("timers fire in deadline order, ties in the order they were set", async () => {
  const rt = new Runtime();
  const fired: string[] = [];
  await rt.run(async () => {
    const hs = [
      spawn(() => sleep(9).then(() => fired.push("9"))),
      spawn(() => sleep(3).then(() => fired.push("3"))),
      spawn(() => sleep(6).then(() => fired.push("6"))),
      spawn(() => sleep(1).then(() => fired.push("1"))),
    ];
    const at = performance.now() + 4;
    hs.push(spawn(() => sleepUntil(at).then(() => fired.push("tieA"))));
    hs.push(spawn(() => sleepUntil(at).then(() => fired.push("tieB"))));
    for (const h of hs) await h;
  });
  assert.deepEqual(fired, ["1", "3", "tieA", "tieB", "6", "9"]);
});

Deno.test("sleep never fires early and lands close to its deadline", async () => {
  const rt = new Runtime();
  await rt.run(async () => {
    for (const ms of [0.2, 1, 3]) {
      const t0 = performance.now();
      await sleep(ms);
      const took = performance.now() - t0;
      assert.ok(took >= ms, `sleep(${ms}) returned after ${took} ms`);
    }
  });
});

Deno.test("a cancelled sleep rejects with CancelledError and leaves no timer behind", async () => {
  const rt = new Runtime();
  await rt.run(async () => {
    const ac = new AbortController();
    const p = sleep(10_000, { signal: ac.signal });
    assert.equal(rt.timer.status(), 1);
    ac.abort("stop");
    await assert.rejects(p, CancelledError);
    assert.equal(rt.timer.status(), 0);
    await assert.rejects(sleep(1, { signal: AbortSignal.abort() }), CancelledError);
    assert.throws(() => sleep(Number.NaN), InvalidArgumentError);
  });
});

Deno.test("Delay can be reset and cancelled", async () => {
  const rt = new Runtime();
  await rt.run(async () => {
    const t0 = performance.now();
    const d = new Delay(2);
    assert.equal(d.reset(15), true);
    await d;
    assert.ok(performance.now() - t0 >= 15, "reset moved the deadline later");
    assert.equal(d.settled, true);
    assert.equal(d.reset(1), false);

    const d2 = new Delay(10_000);
    assert.equal(d2.cancel(), true);
    await assert.rejects(Promise.resolve(d2), CancelledError);
    assert.equal(rt.timer.status(), 0);

    const ac = new AbortController();
    const d3 = new Delay(10_000, { signal: ac.signal });
    ac.abort();
    await assert.rejects(Promise.resolve(d3), CancelledError);
  });
});

Deno.test("interval ticks on a fixed schedule and stops on abort", async () => {
  const rt = new Runtime();
  await rt.run(async () => {
    const ac = new AbortController();
    const t0 = performance.now();
    const ticks: number[] = [];
    for await (const k of interval(2, { signal: ac.signal })) {
      ticks.push(k);
      if (k === 5) ac.abort();
    }
    assert.deepEqual(ticks, [1, 2, 3, 4, 5]);
    assert.ok(performance.now() - t0 >= 10);
    assert.equal(rt.timer.status(), 0);
  });
});

Deno.test("hundreds of sub-100 µs sleeps never lose a wake-up (deadline firing while arming)", async () => {
  // Park at once, and never spin instead of parking (spinUs 0): every sleep parks.
  const rt = new Runtime({ idle: { yieldAfter: 0, sleepAfter: 0, spinUs: 0 } });
  let guard: ReturnType<typeof setTimeout> | undefined;
  const stuck = new Promise<never>((_, rej) => {
    guard = setTimeout(
      () => rej(new Error(`a parked sleep was never woken: ${JSON.stringify(rt.stats())}`)),
      20_000,
    );
  });
  try {
    await Promise.race([
      rt.run(async () => {
        for (let i = 0; i < 500; i++) await sleep(i % 2 ? 0.01 : 0.05);
      }),
      stuck,
    ]);
  } finally {
    clearTimeout(guard);
  }
  const ex = rt.stats().executor;
  assert.ok(ex.parks >= 100);
  // A lost native wake-up is now ended by the watchdog instead of hanging; it must stay
  // exceptional (one is tolerated: a machine under heavy load can starve any thread).
  assert.ok(ex.watchdogWakes <= 1, `the watchdog ended ${ex.watchdogWakes} parks`);
});

Deno.test("a timer wait of at most 1 ms blocks on the JS thread, never early; a longer one parks", async () => {
  const rt = new Runtime();
  await rt.run(async () => {
    for (let i = 0; i < 50; i++) {
      const t0 = performance.now();
      await sleep(0.8);
      const took = performance.now() - t0;
      assert.ok(took >= 0.8, `sleep(0.8) returned after ${took} ms`);
    }
    const ex = rt.stats().executor;
    assert.ok(ex.blockingWaits > 0, "short waits blocked");
    const parks = ex.parks - ex.blockingWaits;
    await sleep(5);
    const after = rt.stats().executor;
    assert.ok(after.parks - after.blockingWaits > parks, "a 5 ms wait parked");
  });
});
