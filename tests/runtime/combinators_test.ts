import assert from "node:assert/strict";
import { CancelledError, Runtime, select, sleep, spawn, timeout, TimeoutError } from "../../mod.ts";

Deno.test("select resolves with the winner and the loser really stops", async () => {
  const rt = new Runtime();
  await rt.run(async () => {
    let loserFinished = false;
    let loserError: unknown;
    const r = await select(
      async (signal) => {
        try {
          await sleep(5_000, { signal });
          loserFinished = true;
        } catch (e) {
          loserError = e;
          throw e;
        }
      },
      (signal) => sleep(2, { signal }).then(() => "fast"),
    );
    assert.deepEqual(r, { right: "fast" });
    await sleep(1);
    assert.equal(loserFinished, false);
    assert.ok(loserError instanceof CancelledError);
    assert.equal(rt.timer.status(), 0, "the loser's timer is gone");
  });
});

Deno.test("select on join handles cancels the losing task", async () => {
  const rt = new Runtime();
  await rt.run(async () => {
    const slow = spawn((signal) => sleep(5_000, { signal }).then(() => "slow"));
    const fast = spawn((signal) => sleep(1, { signal }).then(() => 1));
    const r = await select(slow, fast);
    assert.equal(r.right, 1);
    await assert.rejects(slow, CancelledError);
    assert.equal(slow.state, "cancelled");
  });
});

Deno.test("select propagates the first failure and cancels the other side", async () => {
  const rt = new Runtime();
  await rt.run(async () => {
    let other: AbortSignal | undefined;
    await assert.rejects(
      select(
        async () => {
          await sleep(1);
          throw new RangeError("left failed");
        },
        (signal) => {
          other = signal;
          return sleep(5_000, { signal });
        },
      ),
      RangeError,
    );
    assert.equal(other?.aborted, true);
  });
});

Deno.test("timeout rejects with TimeoutError and cancels the operation with it", async () => {
  const rt = new Runtime();
  await rt.run(async () => {
    let seen: unknown;
    const t0 = performance.now();
    await assert.rejects(
      timeout(5, async (signal) => {
        try {
          await sleep(5_000, { signal });
        } catch (e) {
          seen = e;
          throw e;
        }
      }),
      TimeoutError,
    );
    const took = performance.now() - t0;
    assert.ok(took >= 5 && took < 1_000, `took ${took} ms`);
    assert.ok(seen instanceof TimeoutError, "the operation saw the timeout as its abort reason");
    assert.equal(rt.timer.status(), 0);
    assert.equal(await timeout(1_000, () => sleep(1).then(() => "in time")), "in time");
    assert.equal(rt.timer.status(), 0, "the deadline timer is removed on success");
  });
});
