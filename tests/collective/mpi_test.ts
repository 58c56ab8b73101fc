/**
 * The MPI backend under real `mpirun` (Open MPI): each test launches one job of 2 or 4
 * ranks running a rank script, with a timeout that kills the whole process group, and
 * asserts exit code 0 and every rank's summary line.
 *
 * Without `mpirun` these tests FAIL (MPI is required) unless `PLUVIO_SKIP_MPI=1`.
 */
import assert from "node:assert/strict";
import { mpirun as launch, requireMpi, skipMpi as skip } from "../helpers/mpirun.ts";

const here = new URL(".", import.meta.url).pathname;

interface Summary {
  rank: number;
  size: number;
  checks: number;
  failures: number;
}

/** Runs `mpirun -n ranks deno run -A <script> ...args` and returns the summaries. */
async function mpirun(
  ranks: number,
  script: string,
  args: string[] = [],
  timeoutMs = 60_000,
): Promise<Summary[]> {
  requireMpi();
  const { stdout, context } = await launch(ranks, `${here}${script}`, args, { timeoutMs });
  const sums = [...stdout.matchAll(
    /^SUMMARY \S+ rank=(\d+) size=(\d+) checks=(\d+) failures=(\d+)/gm,
  )].map((m) => ({ rank: +m[1], size: +m[2], checks: +m[3], failures: +m[4] }));
  assert.equal(sums.length, ranks, `expected ${ranks} summary lines${context}`);
  assert.deepEqual(sums.map((s) => s.rank).sort(), [...Array(ranks).keys()]);
  for (const s of sums) {
    assert.equal(s.size, ranks);
    assert.equal(s.failures, 0, `rank ${s.rank} had failures${context}`);
    assert.ok(s.checks > 0, `rank ${s.rank} checked nothing`);
  }
  return sums;
}

const opts = { ignore: skip, sanitizeResources: false, sanitizeOps: false };

Deno.test({
  name: "mpi: every collective x element type x op, 2 ranks (concurrent and sequential)",
  ...opts,
  fn: async () => {
    const s = await mpirun(2, "rank_matrix.ts");
    assert.ok(s[0].checks > 600, `only ${s[0].checks} checks`);
  },
});

Deno.test({
  name: "mpi: every collective x element type x op, 4 ranks, 8-request reactor (queueing)",
  ...opts,
  fn: async () => {
    await mpirun(4, "rank_matrix.ts", ["--capacity=8"]);
  },
});

Deno.test({
  name: "mpi: point-to-point allreduce (doubling, ring, fallback) mixed sizes, 2/3/4 ranks",
  ...opts,
  fn: async () => {
    await mpirun(2, "rank_p2p.ts");
    await mpirun(3, "rank_p2p.ts");
    await mpirun(4, "rank_p2p.ts", ["--capacity=3"]);
  },
});

Deno.test({
  name: "mpi: every collective x element type x op, 3 ranks (ring allreduce, no doubling)",
  ...opts,
  fn: async () => {
    await mpirun(3, "rank_matrix.ts");
  },
});

Deno.test({
  name: "mpi: split / dup sub-communicators with collectives in flight on each, 4 ranks",
  ...opts,
  fn: async () => {
    await mpirun(4, "rank_comm.ts");
  },
});

Deno.test({
  name: "mpi: shape errors, invalid roots, bad ops, MPI errors, cancel and timeout, 2 ranks",
  ...opts,
  fn: async () => {
    await mpirun(2, "rank_errors.ts");
  },
});

Deno.test({
  name: "mpi: error handling with 4 ranks",
  ...opts,
  fn: async () => {
    await mpirun(4, "rank_errors.ts");
  },
});
