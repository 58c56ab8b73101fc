// The adaptive idle policy: spin budgets learnt from real waits, CPU while parked, timers
// never early. CPU is measured with CLOCK_PROCESS_CPUTIME_ID (every thread of the process).
import assert from "node:assert/strict";
import { coreLib } from "../../lib/ffi/library.ts";
import { SAMPLES, SpinBudget } from "../../lib/runtime/idle_policy.ts";
import { Context } from "../../lib/ucx/mod.ts";
import { type Reactor, type ReactorHooks, Runtime, sleep, sleepUntil, spawn } from "../../mod.ts";

const cpuMs = () => Number(coreLib().pluvio_process_cpu_ns()) / 1e6;

/** CPU used over a 1 s sleep on the running runtime, as a fraction of one core. */
async function cpuOverOneSecondSleep(): Promise<number> {
  await sleep(5); // the notifier exists before measuring
  const c0 = cpuMs();
  const t0 = performance.now();
  await sleep(1_000);
  return (cpuMs() - c0) / (performance.now() - t0);
}

/**
 * A reactor whose request completes on the third poll after it was made, like a
 * transfer that needs a few progress calls, until it is told to stop answering.
 */
class StepReactor implements Reactor {
  readonly spin = new SpinBudget();
  #hooks: ReactorHooks | null = null;
  #pending: (() => void) | null = null;
  #polls = 0;
  /** Whether requests are still answered. */
  answering = true;

  attach(h: ReactorHooks) {
    this.#hooks = h;
  }
  request(): Promise<void> {
    const p = new Promise<void>((r) => this.#pending = r);
    this.#polls = 0;
    this.#hooks!.wake();
    return p;
  }
  /** Gives up on the pending request. */
  drop() {
    this.#pending = null;
  }
  poll(): number {
    if (this.#pending === null || !this.answering || ++this.#polls < 3) return 0;
    const r = this.#pending;
    this.#pending = null;
    r();
    return 1;
  }
  status(): number {
    return this.#pending ? 1 : 0;
  }
  wantsSpin(): boolean {
    return this.#pending !== null;
  }
  beforePark(): number {
    return this.answering ? 0 : Infinity; // no fd: never park while an answer is due
  }
}

Deno.test("a spin budget grows from replies that come soon and drops to none when they stop", async () => {
  const rt = new Runtime();
  const echo = new StepReactor();
  rt.registerReactor("echo", echo);
  try {
    await rt.run(async () => {
      for (let i = 0; i < 300; i++) await echo.request();
      const answered = rt.stats().executor;
      assert.ok(echo.spin.hits >= 300, `hits ${echo.spin.hits}`);
      assert.ok(answered.spins > 0, `replies within µs earned a spin: ${JSON.stringify(answered)}`);
      assert.ok(echo.spin.budgetUs() > 0);

      echo.answering = false;
      const missesBefore = echo.spin.misses;
      for (let i = 0; i < 30; i++) {
        await Promise.race([echo.request(), sleep(1)]);
        echo.drop();
      }
      const quiet = rt.stats().executor;
      // A spin that found nothing is a miss; 5 misses among the last 16 waits leave no
      // budget, and without a budget there is no spin and so no further miss.
      const limit = SAMPLES - Math.ceil(0.75 * SAMPLES) + 1;
      const missed = echo.spin.misses - missesBefore;
      assert.ok(missed <= limit, `${missed} misses: ${JSON.stringify({ answered, quiet })}`);
      assert.equal(echo.spin.budgetUs(), 0);

      // Still waiting on it (wantsSpin), but it earns no spin: parked at ~zero CPU.
      const p = echo.request();
      const cpu = await cpuOverOneSecondSleep();
      echo.drop();
      void p;
      assert.equal(rt.stats().executor.spins, quiet.spins, "no spin for a quiet reactor");
      assert.ok(
        cpu < 0.02,
        `parked with a quiet spin reactor: ${(cpu * 100).toFixed(2)} % of a core`,
      );
    });
  } finally {
    rt.close();
  }
});

Deno.test("a reactor that stays quiet never earns a spin", async () => {
  const rt = new Runtime();
  const echo = new StepReactor();
  echo.answering = false; // nothing ever answers
  rt.registerReactor("echo", echo);
  await rt.run(async () => {
    for (let i = 0; i < 20; i++) {
      await Promise.race([echo.request(), sleep(0.5)]);
      echo.drop();
    }
  });
  assert.equal(rt.stats().executor.spins, 0);
  assert.equal(echo.spin.misses, 0);
  assert.equal(echo.spin.budgetUs(), 0);
  rt.close();
});

Deno.test("a sleeping runtime uses under 2 % of a core with a pending timer", async () => {
  const rt = new Runtime();
  const cpu = await rt.run(cpuOverOneSecondSleep);
  rt.close();
  assert.ok(cpu < 0.02, `${(cpu * 100).toFixed(2)} % of a core`);
});

Deno.test("a sleeping runtime uses under 2 % of a core with an idle UCX worker", async () => {
  const rt = new Runtime();
  const ctx = new Context();
  const a = ctx.createWorker();
  const b = ctx.createWorker();
  try {
    const cpu = await rt.run(async () => {
      const ep = a.connectAddr(b.address());
      const stream = b.amStream(3);
      const got = stream.recv(); // a receive pending on a live endpoint
      await ep.amSend(3, new Uint8Array(4));
      await got;
      const pending = stream.recv();
      pending.catch(() => {});
      const cpu = await cpuOverOneSecondSleep();
      await ep.amSend(3, new Uint8Array(4));
      await pending;
      await ep.close();
      return cpu;
    });
    assert.ok(cpu < 0.02, `${(cpu * 100).toFixed(2)} % of a core`);
  } finally {
    a.close();
    b.close();
    rt.close();
    ctx.close();
  }
});

Deno.test("a timer is never early, also when the executor wakes early and spins to it", async () => {
  const rt = new Runtime();
  await rt.run(async () => {
    for (let i = 0; i < 20; i++) await sleep(0.5); // learn the wake lateness
    for (let i = 0; i < 200; i++) {
      const ms = [0.02, 0.3, 1, 2.5][i % 4];
      const t0 = performance.now();
      await sleep(ms);
      const took = performance.now() - t0;
      assert.ok(took >= ms, `sleep(${ms}) returned after ${took} ms`);
    }
    // Many timers at once, each checked against its own deadline.
    const base = performance.now();
    const early: number[] = [];
    await Promise.all(
      Array.from({ length: 100 }, (_, i) => {
        const at = base + 0.05 + (i % 10) * 0.2;
        return spawn(async () => {
          await sleepUntil(at);
          if (performance.now() < at) early.push(i);
        });
      }),
    );
    assert.deepEqual(early, []);
    const ex = rt.stats().executor;
    assert.ok(ex.timerLeadUs > 0, "parks wake early by the learnt lateness");
    assert.ok(ex.spinTurns > 0, "and spin the rest");
  });
  rt.close();
});

/**
 * A reactor whose request completes at a set time, with an exact park deadline and no fd
 * (like I/O that takes a few hundred µs), and an optional `parkAfter` preference.
 */
class DueReactor implements Reactor {
  readonly parkAfter?: number;
  #hooks: ReactorHooks | null = null;
  #pending: (() => void) | null = null;
  #due = 0;

  constructor(parkAfter?: number) {
    if (parkAfter !== undefined) this.parkAfter = parkAfter;
  }
  attach(h: ReactorHooks) {
    this.#hooks = h;
  }
  request(us: number): Promise<void> {
    const p = new Promise<void>((r) => this.#pending = r);
    this.#due = performance.now() + us / 1000;
    this.#hooks!.wake();
    return p;
  }
  poll(): number {
    if (this.#pending === null || performance.now() < this.#due) return 0;
    const r = this.#pending;
    this.#pending = null;
    r();
    return 1;
  }
  status(): number {
    return this.#pending ? 1 : 0;
  }
  beforePark(): number {
    return Math.max(0, (this.#due - performance.now()) * 1e6);
  }
}

Deno.test("a reactor's parkAfter preference: parks at once instead of yielding first", async () => {
  const run = async (parkAfter?: number) => {
    const rt = new Runtime();
    const r = new DueReactor(parkAfter);
    rt.registerReactor("due", r);
    try {
      return await rt.run(async () => {
        const before = rt.stats().executor;
        for (let i = 0; i < 40; i++) await r.request(300);
        const after = rt.stats().executor;
        return { yields: after.yields - before.yields, parks: after.parks - before.parks };
      });
    } finally {
      rt.close();
    }
  };
  const eager = await run(0);
  const ladder = await run(undefined);
  // parkAfter 0: every wait parks on its first idle turn, with no macrotask yields of the
  // idle ladder before it (each wait of the default ladder takes sleepAfter - yieldAfter).
  assert.ok(eager.parks >= 20, `parks ${eager.parks}`);
  assert.ok(eager.yields < 40, `yields before parking: ${eager.yields}`);
  assert.ok(ladder.yields >= 40, `the default ladder yields first: ${ladder.yields}`);
});
