/**
 * `deno task bench:coll:scaling`: how the bootstrap scales with the rank count on one
 * host. For 2, 4, 8, 16, 32 and 64 local ranks (through the launcher): the TCP bootstrap
 * alone, with records the size of this machine's UCX bootstrap record; and for 2 and 4
 * ranks `UcxCommunicator.create` plus a first 4 B allreduce. Reports per rank count the
 * launch-to-exit wall time, the spread of the ranks' start times (process start-up on
 * 2 cores), the slowest rank's bootstrap and the root's own bootstrap time (from its
 * listen to the table sent), medians over `--rounds` (default 3). Writes
 * `bench/results/scaling.md`.
 *
 * @module
 */
import { flag, median, root } from "../common.ts";
import { launch } from "../../lib/collective/ucx/launch.ts";
import { Context } from "../../lib/ucx/mod.ts";
import { hostId } from "../../lib/ffi/process.ts";

const rounds = Number(flag("rounds", "3"));
const counts = flag("ranks", "2,4,8,16,32,64").split(",").map(Number);
const ucxCounts = flag("ucx-ranks", "2,4").split(",").map(Number);
const write = !Deno.args.includes("--no-write");

const ctx = new Context();
const w = ctx.createWorker();
const recordBytes = w.address().length + (hostId()?.length ?? 0) + 8;
w.close();
ctx.close();

interface Row {
  wall: number[];
  spread: number[];
  slowest: number[];
  rootMs: number[];
  first: number[];
}

async function once(n: number, mode: string, row: Row): Promise<void> {
  const lines: string[] = [];
  const t0 = performance.now();
  const r = await launch({
    ranks: n,
    script: `${root}bench/coll/scale_rank.ts`,
    args: [mode, String(recordBytes)],
    timeoutS: 600,
    out: (l) => lines.push(l),
  });
  const wall = performance.now() - t0;
  if (!r.success) throw new Error(`${mode} on ${n} ranks failed: ${r.reason}\n${lines.join("\n")}`);
  const recs = lines.flatMap((l) => {
    const m = /SCALE (\d+) (\d+) ([\d.]+) (\S+)/.exec(l);
    return m
      ? [{ rank: Number(m[1]), start: Number(m[2]), boot: Number(m[3]), first: Number(m[4]) }]
      : [];
  });
  if (recs.length !== n) throw new Error(`${n} ranks: ${recs.length} reports\n${lines.join("\n")}`);
  const starts = recs.map((x) => x.start);
  row.wall.push(wall);
  row.spread.push(Math.max(...starts) - Math.min(...starts));
  row.slowest.push(Math.max(...recs.map((x) => x.boot)));
  // The root waits from its own start for the last rank: its time minus the start spread
  // after it is the bootstrap's own work once everyone has arrived.
  const r0 = recs.find((x) => x.rank === 0)!;
  row.rootMs.push(r0.boot - (Math.max(...starts) - r0.start));
  row.first.push(Math.max(...recs.map((x) => x.first)));
}

const out: string[] = [];
const table = (title: string, mode: string, ns: number[]) => ({ title, mode, ns });
for (
  const { title, mode, ns } of [
    table("TCP bootstrap alone", "bootstrap", counts),
    table("UcxCommunicator.create + first 4 B allreduce", "ucx", ucxCounts),
  ]
) {
  const rows = [
    `### ${title} (ms, median of ${rounds} rounds)`,
    "",
    "| ranks | launch to exit | start spread | slowest rank's bootstrap | root after the last start | slowest first allreduce |",
    "|---:|---:|---:|---:|---:|---:|",
  ];
  for (const n of ns) {
    const row: Row = { wall: [], spread: [], slowest: [], rootMs: [], first: [] };
    for (let k = 0; k < rounds; k++) await once(n, mode, row);
    const f = (xs: number[]) => (Number.isNaN(median(xs)) ? "–" : median(xs).toFixed(1));
    rows.push(
      `| ${n} | ${f(row.wall)} | ${f(row.spread)} | ${f(row.slowest)} | ${f(row.rootMs)} | ${
        f(row.first)
      } |`,
    );
    console.log(rows.at(-1));
  }
  out.push(rows.join("\n"), "");
}
const doc = [
  "# Bootstrap scaling on one host",
  "",
  `Command: \`deno task bench:coll:scaling${Deno.args.length ? " " + Deno.args.join(" ") : ""}\``,
  `(under \`flock /tmp/pluvio-heavy.lock\`; ${new Date().toISOString()}; load average ${
    Deno.loadavg().map((x) => x.toFixed(2)).join(" ")
  }). 2 cores: from 4 ranks on, the ranks share the cores.`,
  `Bootstrap record: ${recordBytes} bytes (this machine's UCX worker address + host id + pid).`,
  "Columns: launch to exit is the launcher's wall time; start spread is the time between",
  "the first and the last rank reaching its first line of code (Deno start-up, serialised",
  "on 2 cores); root after the last start is rank 0's bootstrap time minus the time it",
  "waited for the last rank to start: the bootstrap's own cost once every rank runs.",
  "",
  ...out,
  "## Model: 1 000 and 10 000 ranks",
  "",
  "- Root fan-in: rank 0 accepts one TCP connection per rank and reads one record each;",
  "  it answers every rank with the whole table, so it sends N × N × record bytes in all.",
  `  With ${recordBytes}-byte records: 1 000 ranks → ${
    (1000 * recordBytes / 1e6).toFixed(2)
  } MB per rank, ${(1000 * 1000 * recordBytes / 1e9).toFixed(2)} GB from the root`,
  `  (~${(1000 * 1000 * recordBytes * 8 / 10e9).toFixed(1)} s on 10 Gb/s); 10 000 ranks → ${
    (10000 * recordBytes / 1e6).toFixed(1)
  } MB per rank, ${(1e8 * recordBytes / 1e9).toFixed(0)} GB from the root (~${
    (1e8 * recordBytes * 8 / 10e9).toFixed(0)
  } s), and 10 000`,
  "  sockets open at the root at once (more than the default `ulimit -n` of 1024).",
  "- Table size per rank: N × record bytes, kept for the communicator's life (lazy endpoints",
  "  read an address only when they first connect).",
  "- Connections per rank: endpoints are connected on first use, so a rank holds only the",
  "  peers its algorithms talk to: 2 for the ring, log2 N for recursive doubling and the",
  "  binomial trees, and with the hierarchical algorithms the ranks of its host plus, on a",
  "  host leader, 2 (ring) or log2 H (tree) other leaders — not N − 1.",
  "- What changes past ~1 000 ranks: the root's N² table traffic and its N sockets. The",
  "  fix is a tree bootstrap (ranks report to their host leader, leaders to the root, the",
  "  table travels back down the same tree: the root holds H sockets and sends H tables),",
  "  or taking the addresses from the launcher's key-value exchange (PMIx `Put`/`Fence`/`Get`",
  "  under mpirun and srun), or fetching only the addresses a rank connects to.",
  "",
].join("\n");
console.log(doc);
if (write) {
  await Deno.writeTextFile(`${root}bench/results/scaling.md`, doc);
  console.log("wrote bench/results/scaling.md");
}
