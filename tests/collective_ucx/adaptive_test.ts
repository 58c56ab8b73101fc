/**
 * The adaptive policy (tuning table lookups and checks) and the examples, run through
 * the launcher.
 */
import assert from "node:assert/strict";
import {
  checkTuning,
  choose,
  rulesFor,
  TUNING,
  type TuningTable,
} from "../../lib/collective/ucx/policy.ts";
import { ALGORITHMS } from "../../lib/collective/ucx/communicator.ts";
import { launch } from "../../lib/collective/ucx/launch.ts";
import { InvalidArgumentError } from "../../lib/errors.ts";

const rules = (alg: string) => ({
  allreduce: [{ maxBytes: 1024, algorithm: "recursive-doubling" }, {
    maxBytes: null,
    algorithm: alg,
  }],
  allgather: [{ maxBytes: null, algorithm: "bruck" }],
  broadcast: [{ maxBytes: null, algorithm: "binomial" }],
  reduce: [{ maxBytes: null, algorithm: "binomial" }],
});

Deno.test("adaptive policy: lookups by size and nearest rank count; bad tables refused", () => {
  const t = checkTuning(
    { source: "test", ranks: { "2": rules("ring"), "8": rules("pipelined") } } as TuningTable,
  );
  assert.equal(choose(rulesFor(t, 2), "allreduce", 4), "recursive-doubling");
  assert.equal(choose(rulesFor(t, 2), "allreduce", 1024), "recursive-doubling");
  assert.equal(choose(rulesFor(t, 2), "allreduce", 1025), "ring");
  assert.equal(choose(rulesFor(t, 3), "allreduce", 1 << 20), "ring");
  assert.equal(choose(rulesFor(t, 5), "allreduce", 1 << 20), "pipelined"); // tie: larger
  assert.equal(choose(rulesFor(t, 64), "allreduce", 1 << 20), "pipelined");
  assert.throws(
    () =>
      checkTuning(
        {
          source: "",
          ranks: { "2": { ...rules("ring"), allreduce: [{ maxBytes: null, algorithm: "magic" }] } },
        } as unknown as TuningTable,
      ),
    InvalidArgumentError,
  );
  assert.throws(
    () =>
      checkTuning(
        {
          source: "",
          ranks: { "2": { ...rules("ring"), reduce: [{ maxBytes: 5, algorithm: "binomial" }] } },
        } as unknown as TuningTable,
      ),
    /last reduce rule/,
  );
  // The shipped table was measured for 2 and 4 ranks and covers every collective.
  checkTuning(TUNING);
  assert.ok(TUNING.ranks["2"] && TUNING.ranks["4"], TUNING.source);
  for (const k of Object.keys(ALGORITHMS)) {
    assert.ok(TUNING.ranks["2"][k as "allreduce"].length > 0);
  }
});

Deno.test("adaptive policy: multi-host rules by host layout, single-host rules otherwise", () => {
  const t = checkTuning({
    source: "test",
    ranks: { "4": rules("ring") },
    hosts: { "2x2": rules("hierarchical"), "4x1": rules("pipelined") },
  } as TuningTable);
  assert.equal(choose(rulesFor(t, 4), "allreduce", 1 << 20), "ring");
  assert.equal(choose(rulesFor(t, 4, 1), "allreduce", 1 << 20), "ring");
  assert.equal(choose(rulesFor(t, 4, 2), "allreduce", 1 << 20), "hierarchical");
  assert.equal(choose(rulesFor(t, 8, 2), "allreduce", 1 << 20), "hierarchical");
  assert.equal(choose(rulesFor(t, 3, 3), "allreduce", 1 << 20), "pipelined"); // nearer 4x1
  // Without multi-host rules the rank count's rules apply across hosts too.
  const flat = checkTuning({ source: "test", ranks: { "4": rules("ring") } } as TuningTable);
  assert.equal(choose(rulesFor(flat, 4, 2), "allreduce", 1 << 20), "ring");
  assert.throws(
    () => checkTuning({ source: "", ranks: {}, hosts: { "2by2": rules("ring") } } as TuningTable),
    /bad hosts shape/,
  );
});

for (
  const [script, n, expect] of [
    ["coll_ucx_example.ts", 3, /rank 2: scatter -> \[40,50\]/],
    ["coll_ucx_pipelined.ts", 2, /pipelined 1 MiB × 2: 4 MiB on 2 ranks/],
    ["coll_adaptive.ts", 4, /allgather 1000 B\/rank -> /],
    ["demo_allreduce.ts", 4, /rank 3\/4: allreduce of 4 MiB = 10 everywhere/],
  ] as const
) {
  Deno.test(`example ${script} on ${n} ranks`, async () => {
    const lines: string[] = [];
    const r = await launch({
      ranks: n,
      script: new URL(`../../examples/${script}`, import.meta.url).pathname,
      args: script === "coll_ucx_pipelined.ts" ? ["4"] : [],
      timeoutS: 120,
      out: (l) => lines.push(l),
    });
    assert.ok(r.success, `${r.reason}\n${lines.join("\n")}`);
    assert.ok(lines.some((l) => expect.test(l)), lines.join("\n"));
  });
}
