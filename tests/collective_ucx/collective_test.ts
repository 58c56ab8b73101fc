/**
 * UCX collectives through the launcher with 2, 3 and 4 real rank processes: the whole
 * matrix (rank_matrix.ts), a rank killed mid-collective (with the default error
 * handling; and with "auto" and "peer" named, mid-call and between calls), and a
 * bootstrap whose root never appears.
 */
import assert from "node:assert/strict";
import { launch } from "../../lib/collective/ucx/launch.ts";
import { mpirun, requireMpi, skipMpi } from "../helpers/mpirun.ts";

const here = (f: string) => new URL(f, import.meta.url).pathname;

async function run(ranks: number, script: string, args: string[] = [], failFast = true) {
  const lines: string[] = [];
  const r = await launch({
    ranks,
    script: here(script),
    args,
    timeoutS: 240,
    failFast,
    out: (l) => lines.push(l),
  });
  return { ...r, lines, text: lines.join("\n") };
}

for (const n of [2, 3, 4]) {
  Deno.test(`ucx collectives: the matrix on ${n} ranks`, async () => {
    const r = await run(n, "rank_matrix.ts");
    assert.ok(r.success, `${r.reason}\n${r.text}`);
    const ok = r.lines.filter((l) => /MATRIX OK \d+/.test(l));
    assert.equal(ok.length, n, r.text);
    console.log(`  ${ok[0].replace(/^\[\d\] /, "")} per rank`);
  });
}

for (const [n, spin] of [[2, 50], [3, 50], [2, 0]]) {
  Deno.test(`ucx collectives: spinning fast path and late ranks on ${n} ranks (spinUs ${spin})`, async () => {
    const r = await run(n, "rank_spin.ts", [String(spin)]);
    assert.ok(r.success, `${r.reason}\n${r.text}`);
    assert.equal(r.lines.filter((l) => /spin ok 120/.test(l)).length, n, r.text);
  });
}

for (const n of [2, 3, 4]) {
  Deno.test(`ucx collectives: a rank killed mid-allreduce fails the ${n - 1} survivor(s) with PeerError`, async () => {
    const timeoutMs = 15_000;
    const t0 = performance.now();
    const r = await run(n, "rank_dead.ts", [String(timeoutMs)], false);
    assert.equal(r.codes[n - 1], null, `the victim was killed by a signal\n${r.text}`);
    for (let k = 0; k < n - 1; k++) {
      assert.equal(r.codes[k], 0, `survivor ${k} exited cleanly\n${r.text}`);
      const line = r.lines.find((l) => l.startsWith(`[${k}] SURVIVOR `));
      assert.ok(line, `survivor ${k} reported\n${r.text}`);
      const m = /SURVIVOR (\w+) (\d+)/.exec(line)!;
      assert.equal(m[1], "PeerError", line);
      assert.ok(Number(m[2]) < timeoutMs, `detected within the timeout: ${line}`);
      assert.ok(r.lines.includes(`[${k}] AFTER PeerError`), `broken communicator\n${r.text}`);
    }
    assert.ok(performance.now() - t0 < 60_000);
  });
}

// The same scenario with each way of noticing the death named explicitly: "auto" (ranks on
// this host watch each other's process through pidfds, over shared memory) and "peer"
// (UCX peer-failure handling over TCP); the victim dies mid-call or between two calls.
for (const mode of ["auto", "peer"] as const) {
  for (const when of ["mid", "between"] as const) {
    const name = `ucx collectives: errorHandling "${mode}": a rank killed ${
      when === "mid" ? "mid-allreduce" : "between two calls"
    } fails the survivors with PeerError`;
    Deno.test(name, async () => {
      const n = 3;
      const r = await run(n, "rank_dead.ts", ["60000", mode, when], false);
      assert.equal(r.codes[n - 1], null, `the victim was killed by a signal\n${r.text}`);
      const survivors = r.lines.filter((l) => / SURVIVOR /.test(l));
      for (let k = 0; k < n - 1; k++) {
        assert.equal(r.codes[k], 0, `survivor ${k} exited cleanly\n${r.text}`);
        const line = survivors.find((l) => l.startsWith(`[${k}] SURVIVOR `));
        assert.match(line ?? "", /SURVIVOR PeerError /, `survivor ${k}\n${r.text}`);
        assert.ok(r.lines.includes(`[${k}] AFTER PeerError`), `broken communicator\n${r.text}`);
      }
      // Who noticed first says how. Mid-call, the shared-memory transport may report the
      // death itself under "auto"; between calls only the pidfd can.
      const byPidfd = survivors.filter((l) => /exited without leaving the group/.test(l));
      if (mode === "peer") assert.equal(byPidfd.length, 0, `no pidfds under "peer"\n${r.text}`);
      else if (when === "between") assert.ok(byPidfd.length >= 1, `a pidfd noticed\n${r.text}`);
    });
  }
}

Deno.test("ucx collectives: a bootstrap whose root never appears fails with TimeoutError", async () => {
  const { UcxCommunicator } = await import("../../lib/collective/ucx/communicator.ts");
  const { freePort } = await import("../../lib/collective/ucx/launch.ts");
  const { TimeoutError } = await import("../../lib/errors.ts");
  const t0 = performance.now();
  await assert.rejects(
    UcxCommunicator.create({
      config: { rank: 1, size: 2, rootHost: "127.0.0.1", rootPort: freePort() },
      bootstrapTimeoutMs: 500,
    }),
    (e: unknown) => e instanceof TimeoutError && /cannot reach the bootstrap root/.test(e.message),
  );
  assert.ok(performance.now() - t0 < 10_000);
  // The root side: a rank that never arrives.
  await assert.rejects(
    UcxCommunicator.create({
      config: { rank: 0, size: 3, rootHost: "127.0.0.1", rootPort: freePort() },
      bootstrapTimeoutMs: 500,
    }),
    (e: unknown) => e instanceof TimeoutError && /rank\(s\) 1, 2 never arrived/.test(e.message),
  );
});

for (const n of [2, 4]) {
  Deno.test({
    name: `ucx collectives agree with the MPI backend in one mpirun job (${n} ranks)`,
    // Without mpirun this FAILS unless PLUVIO_SKIP_MPI=1 (like tests/collective/mpi_test.ts).
    ignore: skipMpi,
    async fn() {
      requireMpi(["mpi", "ucx"]);
      const { freePort } = await import("../../lib/collective/ucx/launch.ts");
      const { stdout, stderr } = await mpirun(n, here("rank_mpi_cross.ts"), [], {
        timeoutMs: 180_000,
        env: { PLUVIO_COLL_ROOT_PORT: String(freePort()) },
      });
      const text = stdout + stderr;
      const ok = [...text.matchAll(/CROSS OK (\d+)/g)];
      assert.equal(ok.length, n, text.slice(-4000));
      console.log(`  ${ok[0][0]} per rank`);
    },
  });
}
