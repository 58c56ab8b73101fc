import assert from "node:assert/strict";
import {
  CancelledError,
  currentRuntime,
  InvalidArgumentError,
  type JoinHandle,
  QueueFullError,
  type Reactor,
  Runtime,
  RuntimeStateError,
  sleep,
  spawn,
} from "../../mod.ts";

Deno.test("run resolves with main's result after every spawned task finished", async () => {
  const rt = new Runtime();
  const order: string[] = [];
  const out = await rt.run(async () => {
    spawn(async () => {
      await sleep(20);
      order.push("background");
    });
    const h = spawn(async () => {
      await sleep(2);
      order.push("joined");
      return 7;
    }, { name: "seven" });
    assert.equal(h.name, "seven");
    const v = await h;
    order.push("main");
    return v * 6;
  });
  assert.equal(out, 42);
  assert.deepEqual(order, ["joined", "main", "background"]);
  const s = rt.stats();
  assert.equal(s.tasks.spawned, 3);
  assert.equal(s.tasks.completed, 3);
  assert.equal(s.tasks.running, 0);
});

Deno.test("spawned tasks start asynchronously, not inline in the spawner", async () => {
  const rt = new Runtime();
  await rt.run(async () => {
    let started = false;
    const h = spawn(() => {
      started = true;
    });
    assert.equal(started, false);
    await h;
    assert.equal(started, true);
  });
});

Deno.test("main's failure rejects run() and cancels the other tasks", async () => {
  const rt = new Runtime();
  let bgSaw: unknown;
  await assert.rejects(
    rt.run(async () => {
      spawn(async (signal) => {
        try {
          await sleep(10_000, { signal });
        } catch (e) {
          bgSaw = e;
          throw e;
        }
      });
      await sleep(1);
      throw new Error("boom");
    }),
    /boom/,
  );
  assert.ok(bgSaw instanceof CancelledError);
  assert.equal(rt.running, false);
});

Deno.test("main's failure cancels tasks that never took a signal too, and only those running", async () => {
  const rt = new Runtime();
  let gate!: () => void;
  const opened = new Promise<void>((r) => gate = r);
  const seen: Record<string, unknown> = {};
  let done: JoinHandle<number>, plain: JoinHandle<void>, thrower: JoinHandle<void>;
  let finisher: JoinHandle<string>, late: JoinHandle<number> | undefined;
  await assert.rejects(
    rt.run(async () => {
      done = spawn(() => 1);
      // No signal parameter: no abort controller until someone asks for the signal.
      plain = spawn(async () => {
        await opened;
        seen.plainSignal = plain.signal.aborted;
        seen.plainReason = plain.signal.reason;
      });
      thrower = spawn(async () => {
        await opened;
        throw new Error("after the cancel");
      });
      // Has a controller, so the cancel-all aborts it at once: it opens the gate.
      spawn(async (signal) => {
        await new Promise((r) => signal.addEventListener("abort", r, { once: true }));
        gate();
      });
      finisher = spawn(async () => {
        await opened;
        late = spawn(() => 2); // spawned after main failed: not cancelled
        return "finished";
      });
      await sleep(1);
      throw new Error("boom");
    }),
    /boom/,
  );
  assert.equal(done!.state, "completed");
  assert.equal(done!.signal.aborted, false);
  assert.equal(seen.plainSignal, true);
  assert.ok(seen.plainReason instanceof CancelledError);
  assert.equal(thrower!.state, "cancelled");
  await assert.rejects(thrower!, CancelledError);
  assert.equal(finisher!.state, "completed");
  assert.equal(await finisher!, "finished");
  assert.equal(late!.state, "completed");
  assert.equal(late!.signal.aborted, false);
  const s = rt.stats().tasks;
  assert.equal(s.cancelled, 1);
});

Deno.test("a failed task's error reaches whoever awaits its handle", async () => {
  const rt = new Runtime();
  await rt.run(async () => {
    const h = spawn(async () => {
      await sleep(1);
      throw new TypeError("task failure");
    });
    await assert.rejects(h, TypeError);
    assert.equal(h.state, "failed");
  });
  assert.equal(rt.stats().tasks.failed, 1);
});

Deno.test("a handle gives the same outcome awaited before or after the task started", async () => {
  const rt = new Runtime();
  await rt.run(async () => {
    // then() called synchronously, before the task function ran.
    const early = [
      spawn(() => 1).then((v) => v),
      spawn(async () => {
        await null;
        return 2;
      }).then((v) => v),
      spawn(() => {
        throw new RangeError("sync early");
      }).then(() => "no", (e) => (e as Error).message),
      spawn(async () => {
        await sleep(0.1);
        throw new RangeError("async early");
      }).then(() => "no", (e) => (e as Error).message),
    ];
    assert.deepEqual(await Promise.all(early), [1, 2, "sync early", "async early"]);
    // Awaited after it settled, twice: same value, same error object.
    const ok = spawn(async () => {
      await null;
      return { v: 3 };
    });
    const bad = spawn(async () => {
      await null;
      throw new RangeError("late");
    });
    await sleep(1);
    assert.equal(ok.state, "completed");
    assert.equal(bad.state, "failed");
    assert.equal(await ok, await ok);
    const e1 = await bad.catch((e) => e);
    const e2 = await bad.then(() => null, (e) => e);
    assert.ok(e1 instanceof RangeError && e1 === e2);
    assert.equal(Object.prototype.toString.call(ok), "[object JoinHandle]");
  });
});

Deno.test("an unobserved async task failure is reported once, not an unhandled rejection", async () => {
  const seen: unknown[] = [];
  const rt = new Runtime({ onUnobservedError: (e) => seen.push(e) });
  await rt.run(async () => {
    spawn(async () => {
      await sleep(0.1);
      throw new Error("async, nobody listens");
    });
    await sleep(2);
  });
  assert.equal(seen.length, 1);
  assert.equal((seen[0] as Error).message, "async, nobody listens");
});

Deno.test("an unobserved task failure is reported, never swallowed", async () => {
  const seen: Array<[unknown, string]> = [];
  const rt = new Runtime({ onUnobservedError: (e, t) => seen.push([e, t.name]) });
  await rt.run(() => {
    spawn(() => {
      throw new Error("nobody listens");
    }, { name: "lonely" });
  });
  assert.equal(seen.length, 1);
  assert.equal((seen[0][0] as Error).message, "nobody listens");
  assert.equal(seen[0][1], "lonely");
});

Deno.test("cancel() aborts the task's signal and cancels its in-flight operations", async () => {
  const rt = new Runtime();
  await rt.run(async () => {
    const h = spawn((signal) => sleep(60_000, { signal }));
    await sleep(1);
    assert.equal(rt.stats().reactors.timer.inFlight, 1);
    h.cancel();
    assert.equal(h.signal.aborted, true);
    await assert.rejects(h, CancelledError);
    assert.equal(h.state, "cancelled");
    assert.equal(rt.stats().reactors.timer.inFlight, 0, "the sleep's timer was removed");
  });
  assert.equal(rt.stats().tasks.cancelled, 1);
});

Deno.test("a spawn signal cancels the task, also when already aborted", async () => {
  const rt = new Runtime();
  await rt.run(async () => {
    const ac = new AbortController();
    const h = spawn((signal) => sleep(60_000, { signal }), { signal: ac.signal });
    setTimeout(() => ac.abort(new Error("user abort")), 5);
    const e = await h.then(() => null, (e) => e);
    assert.ok(e instanceof CancelledError);
    assert.equal((e.cause as Error).message, "user abort");
    const dead = AbortSignal.abort("early");
    const h2 = spawn((signal) => sleep(60_000, { signal }), { signal: dead });
    await assert.rejects(h2, CancelledError);
  });
});

Deno.test("cancelling a task that already completed keeps its result", async () => {
  const rt = new Runtime();
  await rt.run(async () => {
    const h = spawn(() => 5);
    assert.equal(await h, 5);
    h.cancel();
    assert.equal(await h, 5);
    assert.equal(h.state, "completed");
  });
});

Deno.test("queueSize bounds live tasks with a QueueFullError", async () => {
  const rt = new Runtime({ queueSize: 3 });
  await rt.run(async () => {
    const a = spawn(() => sleep(5));
    const b = spawn(() => sleep(5));
    assert.throws(() => spawn(() => {}), QueueFullError); // main + a + b = 3
    await a;
    await b;
    await spawn(() => {}); // room again
  });
  assert.throws(() => new Runtime({ queueSize: 0 }), InvalidArgumentError);
});

Deno.test("runtime state errors: no runtime, nested run, spawn outside run, closed", async () => {
  assert.throws(() => currentRuntime(), RuntimeStateError);
  assert.throws(() => spawn(() => {}), RuntimeStateError);
  assert.throws(() => sleep(1), RuntimeStateError);
  const rt = new Runtime();
  assert.throws(() => rt.spawn(() => {}), RuntimeStateError);
  await rt.run(async () => {
    assert.equal(currentRuntime(), rt);
    await assert.rejects(new Runtime().run(() => {}), RuntimeStateError);
  });
  rt.close();
  await assert.rejects(rt.run(() => {}), RuntimeStateError);
});

Deno.test("registerReactor rejects duplicate names; reactors are polled only with work", async () => {
  const rt = new Runtime();
  let polls = 0;
  let inFlight = 0;
  let wake = () => {};
  const pending: Array<() => void> = [];
  const r: Reactor = {
    attach: (h) => {
      wake = h.wake;
    },
    poll: () => {
      polls++;
      const n = pending.length;
      for (const f of pending.splice(0)) f();
      inFlight -= n;
      return n;
    },
    status: () => inFlight,
  };
  rt.registerReactor("fake-ready-queue", r);
  assert.throws(() => rt.registerReactor("fake-ready-queue", { poll: () => 0, status: () => 0 }));
  assert.throws(() => rt.registerReactor("timer", { poll: () => 0, status: () => 0 }));
  assert.throws(() => rt.registerReactor("again", r), InvalidArgumentError);
  await rt.run(async () => {
    await sleep(3);
    assert.equal(polls, 0, "an idle reactor is never polled");
    const done = new Promise<void>((res) => {
      pending.push(res);
      inFlight++;
      wake();
    });
    await done;
    assert.ok(polls >= 1);
  });
  assert.equal(rt.stats().reactors["fake-ready-queue"].completions, 1);
});

Deno.test("a reactor moving data (active) keeps the executor polling; an idle one lets it park", async () => {
  // One operation in flight that finishes on the 3000th poll; `active` says whether
  // the polls before it moved data. Idle turns are counted, so the outcome is exact.
  const run = async (active: boolean) => {
    const rt = new Runtime();
    let polls = 0;
    let inFlight = 0;
    let wake = () => {};
    let finish = () => {};
    const r: Reactor & { active: boolean } = {
      active: false,
      attach: (h) => {
        wake = h.wake;
      },
      poll: () => {
        if (++polls < 3000) {
          r.active = active;
          return 0;
        }
        r.active = false;
        inFlight = 0;
        finish();
        return 1;
      },
      status: () => inFlight,
      beforePark: () => 1e5, // may sleep 100 µs
    };
    rt.registerReactor("mover", r);
    await rt.run(async () => {
      await new Promise<void>((res) => {
        finish = res;
        inFlight = 1;
        wake();
      });
    });
    const { parks, parkedMs } = rt.stats().executor;
    return { parks, parkedMs };
  };
  const moving = await run(true);
  const idle = await run(false);
  // `parks` also counts JS-only parks (nothing in flight, before and after the op).
  assert.equal(moving.parkedMs, 0, "never parked on the reactor while data moved");
  assert.ok(idle.parks > moving.parks, `an idle reactor lets the executor park (${idle.parks})`);
});

Deno.test("setAffinity pins to a real CPU and rejects a missing one", async () => {
  // In a child process: pinning is per thread and would constrain the rest of this run.
  const child = new URL("./affinity_child.ts", import.meta.url).pathname;
  const out = await new Deno.Command(Deno.execPath(), {
    args: ["run", "-A", child],
    stdin: "null",
    signal: AbortSignal.timeout(30_000),
  }).output();
  const text = new TextDecoder().decode(out.stdout) + new TextDecoder().decode(out.stderr);
  assert.equal(out.code, 0, text);
  assert.match(text, /affinity ok/);
});
