/**
 * Multi-host tests on namespace hosts (tests/helpers/nshosts.ts): the launcher across
 * hosts (`--hosts`, `--hostfile`, `--rsh`), topology and every collective algorithm on
 * 2 hosts × 2 ranks and 3 hosts × 1, launcher failures, a rank killed on the other host,
 * and the MPI backend under `mpirun -H` across the hosts. Skipped, with the reason, where
 * the machine forbids namespaces.
 *
 * @module
 */
import assert from "node:assert/strict";
import { launch, type LaunchResult } from "../../lib/collective/ucx/launch.ts";
import { NsHosts, nsHostsUnavailable } from "../helpers/nshosts.ts";
import { requireMpi, skipMpi } from "../helpers/mpirun.ts";
import { outputWithin } from "../helpers/bounded.ts";

const why = nsHostsUnavailable();
if (why) console.warn(`hosts_test: skipping the multi-host tests: ${why}`);
const here = (f: string) => new URL(`./${f}`, import.meta.url).pathname;

interface Run extends LaunchResult {
  lines: string[];
  text: string;
  ms: number;
}

async function onHosts(
  shape: [number, number],
  script: string,
  f: (
    h: NsHosts,
    run: (o?: Partial<Parameters<typeof launch>[0]>) => Promise<Run>,
  ) => Promise<void>,
  args: string[] = [],
): Promise<void> {
  const h = await NsHosts.create(shape[0], { lifetimeS: 240 });
  try {
    await f(h, async (o = {}) => {
      const lines: string[] = [];
      const t0 = performance.now();
      const r = await launch({
        ranks: 0,
        hosts: h.hosts.map((x) => ({ name: x.name, slots: shape[1] })),
        rsh: [h.rsh],
        script: here(script),
        args,
        timeoutS: 120,
        out: (l) => lines.push(l),
        ...o,
      });
      return { ...r, lines, text: lines.join("\n").slice(-6000), ms: performance.now() - t0 };
    });
  } finally {
    await h.close();
  }
}

for (const [H, R] of [[2, 2], [3, 1]] as const) {
  Deno.test({
    name:
      `hosts: ${H} namespace hosts × ${R}: topology, every algorithm exact, hierarchical = flat`,
    ignore: why !== null,
    async fn() {
      await onHosts([H, R], "rank_hosts.ts", async (_, run) => {
        // UCX's endpoint log says which transports each endpoint got.
        const r = await run({ env: { UCX_LOG_LEVEL: "info" } });
        assert.ok(r.success, `${r.reason}\n${r.text}`);
        const n = H * R;
        const hosts = [...Array(H).keys()].map((k) => [...Array(R).keys()].map((i) => k * R + i));
        for (let rank = 0; rank < n; rank++) {
          const at = `[${rank}@h${Math.floor(rank / R)}] `;
          assert.ok(
            r.lines.includes(`${at}TOPO ${rank} ${rank % R} ${R} ${JSON.stringify(hosts)}`),
            `rank ${rank}'s topology\n${r.text}`,
          );
          assert.ok(r.lines.some((l) => l.startsWith(`${at}HOSTS OK `)), `rank ${rank}\n${r.text}`);
          const eps = r.lines.filter((l) => l.startsWith(at) && /ep_cfg/.test(l));
          // errorHandling "auto": shared memory inside a host, TCP (with UCX peer-failure
          // handling) across hosts.
          assert.ok(eps.some((l) => /tcp/.test(l)), `rank ${rank} has a TCP endpoint\n${r.text}`);
          if (R > 1) {
            assert.ok(
              eps.some((l) => /posix|sysv|cma/.test(l) && !/tcp/.test(l)),
              `rank ${rank} has a shared-memory endpoint\n${r.text}`,
            );
          } else {
            assert.ok(!eps.some((l) => /posix|sysv|cma/.test(l)), `no shm across hosts\n${r.text}`);
          }
        }
        console.log(`  ${H}x${R}: ${r.ms.toFixed(0)} ms`);
      });
    },
  });
}

Deno.test({
  name: "hosts: launcher: an unreachable host ends the job with a clear error",
  ignore: why !== null,
  async fn() {
    await onHosts([1, 1], "rank_bootstrap.ts", async (h, run) => {
      const r = await run({ hosts: [{ name: "h0", slots: 1 }, { name: "nohost", slots: 1 }] });
      assert.equal(r.success, false);
      assert.match(r.reason ?? "", /host nohost: .*exited 255 .*unknown host/, r.text);
      assert.ok(r.ms < 30_000, `rank 0 on h0 was stopped (${r.ms} ms)`);
      assert.ok(h.hosts.length === 1);
    });
  },
});

Deno.test({
  name: "hosts: launcher: a rank exiting non-zero on the other host stops every host's ranks",
  ignore: why !== null,
  async fn() {
    await onHosts([2, 2], "rank_bootstrap.ts", async (_, run) => {
      const r = await run();
      assert.equal(r.success, false);
      assert.match(r.reason ?? "", /rank 3 on h1 failed \(exit 3\)/, r.text);
      assert.equal(r.codes[3], 3);
      assert.ok(r.ms < 30_000, `the sleeping ranks were stopped (${r.ms} ms)`);
      for (const k of [0, 1, 2]) assert.notEqual(r.codes[k], 0, `rank ${k} was stopped`);
    }, ["fail-rank", "3"]);
  },
});

Deno.test({
  name: "hosts: launcher --hostfile and --rsh from the command line, [rank@host] prefixes",
  ignore: why !== null,
  async fn() {
    await onHosts([2, 1], "rank_bootstrap.ts", async (h) => {
      const file = `${h.dir}/hostfile`;
      Deno.writeTextFileSync(file, "# two hosts\nh0 slots=2\nh1 slots=1 max_slots=4\n");
      const o = await new Deno.Command(Deno.execPath(), {
        args: [
          "run",
          "-A",
          new URL("../../lib/collective/ucx/launch.ts", import.meta.url).pathname,
          "--hostfile",
          file,
          "--rsh",
          h.rsh,
          "--timeout",
          "60",
          here("rank_bootstrap.ts"),
        ],
        stdin: "null",
      }).output();
      const out = new TextDecoder().decode(o.stdout);
      assert.equal(o.code, 0, out + new TextDecoder().decode(o.stderr));
      for (const p of ["[0@h0] table 3 ", "[1@h0] table 3 ", "[2@h1] table 3 "]) {
        assert.ok(out.split("\n").some((l) => l.startsWith(p)), `${p}\n${out}`);
      }
    });
  },
});

Deno.test({
  name: "hosts: a rank killed on the other host fails every survivor on every host with PeerError",
  ignore: why !== null,
  async fn() {
    const timeoutMs = 15_000;
    await onHosts([2, 2], "rank_dead.ts", async (_, run) => {
      const r = await run({ failFast: false });
      assert.equal(r.codes[3], null, `the victim (rank 3 on h1) was killed\n${r.text}`);
      for (let k = 0; k < 3; k++) {
        assert.equal(r.codes[k], 0, `survivor ${k} exited cleanly\n${r.text}`);
        const line = r.lines.find((l) => l.startsWith(`[${k}@h${k >> 1}] SURVIVOR `));
        const m = /SURVIVOR (\w+) (\d+)/.exec(line ?? "");
        assert.ok(m, `survivor ${k} reported\n${r.text}`);
        assert.equal(m[1], "PeerError", line);
        assert.ok(Number(m[2]) < timeoutMs, `within the timeout: ${line}`);
      }
    }, [String(timeoutMs)]);
  },
});

Deno.test({
  name: "hosts: UCX and the MPI backend agree under mpirun -H h0:2,h1:2 across namespace hosts",
  ignore: why !== null || skipMpi,
  async fn() {
    requireMpi(["mpi", "ucx"]);
    const h = await NsHosts.create(2, { lifetimeS: 240 });
    try {
      // mpirun runs on the head (its daemons on the hosts connect back to it).
      const child = new Deno.Command("setsid", {
        args: [
          ...h.head,
          "mpirun",
          "--allow-run-as-root",
          "--oversubscribe",
          "--bind-to",
          "none",
          "-H",
          "h0:2,h1:2",
          "-n",
          "4",
          "--mca",
          "plm_rsh_agent",
          h.rsh,
          "-x",
          "PLUVIO_COLL_ROOT_HOST=h0",
          "-x",
          "PATH",
          "-x",
          "HOME",
          Deno.execPath(),
          "run",
          "-A",
          here("rank_mpi_cross.ts"),
        ],
        stdin: "null",
        stdout: "piped",
        stderr: "piped",
      }).spawn();
      const { output: o } = await outputWithin(child, 180_000, { group: true });
      const text = new TextDecoder().decode(o.stdout) + new TextDecoder().decode(o.stderr);
      assert.equal(o.code, 0, text.slice(-4000));
      assert.equal([...text.matchAll(/CROSS OK (\d+)/g)].length, 4, text.slice(-4000));
    } finally {
      await h.close();
    }
  },
});
