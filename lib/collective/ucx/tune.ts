/**
 * `deno task tune`: measures every UCX collective algorithm on this machine (4 B to
 * 16 MiB, 2 and 4 ranks, through the launcher) and writes the table the adaptive policy
 * reads (`tuning.json`), printing the measured best beside the chosen crossovers.
 *
 * Usage: `deno run -A lib/collective/ucx/tune.ts [--ranks=2,4] [--max-bytes=N]
 * [--out=path] [--no-write]`. With `--hosts=a:2,b:2 [--rsh=CMD]` it measures that
 * multi-host layout instead (ranks started through the launcher's `--hosts`) and stores
 * the rules under `hosts["2x2"]`, keeping the rest of the table. Each rank runs this same file (it sees the launcher's
 * `PLUVIO_COLL_RANK`) and prints `TUNE <collective> <algorithm> <bytes> <µs>` lines.
 *
 * @module
 */
import { Runtime } from "../../runtime/runtime.ts";
import { Sum } from "../ops.ts";
import { ALGORITHMS, type Algorithms, UcxCommunicator } from "./communicator.ts";
import { launch, parseHosts } from "./launch.ts";
import { sizes, timeCalls } from "./measure.ts";
import type { TuningRule, TuningRules, TuningTable } from "./policy.ts";

const flag = (name: string, dflt: string) =>
  Deno.args.find((a) => a.startsWith(`--${name}=`))?.split("=")[1] ?? dflt;

/** Switch algorithm only when the new one is faster by this factor (noise guard). */
const HYSTERESIS = 1.05;

async function rankMain(maxBytes: number): Promise<void> {
  const rt = new Runtime();
  await rt.run(async () => {
    const c = await UcxCommunicator.create({ timeout: 120_000 });
    const p = c.size;
    const big = new Uint8Array(maxBytes * p);
    const recv = new Uint8Array(maxBytes * p);
    const out = (k: string, a: string, b: number, us: number) => {
      if (c.rank === 0) console.log(`TUNE ${k} ${a} ${b} ${us.toFixed(3)}`);
    };
    for (const b of sizes(maxBytes)) {
      const f = new Float32Array(big.buffer, 0, b / 4);
      for (const a of ALGORITHMS.allreduce) {
        out("allreduce", a, b, await timeCalls(c, b, () => c.allreduce(f, Sum, { algorithm: a })));
      }
      for (const a of ALGORITHMS.reduce) {
        const dst = new Float32Array(recv.buffer, 0, b / 4);
        out(
          "reduce",
          a,
          b,
          await timeCalls(c, b, () => c.reduce(f, dst, Sum, 0, { algorithm: a })),
        );
      }
      for (const a of ALGORITHMS.broadcast) {
        const u = big.subarray(0, b);
        out("broadcast", a, b, await timeCalls(c, b, () => c.broadcast(u, 0, { algorithm: a })));
      }
      for (const a of ALGORITHMS.allgather) {
        const s = big.subarray(0, b), r = recv.subarray(0, b * p);
        out("allgather", a, b, await timeCalls(c, b, () => c.allgather(s, r, { algorithm: a })));
      }
    }
    await c.close();
  });
  rt.close();
}

/**
 * Collapses per-size winners into rules. Each size is judged on the geometric mean of
 * its neighbourhood (the size itself and the sizes ×4 either side), and the previous
 * choice is kept within {@link HYSTERESIS}: one noisy point does not flip the policy.
 */
function rulesOf<A extends string>(m: Map<number, Map<A, number>>): TuningRule<A>[] {
  const rows = [...m.entries()].sort((x, y) => x[0] - y[0]);
  const score = (i: number, a: A) => {
    const xs = [i - 1, i, i + 1].filter((j) => j >= 0 && j < rows.length);
    return Math.exp(xs.reduce((s, j) => s + Math.log(rows[j][1].get(a)!), 0) / xs.length);
  };
  const rules: TuningRule<A>[] = [];
  let cur: A | null = null;
  rows.forEach(([b, byAlg], i) => {
    let best: A | null = null;
    for (const a of byAlg.keys()) if (best === null || score(i, a) < score(i, best)) best = a;
    if (cur !== null && score(i, cur) <= score(i, best!) * HYSTERESIS) best = cur;
    if (best !== cur) {
      if (cur !== null) rules[rules.length - 1].maxBytes = prevSize(m, b);
      rules.push({ maxBytes: null, algorithm: best! });
      cur = best;
    }
  });
  return rules;
}

function prevSize(m: Map<number, unknown>, b: number): number {
  return Math.max(...[...m.keys()].filter((x) => x < b));
}

async function parentMain(): Promise<void> {
  const hostsFlag = flag("hosts", "");
  const hosts = hostsFlag ? parseHosts(hostsFlag) : undefined;
  const rsh = flag("rsh", "ssh").split(/\s+/).filter((x) => x);
  const rankCounts = hosts
    ? [hosts.reduce((s, h) => s + h.slots, 0)]
    : flag("ranks", "2,4").split(",").map(Number);
  const shape = hosts ? `${hosts.length}x${hosts[0].slots}` : "";
  if (hosts && hosts.some((h) => h.slots !== hosts[0].slots)) {
    throw new Error("--hosts: every host needs the same slot count (the table keys HxR)");
  }
  const maxBytes = Number(flag("max-bytes", String(16 << 20)));
  const outPath = flag("out", new URL("./tuning.json", import.meta.url).pathname);
  const stamp = `${new Date().toISOString()}, load average ${
    Deno.loadavg().map((x) => x.toFixed(2)).join(" ")
  } at the start`;
  const table: TuningTable = hosts ? JSON.parse(await Deno.readTextFile(outPath)) : {
    source: `deno task tune (--ranks=${rankCounts} --max-bytes=${maxBytes}), ${stamp}`,
    ranks: {},
  };
  if (hosts) {
    table.hosts ??= {};
    table.source += `; hosts ${shape}: deno task tune --hosts=${hostsFlag} ` +
      `--max-bytes=${maxBytes}, ${stamp}`;
  }
  for (const n of rankCounts) {
    const lines: string[] = [];
    const r = await launch({
      ranks: n,
      script: new URL(import.meta.url).pathname,
      args: [`--max-bytes=${maxBytes}`],
      timeoutS: 1800,
      out: (l) => lines.push(l),
      hosts,
      rsh,
    });
    if (!r.success) throw new Error(`tune on ${n} ranks failed: ${r.reason}\n${lines.join("\n")}`);
    const data = new Map<string, Map<number, Map<string, number>>>();
    for (const l of lines) {
      const m = /TUNE (\S+) (\S+) (\d+) ([\d.]+)/.exec(l);
      if (!m) continue;
      const byB = data.get(m[1]) ?? new Map();
      data.set(m[1], byB);
      const byA = byB.get(Number(m[3])) ?? new Map();
      byB.set(Number(m[3]), byA);
      byA.set(m[2], Number(m[4]));
    }
    const rules = {} as Record<string, TuningRule[]>;
    console.log(
      `\n${n} ranks${
        hosts ? ` on ${shape} hosts` : ""
      } (µs per call; * = measured best, > = chosen)`,
    );
    for (const k of Object.keys(ALGORITHMS) as (keyof Algorithms)[]) {
      const byB = data.get(k)!;
      rules[k] = rulesOf(byB);
      const algs = ALGORITHMS[k];
      console.log(
        `${k.padEnd(10)} ${"bytes".padStart(9)} ${algs.map((a) => a.padStart(22)).join("")}`,
      );
      for (const [b, byA] of byB) {
        const best = Math.min(...byA.values());
        const chosen = rules[k].find((x) => x.maxBytes === null || b <= x.maxBytes)!.algorithm;
        const cells = algs.map((a) => {
          const us = byA.get(a)!;
          const mark = (us === best ? "*" : " ") + (a === chosen ? ">" : " ");
          return `${mark}${us.toFixed(1)}`.padStart(22);
        });
        console.log(`${"".padEnd(10)} ${String(b).padStart(9)} ${cells.join("")}`);
      }
      console.log(`  crossovers: ${JSON.stringify(rules[k])}`);
    }
    if (hosts) table.hosts![shape] = rules as unknown as TuningRules;
    else table.ranks[String(n)] = rules as unknown as TuningRules;
  }
  if (!Deno.args.includes("--no-write")) {
    await Deno.writeTextFile(outPath, JSON.stringify(table, null, 2) + "\n");
    console.log(`\nwrote ${outPath}`);
  }
}

if (import.meta.main) {
  if (Deno.env.get("PLUVIO_COLL_RANK") !== undefined) {
    await rankMain(Number(flag("max-bytes", String(16 << 20))));
  } else await parentMain();
}
