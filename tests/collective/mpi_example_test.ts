/**
 * `examples/mpi_example.ts` (remote READ over UCX Active Messages, served with io_uring)
 * under real `mpirun`: each job runs for about a second with small sizes, under a
 * timeout that kills the whole process group, and must exit 0 with every rank reporting
 * verified reads and rank 0 an aggregate over all ranks.
 *
 * Without `mpirun` these tests FAIL (MPI is required) unless `PLUVIO_SKIP_MPI=1`.
 */
import assert from "node:assert/strict";
import { mpirun, requireMpi, skipMpi as skip } from "../helpers/mpirun.ts";

const example = new URL("../../examples/mpi_example.ts", import.meta.url).pathname;

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
  requireMpi(["mpi", "uring", "ucx"]);
  const { stdout, context } = await mpirun(ranks, example, args, { timeoutMs });
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
