/**
 * `deno task bench:coll`: allreduce (f32 sum, 4 B to 16 MiB, 2 and 4 ranks) with each
 * UCX algorithm and the adaptive choice (through pluvio's launcher; the adaptive choice
 * also over an `allocAligned` buffer), the MPI backend (pluvio under mpirun), the C MPI
 * program `bench/mpi/osu_coll.c` (Iallreduce + Test) and C blocking `MPI_Allreduce`
 * (`bench/mpi/allreduce.c`, plain and page-aligned buffers), all in one run, alternating. Prints a table of medians and ratios to C, the crossover
 * points the adaptive policy chose beside the measured best, and writes
 * `bench/results/coll.md`.
 *
 * Usage: `deno run -A bench/coll/run.ts [--max-bytes=N] [--rounds=N] [--ranks=2,4] [--no-write]`;
 * with `--hosts HxR` it runs the multi-host benchmark instead (`bench/coll/hosts.ts`).
 *
 * @module
 */
import { buildOsuColl, flag, human, median, MPIRUN, root, run } from "../common.ts";
import { launch } from "../../lib/collective/ucx/launch.ts";
import { rulesFor, TUNING } from "../../lib/collective/ucx/policy.ts";

if (Deno.args.some((a) => a === "--hosts" || a.startsWith("--hosts="))) {
  const { benchHosts } = await import("./hosts.ts");
  await benchHosts();
  Deno.exit(0);
}

const maxBytes = Number(flag("max-bytes", String(16 << 20)));
const rounds = Number(flag("rounds", "2"));
const rankCounts = flag("ranks", "2,4").split(",").map(Number);
const write = !Deno.args.includes("--no-write");

type Results = Map<string, number[]>; // "series bytes" -> µs per round
const choices = new Map<string, string>(); // "n bytes" -> adaptive choice

function parse(text: string, into: Results, rename?: string, n?: number): void {
  if (rename === "c-blocking") { // allreduce.c: RESULT c-blocking <placement> b2b <bytes> <µs>
    for (const m of text.matchAll(/^RESULT c-blocking (plain|page) b2b (\d+) ([\d.]+)$/gm)) {
      const k = `c-blocking${m[1] === "page" ? "-page" : ""} ${m[2]}`;
      if (!into.has(k)) into.set(k, []);
      into.get(k)!.push(Number(m[3]));
    }
    return;
  }
  if (rename === "c-mpi") { // osu_coll.c: RESULT <collective> <bytes> <µs>
    for (const m of text.matchAll(/^RESULT allreduce (\d+) ([\d.]+)$/gm)) {
      const k = `c-mpi ${m[1]}`;
      if (!into.has(k)) into.set(k, []);
      into.get(k)!.push(Number(m[2]));
    }
    return;
  }
  for (
    const m of text.matchAll(/^(?:\[\s*\d+\] )?RESULT (\S+) (\S+) (\d+) ([\d.]+)(?: (\S+))?$/gm)
  ) {
    if (m[2] !== "allreduce") continue;
    const k = `${rename ?? m[1]} ${m[3]}`;
    if (!into.has(k)) into.set(k, []);
    into.get(k)!.push(Number(m[4]));
    if (m[5] && n) choices.set(`${n} ${m[3]}`, m[5]);
  }
}

const ompi = await buildOsuColl();
const started = new Date().toISOString();
const load0 = Deno.loadavg().map((x) => x.toFixed(2)).join(" ");
const SERIES = [
  "c-blocking",
  "c-blocking-page",
  "c-mpi",
  "mpi-backend",
  "ucx-ring",
  "ucx-pipelined",
  "ucx-recursive-doubling",
  "adaptive",
  "adaptive-page",
];
await run("mpicc", ["-O2", "-o", "bench/build/allreduce", "bench/mpi/allreduce.c"]);
const sizeArgs: string[] = [];
for (let b = 4; b <= maxBytes; b *= 4) sizeArgs.push(String(b));
const sections: string[] = [];
const verdicts: string[] = [];

for (const n of rankCounts) {
  const res: Results = new Map();
  for (let r = 0; r < rounds; r++) {
    parse(
      await run("mpirun", [...MPIRUN, "-n", String(n), "bench/build/osu_coll", String(maxBytes)]),
      res,
      "c-mpi",
    );
    parse(
      await run("mpirun", [
        ...MPIRUN,
        "-n",
        String(n),
        "bench/build/allreduce",
        "blocking+b2b",
        ...sizeArgs,
      ]),
      res,
      "c-blocking",
    );
    parse(
      await run("mpirun", [
        ...MPIRUN,
        "-n",
        String(n),
        Deno.execPath(),
        "run",
        "-A",
        "bench/coll/mpi_rank.ts",
        String(maxBytes),
      ]),
      res,
    );
    const lines: string[] = [];
    const l = await launch({
      ranks: n,
      script: `${root}bench/coll/ucx_rank.ts`,
      args: [String(maxBytes)],
      timeoutS: 600,
      out: (x) => lines.push(x),
    });
    if (!l.success) throw new Error(`UCX bench failed: ${l.reason}\n${lines.join("\n")}`);
    parse(lines.join("\n"), res, undefined, n);
  }
  const rules = rulesFor(TUNING, n).allreduce;
  const rows: string[] = [
    `### allreduce, ${n} ranks (µs per call, median of ${rounds} rounds; ratio = adaptive / best C)`,
    "",
    `| size | ${
      SERIES.join(" | ")
    } | adaptive chose | measured best UCX | adaptive / best C | adaptive-page / adaptive |`,
    `|---:|${SERIES.map(() => "---:").join("|")}|---|---|---:|---:|`,
  ];
  for (let b = 4; b <= maxBytes; b *= 4) {
    const m = (s: string) => median(res.get(`${s} ${b}`) ?? [NaN]);
    const ucx = ["ucx-ring", "ucx-pipelined", "ucx-recursive-doubling"];
    const best = ucx.reduce((x, y) => (m(y) < m(x) ? y : x));
    const bestC = Math.min(m("c-mpi"), m("c-blocking"), m("c-blocking-page"));
    const ratio = m("adaptive") / bestC;
    rows.push(
      `| ${human(b)} | ${SERIES.map((s) => m(s).toFixed(1)).join(" | ")} | ${
        choices.get(`${n} ${b}`) ?? "?"
      } | ${best.replace("ucx-", "")} | ${ratio.toFixed(2)}× | ${
        (m("adaptive-page") / m("adaptive")).toFixed(2)
      }× |`,
    );
    if (n === 2 && b >= 65536) {
      verdicts.push(
        `2 ranks ${human(b)}: adaptive / best C = ${ratio.toFixed(2)}× (target ≤ 1.0×); ` +
          `allocAligned / plain = ${
            (m("adaptive-page") / m("adaptive")).toFixed(2)
          }× (target ≤ 1.0×)`,
      );
    }
    if (n === 2 && b <= 1024) {
      verdicts.push(`2 ranks ${human(b)}: adaptive / best C = ${ratio.toFixed(2)}× (target ≤ 2×)`);
    }
  }
  rows.push(
    "",
    `Adaptive crossovers for ${n} ranks (from tuning.json): ${JSON.stringify(rules)}`,
    "",
  );
  sections.push(rows.join("\n"));
  console.log(rows.join("\n"));
}

const cmd = `flock /tmp/pluvio-heavy.lock deno task bench:coll${
  Deno.args.length ? " " + Deno.args.join(" ") : ""
}`;
const doc = [
  "# UCX collectives vs MPI: allreduce",
  "",
  `Command: \`${cmd}\` (${started}); ${ompi}; ${rankCounts.join(" and ")} ranks on one host.`,
  `Statistic: per size, ${
    rankCounts.length > 0 ? "5 batches" : ""
  } of calls, median batch mean, max over ranks (the osu_coll.c loop);`,
  `median over ${rounds} rounds, C / MPI backend / UCX runs alternating.`,
  `Load average at the start: ${load0} (2 cores, shared with other engineers' builds and`,
  "benchmarks while this ran: absolute figures are noisy, compare ratios within a row).",
  "",
  ...sections,
  "Targets:",
  "",
  ...verdicts.map((v) => `- ${v}`),
  "",
].join("\n");
if (write) {
  await Deno.writeTextFile(`${root}bench/results/coll.md`, doc);
  console.log("wrote bench/results/coll.md");
}
