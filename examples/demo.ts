/**
 * The pluvio demo: `deno task demo`.
 *
 * Shows the runtime (tasks, join handles, cancellation), precise timers, `select` /
 * `timeout`, io_uring direct file I/O, and the executor's statistics.
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
} from "@pluvio/pluvio";
import { DmaFile, IoUringReactor } from "@pluvio/pluvio/uring";

const rt = new Runtime({ queueSize: 1024 });
const BS = 256 * 1024, QD = 8, FILE_MIB = 64;
const uring = IoUringReactor.builder().queueSize(64).bufferSize(BS).bufferCount(QD).build();
rt.registerReactor("io_uring", uring);

/** Writes FILE_MIB MiB with O_DIRECT through fixed buffers, reads it back and checks it. */
async function fileIo(): Promise<void> {
  const dir = Deno.env.get("PLUVIO_DEMO_DIR") ?? Deno.makeTempDirSync({ prefix: "pluvio-demo-" });
  const path = `${dir}/demo.dat`;
  const blocks = FILE_MIB * 1024 * 1024 / BS;
  try {
    await using file = await DmaFile.open(path, { write: true, create: true, truncate: true });
    await file.fallocate(0, blocks * BS);
    for (const phase of ["write", "read"] as const) {
      let next = 0;
      const t0 = performance.now();
      // QD tasks, each keeping one operation in flight on its own registered buffer.
      const workers = Array.from({ length: QD }, () =>
        spawn(async (signal) => {
          using buf = await file.acquireBuffer({ signal });
          while (next < blocks) {
            const i = next++;
            if (phase === "write") {
              buf.bytes.fill(i & 0xff);
              await file.writeFixed(buf, i * BS, { signal });
            } else {
              const n = await file.readFixed(buf, i * BS, { signal });
              if (n !== BS || buf.bytes[0] !== (i & 0xff) || buf.bytes[BS - 1] !== (i & 0xff)) {
                throw new Error(`block ${i} read back wrong`);
              }
            }
          }
        }));
      for (const w of workers) await w;
      if (phase === "write") await file.fdatasync();
      const s = (performance.now() - t0) / 1000;
      console.log(
        `  ${phase.padEnd(5)} ${FILE_MIB} MiB, O_DIRECT, ${BS / 1024} KiB blocks, QD ${QD}: ` +
          `${(FILE_MIB / s).toFixed(0)} MiB/s`,
      );
    }
    console.log(`  read back and verified ${blocks} blocks of ${path}`);
  } finally {
    await Deno.remove(dir, { recursive: true }).catch(() => {});
  }
}

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
  await long.catch((e) =>
    console.log(`  ${long.name}: ${e instanceof CancelledError}`, long.state)
  );
  const d = new Delay(5);
  d.reset(15);
  const t0 = performance.now();
  await d;
  console.log(`  Delay reset to 15 ms fired after ${(performance.now() - t0).toFixed(1)} ms`);

  console.log("== io_uring: direct file I/O with registered buffers");
  await fileIo();

  console.log("== interval");
  const ac = new AbortController();
  for await (const tick of interval(3, { signal: ac.signal })) {
    console.log(`  tick ${tick}`);
    if (tick === 3) ac.abort();
  }
  return "done";
});

// Statistics first: a closed reactor leaves the runtime.
const s = rt.stats();
await uring.close();
console.log("== stats");
console.log(`  tasks: ${JSON.stringify(s.tasks)}`);
console.log(`  timer reactor: ${JSON.stringify(s.reactors.timer)}`);
console.log(`  io_uring reactor: ${JSON.stringify(s.reactors.io_uring)}`);
console.log(
  `  executor: ${s.executor.turns} turns, ${s.executor.parks} parks, wake p50 ` +
    `${s.executor.wakeLatencyP50Us.toFixed(1)} µs`,
);
console.log(result);
