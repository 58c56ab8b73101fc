/**
 * `examples/mpi_example.ts` (remote READ over UCX Active Messages, served with io_uring)
 * under real `mpirun`: each job runs for about a second with small sizes, under a
 * timeout that kills the whole process group, and must exit 0 with every rank reporting
 * verified reads and rank 0 an aggregate over all ranks.
 *
 * Without `mpirun` these tests FAIL (MPI is required) unless `PLUVIO_SKIP_MPI=1`.
 */
import assert from "node:assert/strict";
import { hasBackend } from "../../lib/ffi/library.ts";

const example = new URL("../../examples/mpi_example.ts", import.meta.url).pathname;
const skip = Deno.env.get("PLUVIO_SKIP_MPI") === "1";

function requireMpi(): void {
  let found = false;
  try {
    found = new Deno.Command("mpirun", { args: ["--version"], stdin: "null", stdout: "null" })
      .outputSync().success;
  } catch { /* not installed */ }
  if (!found) {
    throw new Error(
      "mpirun not found: this test needs an MPI (Debian: apt-get install openmpi-bin " +
        "libopenmpi-dev), or set PLUVIO_SKIP_MPI=1 to skip it",
    );
  }
  for (const b of ["mpi", "uring", "ucx"] as const) {
    if (!hasBackend(b)) {
      throw new Error(
        `the native library was built without ${b}: rebuild it (deno run -A native/build.ts), ` +
          "or set PLUVIO_SKIP_MPI=1 to skip this test",
      );
    }
  }
}

interface RankLine {
  rank: number;
  size: number;
  peer: number;
  verified: number;
  reads: number;
  served: number;
}

/** Runs the example under `mpirun -n ranks` and checks its output. */
async function runExample(ranks: number, args: string[], timeoutMs = 60_000) {
  requireMpi();
  // setsid: mpirun leads a new process group, so the timeout kills it and every rank.
  const child = new Deno.Command("setsid", {
    args: [
      "mpirun",
      "--allow-run-as-root",
      "--oversubscribe",
      "--bind-to",
      "none",
      "-n",
      String(ranks),
      Deno.execPath(),
      "run",
      "-A",
      example,
      ...args,
    ],
    stdin: "null",
    stdout: "piped",
    stderr: "piped",
  }).spawn();
  let timedOut = false;
  const timer = setTimeout(() => {
    timedOut = true;
    try {
      Deno.kill(-child.pid, "SIGKILL");
    } catch { /* already gone */ }
  }, timeoutMs);
  const out = await child.output();
  clearTimeout(timer);
  const stdout = new TextDecoder().decode(out.stdout);
  const stderr = new TextDecoder().decode(out.stderr);
  const context = `\n--- stdout ---\n${stdout}\n--- stderr ---\n${stderr.slice(-4000)}`;
  assert.ok(
    !timedOut,
    `mpirun -n ${ranks} mpi_example.ts timed out after ${timeoutMs} ms${context}`,
  );
  assert.equal(out.code, 0, `mpirun -n ${ranks} mpi_example.ts exited with ${out.code}${context}`);

  const lines: RankLine[] = [...stdout.matchAll(
    /^rank (\d+)\/(\d+): read rank (\d+)'s file .* verified (\d+)\/(\d+) reads, ([\d.]+) MB\/s.*served (\d+)$/gm,
  )].map((m) => ({
    rank: +m[1],
    size: +m[2],
    peer: +m[3],
    verified: +m[4],
    reads: +m[5],
    served: +m[7],
  }));
  assert.equal(lines.length, ranks, `expected ${ranks} rank lines${context}`);
  assert.deepEqual(lines.map((l) => l.rank).sort(), [...Array(ranks).keys()]);
  for (const l of lines) {
    assert.equal(l.size, ranks);
    assert.equal(l.peer, (l.rank + 1) % ranks, `rank ${l.rank} read the wrong peer`);
    assert.ok(l.reads > 0, `rank ${l.rank} made no reads${context}`);
    assert.equal(l.verified, l.reads, `rank ${l.rank} verified only some reads${context}`);
  }
  // Every read a client made was served by the rank before it in the ring.
  for (const l of lines) {
    const client = lines.find((c) => c.peer === l.rank)!;
    assert.equal(l.served, client.reads, `rank ${l.rank} served a different count${context}`);
  }
  const agg = /^aggregate: (\d+)\/(\d+) ranks ok, (\d+)\/(\d+) reads verified/m.exec(stdout);
  assert.ok(agg, `no aggregate line from rank 0${context}`);
  const total = lines.reduce((a, l) => a + l.reads, 0);
  assert.deepEqual(agg.slice(1).map(Number), [ranks, ranks, total, total]);
}

const opts = { ignore: skip, sanitizeResources: false, sanitizeOps: false };

Deno.test({
  name: "mpi_example: 2 ranks read each other's files over UCX, 64 KiB blocks, verified",
  ...opts,
  fn: () => runExample(2, ["--size-mib", "4", "--bs-kib", "64", "--qd", "4", "--seconds", "1"]),
});

Deno.test({
  name: "mpi_example: 3 ranks in a ring, 512 KiB blocks (rendezvous), verified",
  ...opts,
  fn: () => runExample(3, ["--size-mib", "4", "--bs-kib", "512", "--qd", "2", "--seconds", "1"]),
});
