/**
 * Job isolation of the UCX bootstrap: job ids from the launcher and from the
 * environment of mpirun/srun/torchrun, the root refusing ranks of another job, a rank 0
 * that cannot bind its port failing its holder's group, and two jobs started at once ×10
 * — through the launcher, by hand (one shared port, no job id) and under `mpirun` —
 * never forming a mixed group.
 *
 * @module
 */
import assert from "node:assert/strict";
import {
  bootstrap,
  type BootstrapConfig,
  bootstrapConfigFromEnv,
  defaultRootPort,
} from "../../lib/collective/ucx/bootstrap.ts";
import { freePort, launch } from "../../lib/collective/ucx/launch.ts";
import { PeerError } from "../../mod.ts";
import { hasMpirun, skipMpi } from "../helpers/mpirun.ts";
import { outputWithin } from "../helpers/bounded.ts";

const rankJob = new URL("./rank_job.ts", import.meta.url).pathname;
const addr = (s: string) => new TextEncoder().encode(s);
const cfg = (rank: number, size: number, port: number, job?: string): BootstrapConfig => ({
  rank,
  size,
  rootHost: "127.0.0.1",
  rootPort: port,
  job,
});

/** Runs `f` with the environment variables `vars` set (undefined: removed), then restores. */
function withEnv<T>(vars: Record<string, string | undefined>, f: () => T): T {
  const saved = Object.fromEntries(Object.keys(vars).map((k) => [k, Deno.env.get(k)]));
  const set = (k: string, v: string | undefined) =>
    v === undefined ? Deno.env.delete(k) : Deno.env.set(k, v);
  const ALL = [
    "PLUVIO_COLL_RANK",
    "PLUVIO_COLL_SIZE",
    "PLUVIO_COLL_JOB",
    "PLUVIO_COLL_ROOT_HOST",
    "PLUVIO_COLL_ROOT_PORT",
    "OMPI_COMM_WORLD_RANK",
    "OMPI_COMM_WORLD_SIZE",
    "PMIX_RANK",
    "PMIX_NAMESPACE",
    "OMPI_MCA_ess_base_jobid",
    "PMI_RANK",
    "PMI_SIZE",
    "SLURM_PROCID",
    "SLURM_NTASKS",
    "SLURM_JOB_ID",
    "SLURM_STEP_ID",
    "RANK",
    "WORLD_SIZE",
    "MASTER_ADDR",
    "MASTER_PORT",
    "TORCHELASTIC_RUN_ID",
  ];
  const all = Object.fromEntries(ALL.map((k) => [k, Deno.env.get(k)]));
  try {
    for (const k of ALL) Deno.env.delete(k);
    for (const [k, v] of Object.entries(vars)) set(k, v);
    return f();
  } finally {
    for (const [k, v] of Object.entries({ ...all, ...saved })) set(k, v);
  }
}

Deno.test("bootstrap env: rank/size/job/root from the launcher, Open MPI, Slurm, torchrun", () => {
  const c1 = withEnv({
    SLURM_PROCID: "3",
    SLURM_NTASKS: "4",
    SLURM_JOB_ID: "77",
    SLURM_STEP_ID: "2",
  }, bootstrapConfigFromEnv);
  assert.deepEqual(c1, {
    rank: 3,
    size: 4,
    rootHost: "127.0.0.1",
    rootPort: defaultRootPort("slurm=77.2"),
    job: "slurm=77.2",
  });
  const c2 = withEnv({
    OMPI_COMM_WORLD_RANK: "1",
    OMPI_COMM_WORLD_SIZE: "2",
    PMIX_NAMESPACE: "1234",
    OMPI_MCA_ess_base_jobid: "99",
  }, bootstrapConfigFromEnv);
  assert.equal(c2.job, "PMIX_NAMESPACE=1234");
  assert.equal(c2.rootPort, defaultRootPort(c2.job!));
  const c3 = withEnv({
    RANK: "0",
    WORLD_SIZE: "2",
    MASTER_ADDR: "10.0.0.1",
    MASTER_PORT: "29400",
    TORCHELASTIC_RUN_ID: "r1",
  }, bootstrapConfigFromEnv);
  assert.deepEqual(c3, {
    rank: 0,
    size: 2,
    rootHost: "10.0.0.1",
    rootPort: 29400,
    job: "TORCHELASTIC_RUN_ID=r1",
  });
  // The launcher's variables come first; a rank started by hand has no job and port 13337.
  const c4 = withEnv({
    PLUVIO_COLL_RANK: "1",
    PLUVIO_COLL_SIZE: "3",
    PLUVIO_COLL_JOB: "j",
    SLURM_PROCID: "0",
    SLURM_NTASKS: "8",
    SLURM_JOB_ID: "5",
  }, bootstrapConfigFromEnv);
  assert.deepEqual([c4.rank, c4.size, c4.job], [1, 3, "j"]);
  const c5 = withEnv({ PLUVIO_COLL_RANK: "0", PLUVIO_COLL_SIZE: "2" }, bootstrapConfigFromEnv);
  assert.deepEqual([c5.job, c5.rootPort], ["", 13337]);
  // Job ports: deterministic, spread, below the ephemeral range.
  const ports = new Set([...Array(200).keys()].map((i) => defaultRootPort(`job-${i}`)));
  assert.ok(ports.size > 190);
  for (const p of ports) assert.ok(p >= 14000 && p < 30000);
});

Deno.test("bootstrap: the root refuses a rank of another job and its own job goes on", async () => {
  const port = freePort();
  const root = bootstrap(cfg(0, 2, port, "job-A"), addr("a0"), { timeoutMs: 10_000 });
  await assert.rejects(
    bootstrap(cfg(1, 2, port, "job-B"), addr("b1"), { timeoutMs: 10_000 }),
    (e: unknown) =>
      e instanceof PeerError && /root of job "job-A"; rank 1 of job "job-B"/.test(e.message),
  );
  const mine = await bootstrap(cfg(1, 2, port, "job-A"), addr("a1"), { timeoutMs: 10_000 });
  assert.deepEqual(await root, [addr("a0"), addr("a1")]);
  assert.deepEqual(mine, [addr("a0"), addr("a1")]);
});

Deno.test("bootstrap: a rank 0 that cannot bind fails, and fails the group that holds the port", async () => {
  const port = freePort();
  const rs = await Promise.allSettled([
    bootstrap(cfg(0, 3, port), addr("a0"), { timeoutMs: 10_000 }),
    bootstrap(cfg(1, 3, port), addr("a1"), { timeoutMs: 10_000 }),
    new Promise((r) => setTimeout(r, 150)).then(() =>
      bootstrap(cfg(0, 3, port), addr("b0"), { timeoutMs: 10_000 })
    ),
  ]);
  for (const r of rs) {
    assert.equal(r.status, "rejected");
    assert.ok(r.reason instanceof PeerError, String(r.reason));
    assert.match(r.reason.message, /another rank 0 .*two jobs share the port/);
  }
  assert.match((rs[2] as PromiseRejectedResult).reason.message, /cannot listen on .*taken/);
  // With job ids the holder refuses the stranger and goes on.
  const port2 = freePort();
  const root = bootstrap(cfg(0, 2, port2, "A"), addr("a0"), { timeoutMs: 10_000 });
  await new Promise((r) => setTimeout(r, 100));
  await assert.rejects(
    bootstrap(cfg(0, 2, port2, "B"), addr("b0"), { timeoutMs: 10_000 }),
    (e: unknown) => e instanceof PeerError && /root of job "A"; rank 0 of job "B"/.test(e.message),
  );
  await bootstrap(cfg(1, 2, port2, "A"), addr("a1"), { timeoutMs: 10_000 });
  assert.equal((await root).length, 2);
});

Deno.test("bootstrap without a job id: a duplicate arriving after the table is complete fails all", async () => {
  const port = freePort();
  const rs = await Promise.allSettled([
    bootstrap(cfg(0, 2, port), addr("a0"), { timeoutMs: 10_000 }),
    bootstrap(cfg(1, 2, port), addr("b1"), { timeoutMs: 10_000 }),
    new Promise((r) => setTimeout(r, 200)).then(() =>
      bootstrap(cfg(1, 2, port), addr("a1"), { timeoutMs: 10_000 })
    ),
  ]);
  for (const r of rs) {
    assert.equal(r.status, "rejected");
    assert.match(String(r.reason), /rank 1 joined twice/);
  }
});

interface Outcome {
  ok: number;
  errors: number;
}

/** Checks one job's output: every rank OK, or the job failed with clear errors; never merged. */
function judge(what: string, text: string, exitOk: boolean, ranks: number, o: Outcome): void {
  assert.ok(!/MERGED/.test(text), `${what}: jobs merged\n${text}`);
  const oks = text.split("\n").filter((l) => /JOB OK/.test(l)).length;
  if (exitOk && oks === ranks) {
    o.ok++;
    return;
  }
  assert.match(text, /JOB ERROR (PeerError|TimeoutError): /, `${what}: no clear error\n${text}`);
  o.errors++;
}

Deno.test("two launcher jobs at once ×10 never merge", async () => {
  const o: Outcome = { ok: 0, errors: 0 };
  for (let t = 0; t < 10; t++) {
    await Promise.all(["A", "B"].map(async (tag) => {
      const lines: string[] = [];
      const r = await launch({
        ranks: 2,
        script: rankJob,
        args: [`${tag}${t}`],
        timeoutS: 60,
        out: (l) => lines.push(l),
      });
      judge(`launcher trial ${t} job ${tag}`, lines.join("\n"), r.success, 2, o);
    }));
  }
  console.log(`  ${o.ok} jobs correct, ${o.errors} failed with a clear error`);
  assert.equal(o.ok, 20, "launcher jobs have their own ports and ids");
});

Deno.test("two jobs started by hand at once on one port (no job id) ×10 never merge", async () => {
  const port = 30000 + (Deno.pid % 2700); // shared by both jobs: the collision under test
  const o: Outcome = { ok: 0, errors: 0 };
  for (let t = 0; t < 10; t++) {
    const procs = ["A", "B"].flatMap((tag) =>
      [0, 1].map((rank) => ({
        tag,
        child: new Deno.Command(Deno.execPath(), {
          args: ["run", "-A", rankJob, `${tag}${t}`, "1500"],
          env: {
            PLUVIO_COLL_RANK: String(rank),
            PLUVIO_COLL_SIZE: "2",
            PLUVIO_COLL_ROOT_PORT: String(port),
          },
          stdin: "null",
          stdout: "piped",
          stderr: "piped",
        }).spawn(),
      }))
    );
    const outs = await Promise.all(procs.map(async ({ tag, child }) => {
      const { output: r } = await outputWithin(child, 30_000);
      return { tag, ok: r.success, text: new TextDecoder().decode(r.stdout) };
    }));
    for (const tag of ["A", "B"]) {
      const mine = outs.filter((x) => x.tag === tag);
      judge(
        `by hand trial ${t} job ${tag}`,
        mine.map((x) => x.text).join(""),
        mine.every((x) => x.ok),
        2,
        o,
      );
    }
  }
  console.log(`  ${o.ok} jobs correct, ${o.errors} failed with a clear error`);
});

Deno.test({
  name: "two mpirun jobs at once ×10 never merge (job ids from PMIx)",
  ignore: skipMpi,
  async fn() {
    assert.ok(hasMpirun(), "mpirun not found (apt-get install openmpi-bin), or PLUVIO_SKIP_MPI=1");
    const o: Outcome = { ok: 0, errors: 0 };
    for (let t = 0; t < 10; t++) {
      await Promise.all(["A", "B"].map(async (tag) => {
        // Own session directories: two mpiruns starting at once may race creating a
        // shared one (orte_init: "orte_session_dir failed"), which is no pluvio matter.
        const tmp = Deno.makeTempDirSync({ prefix: "pluvio-ompi-" });
        const child = new Deno.Command("setsid", {
          args: [
            "mpirun",
            "--mca",
            "orte_tmpdir_base",
            tmp,
            "--allow-run-as-root",
            "--oversubscribe",
            "--bind-to",
            "none",
            "-n",
            "2",
            Deno.execPath(),
            "run",
            "-A",
            rankJob,
            `${tag}${t}`,
          ],
          stdin: "null",
          stdout: "piped",
          stderr: "piped",
        }).spawn();
        const { output: r } = await outputWithin(child, 60_000, { group: true });
        Deno.removeSync(tmp, { recursive: true });
        const text = new TextDecoder().decode(r.stdout) + new TextDecoder().decode(r.stderr);
        judge(`mpirun trial ${t} job ${tag}`, text, r.success, 2, o);
      }));
    }
    console.log(`  ${o.ok} jobs correct, ${o.errors} failed with a clear error`);
  },
});
