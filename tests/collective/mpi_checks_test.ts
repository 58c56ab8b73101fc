/**
 * The MPI backend's check mode and its way out after a timeout, under real `mpirun`
 * (Open MPI): mismatches and local rejections fail every rank (rank_checks.ts, 2 and 3
 * ranks), and `finalize({ abort: true })` ends a job whose collective timed out
 * (rank_abort.ts). Without `mpirun` these FAIL unless `PLUVIO_SKIP_MPI=1`.
 */
import assert from "node:assert/strict";
import { mpirun, requireMpi, skipMpi } from "../helpers/mpirun.ts";

const here = new URL(".", import.meta.url).pathname;
const opts = { ignore: skipMpi, sanitizeResources: false, sanitizeOps: false };

for (const n of [2, 3]) {
  Deno.test({
    name: `mpi checks: mismatches and local rejections fail every rank, ${n} ranks`,
    ...opts,
    async fn() {
      requireMpi();
      const { stdout, context } = await mpirun(n, `${here}rank_checks.ts`, [], {
        timeoutMs: 120_000,
        env: { PLUVIO_COLL_CHECKS: "1" },
      });
      const sums = [
        ...stdout.matchAll(/^SUMMARY checks rank=\d+ size=\d+ checks=(\d+) failures=0/gm),
      ];
      assert.equal(sums.length, n, context);
    },
  });
}

Deno.test({
  name: "mpi: finalize({ abort: true }) ends a job whose collective timed out",
  ...opts,
  async fn() {
    requireMpi();
    const t0 = performance.now();
    const { stdout, code, context } = await mpirun(2, `${here}rank_abort.ts`, [], {
      timeoutMs: 60_000,
      allowFailure: true,
    });
    assert.match(stdout, /ABORTING after TimeoutError/, context);
    assert.doesNotMatch(stdout, /NOT ABORTED/, context);
    // mpirun passes MPI_Abort's code on (its help text about the abort is unreliable).
    assert.equal(code, 3, context);
    assert.ok(performance.now() - t0 < 25_000, `ended well before rank 1's 30 s sleep${context}`);
  },
});

Deno.test({
  name:
    "mpi checks: the whole matrix (concurrent calls, 8-request reactor, blocking allreduce from 64 KiB) passes in check mode",
  ...opts,
  async fn() {
    requireMpi();
    const { stdout, context } = await mpirun(4, `${here}rank_matrix.ts`, ["--capacity=8"], {
      timeoutMs: 120_000,
      // Also the opt-in blocking MPI_Allreduce path (large allreduces of pass 3).
      env: { PLUVIO_COLL_CHECKS: "1", PLUVIO_MPI_BLOCKING_BYTES: "65536" },
    });
    const sums = [...stdout.matchAll(/^SUMMARY \S+ rank=\d+ size=4 checks=\d+ failures=0/gm)];
    assert.equal(sums.length, 4, context);
  },
});
