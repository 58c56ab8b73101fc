/**
 * The pluvio demo: `deno task demo`.
 *
 * Shows the runtime (tasks, join handles, cancellation), precise timers, `select` /
 * `timeout`, and the executor's statistics.
 *
 * @module
 */
import {
  CancelledError,
  Delay,
  interval,
  Runtime,
  select,
  sleep,
  spawn,
  timeout,
  TimeoutError,
} from "../mod.ts";

const rt = new Runtime({ queueSize: 1024 });

const result = await rt.run(async () => {
  console.log("== tasks and timers");
  const workers = [30, 10, 20].map((ms, i) =>
    spawn(async (signal) => {
      await sleep(ms, { signal });
      return `worker ${i} slept ${ms} ms`;
    }, { name: `worker-${i}` })
  );
  for (const w of workers) console.log("  joined:", await w);

  console.log("== precise sleeps (sub-millisecond, not on setTimeout's 1 ms grid)");
  for (const ms of [0.25, 1, 2.5]) {
    const t0 = performance.now();
    await sleep(ms);
    console.log(`  sleep(${ms}) took ${(performance.now() - t0).toFixed(3)} ms`);
  }

  console.log("== select: the first to finish wins, the loser is cancelled");
  const raced = await select(
    (signal) => sleep(50, { signal }).then(() => "slow path"),
    (signal) => sleep(5, { signal }).then(() => "fast path"),
  );
  console.log("  winner:", raced);

  console.log("== timeout");
  try {
    await timeout(10, (signal) => sleep(1_000, { signal }));
  } catch (e) {
    console.log(`  ${e instanceof TimeoutError ? "TimeoutError" : e}: ${(e as Error).message}`);
  }

  console.log("== cancelling a task and a resettable Delay");
  const long = spawn((signal) => sleep(60_000, { signal }), { name: "long" });
  long.cancel();
  await long.catch((e) => console.log(`  ${long.name}: ${e instanceof CancelledError}`, long.state));
  const d = new Delay(5);
  d.reset(15);
  const t0 = performance.now();
  await d;
  console.log(`  Delay reset to 15 ms fired after ${(performance.now() - t0).toFixed(1)} ms`);

  console.log("== interval");
  const ac = new AbortController();
  for await (const tick of interval(3, { signal: ac.signal })) {
    console.log(`  tick ${tick}`);
    if (tick === 3) ac.abort();
  }
  return "done";
});

const s = rt.stats();
console.log("== stats");
console.log(`  tasks: ${JSON.stringify(s.tasks)}`);
console.log(`  timer reactor: ${JSON.stringify(s.reactors.timer)}`);
console.log(
  `  executor: ${s.executor.turns} turns, ${s.executor.parks} parks, wake p50 ` +
    `${s.executor.wakeLatencyP50Us.toFixed(1)} µs`,
);
console.log(result);
