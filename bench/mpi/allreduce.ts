/**
 * `deno task bench:mpi`: allreduce (f32 sum, in place, 2 ranks) as programs call it, side
 * by side in one run: C blocking `MPI_Allreduce` and C `MPI_Iallreduce + MPI_Wait`
 * (`allreduce.c`), mpi4py's `comm.Allreduce` and `Iallreduce().Wait()`
 * (`allreduce_mpi4py.py`; skipped with a note when mpi4py is not installed:
 * `pip install mpi4py`), and pluvio's MPI backend as a user writes it
 * (`allreduce_rank.ts`, by default the point-to-point allreduce), also with `MPI_Iallreduce`
 * (`PLUVIO_MPI_ALLREDUCE=nbc`) and its opt-in blocking `MPI_Allreduce` path from 256 KiB
 * for comparison. Every program runs plain and page-aligned buffers, back-to-back and
 * barrier-separated loops, and reports a cold figure (mean of the first 1000 calls of a
 * 4 B allreduce after start-up). Rounds alternate the programs; medians over rounds.
 * Writes `bench/results/mpi.md`.
 *
 * Usage: `deno run -A bench/mpi/allreduce.ts [--rounds=N] [--ranks=2] [--no-write]`
 *
 * @module
 */
import { flag, human, median, MPIRUN, root, run } from "../common.ts";

const rounds = Number(flag("rounds", "3"));
const ranks = flag("ranks", "2");
const write = !Deno.args.includes("--no-write");
const SIZES = [4, 1024, 65536, 262144, 1 << 20, 16 << 20];

await Deno.mkdir(`${root}bench/build`, { recursive: true });
await run("mpicc", ["-O2", "-o", "bench/build/allreduce", "bench/mpi/allreduce.c"]);
const ompi = (await run("mpirun", ["--version"])).split("\n")[0];
let mpi4py = "";
try {
  mpi4py = (await run("python3", ["-c", "import mpi4py; print(mpi4py.__version__)"])).trim();
} catch {
  console.log("mpi4py is not installed (pip install mpi4py): its columns stay empty");
}

const sz = SIZES.map(String);
const mpirun = (args: string[], env: string[] = []) =>
  run("mpirun", [...MPIRUN, "-n", ranks, ...env.flatMap((e) => ["-x", e]), ...args], 900_000);
const deno = [Deno.execPath(), "run", "-A", "bench/mpi/allreduce_rank.ts", ...sz];
const programs: [string, () => Promise<string>][] = [
  ["c", () => mpirun(["bench/build/allreduce", "blocking", ...sz])],
  ["pluvio", () => mpirun(deno)],
  ["c-i", () => mpirun(["bench/build/allreduce", "nonblocking", ...sz])],
  ["pluvio-nbc", async () =>
    (await mpirun(deno, ["PLUVIO_MPI_ALLREDUCE=nbc"])).replaceAll(
      "mpi-backend",
      "mpi-backend-nbc",
    )],
  ["pluvio-checks", async () =>
    (await mpirun(deno, ["PLUVIO_COLL_CHECKS=1"])).replaceAll(
      "mpi-backend",
      "mpi-backend-checks",
    )],
  [
    "pluvio-blocking",
    async () =>
      (await mpirun(deno, ["PLUVIO_MPI_BLOCKING_BYTES=262144"])).replaceAll(
        "mpi-backend",
        "mpi-backend-blocking",
      ),
  ],
];
if (mpi4py) {
  programs.push([
    "py",
    () => mpirun(["python3", "bench/mpi/allreduce_mpi4py.py", "blocking", ...sz]),
  ]);
  programs.push([
    "py-i",
    () => mpirun(["python3", "bench/mpi/allreduce_mpi4py.py", "nonblocking", ...sz]),
  ]);
}

const res = new Map<string, number[]>(); // "series placement loop bytes" -> µs per round
const cold = new Map<string, number[]>();
const push = (m: Map<string, number[]>, k: string, v: number) => m.set(k, [...(m.get(k) ?? []), v]);
const started = new Date().toISOString();
const load0 = Deno.loadavg().map((x) => x.toFixed(2)).join(" ");
for (let r = 0; r < rounds; r++) {
  for (const [name, go] of programs) {
    const t0 = performance.now();
    const out = await go();
    for (const m of out.matchAll(/^RESULT (\S+) (\S+) (\S+) (\d+) ([\d.]+)$/gm)) {
      push(res, `${m[1]} ${m[2]} ${m[3]} ${m[4]}`, Number(m[5]));
    }
    for (const m of out.matchAll(/^COLD (\S+) ([\d.]+)$/gm)) push(cold, m[1], Number(m[2]));
    console.log(`round ${r + 1}: ${name} ${((performance.now() - t0) / 1000).toFixed(1)} s`);
  }
}
const load1 = Deno.loadavg().map((x) => x.toFixed(2)).join(" ");

const get = (s: string, p: string, l: string, b: number) => {
  const v = res.get(`${s} ${p} ${l} ${b}`);
  return v ? median(v) : NaN;
};
const f = (x: number) => Number.isNaN(x) ? "–" : x < 10 ? x.toFixed(2) : x.toFixed(1);
const C = ["c-blocking", "c-nonblocking"];
const sections: string[] = [];
let misses = 0;
for (const loop of ["b2b", "barrier"]) {
  const rows = [
    `### ${loop === "b2b" ? "Back to back" : "Barrier-separated"} (µs per call, ${ranks} ranks)\n`,
    "| size | C MPI_Allreduce plain / page | C Iallreduce+Wait plain / page | mpi4py Allreduce / Iallreduce | pluvio plain / page | pluvio MPI_Iallreduce | pluvio blocking from 256 KiB | pluvio check mode | best C | pluvio ÷ best C | target |",
    "|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---|",
  ];
  for (const b of SIZES) {
    const best = Math.min(...C.flatMap((s) => ["plain", "page"].map((p) => get(s, p, loop, b))));
    const pl = get("mpi-backend", "plain", loop, b), pg = get("mpi-backend", "page", loop, b);
    const user = pl; // the plain Float32Array a newcomer writes
    const ok = b >= 65536 ? user / best <= 1.05 : user - best <= 2;
    if (!ok) misses++;
    rows.push(
      `| ${human(b)} | ${f(get("c-blocking", "plain", loop, b))} / ${
        f(get("c-blocking", "page", loop, b))
      } | ${f(get("c-nonblocking", "plain", loop, b))} / ${
        f(get("c-nonblocking", "page", loop, b))
      } | ${f(get("mpi4py-blocking", "plain", loop, b))} / ${
        f(get("mpi4py-nonblocking", "plain", loop, b))
      } | ${f(pl)} / ${f(pg)} | ${f(get("mpi-backend-nbc", "plain", loop, b))} | ${
        f(get("mpi-backend-blocking", "plain", loop, b))
      } | ${f(get("mpi-backend-checks", "plain", loop, b))} | ${f(best)} | ${
        (user / best).toFixed(2)
      } | ${
        ok ? "met" : b >= 65536 ? "miss (> 1.05×)" : `miss (> C + 2 µs: +${f(user - best)})`
      } |`,
    );
  }
  sections.push(rows.join("\n"));
}
const coldRows = [
  "### Cold: mean µs of the first 1000 calls of a 4 B allreduce after start-up (no warm-up)\n",
  "| program | cold (µs) | ÷ C blocking |",
  "|---|---:|---:|",
];
const cRef = median(cold.get("c-blocking") ?? [NaN]);
for (
  const s of [
    "c-blocking",
    "c-nonblocking",
    "mpi4py-blocking",
    "mpi4py-nonblocking",
    "mpi-backend",
    "mpi-backend-nbc",
    "mpi-backend-checks",
    "mpi-backend-blocking",
  ]
) {
  const v = median(cold.get(s) ?? [NaN]);
  coldRows.push(`| ${s} | ${f(v)} | ${(v / cRef).toFixed(1)} |`);
}
const pluvioCold = median(cold.get("mpi-backend") ?? [NaN]) / cRef;
const text = sections.join("\n\n") + "\n\n" + coldRows.join("\n");
console.log(text);
const cmd = `flock /tmp/pluvio-heavy.lock deno task bench:mpi ${Deno.args.join(" ")}`.trim();
const md = `# MPI allreduce: pluvio's MPI backend against the C a user would write

Command: \`${cmd}\` (runs \`bench/mpi/allreduce.ts\`)
Date: ${started}; ${ompi}; mpi4py ${mpi4py || "not installed"}; Deno ${Deno.version.deno};
${navigator.hardwareConcurrency} CPUs; mpirun ${MPIRUN.join(" ")} -n ${ranks}; load average
before / after: ${load0} / ${load1} (a shared VM: rows move between runs, ratios within one
run are what counts).

Every program runs the same loop: f32 sum in place; per size a warm-up, then 5 batches
(2000 calls up to 1 KiB, 300 up to 64 KiB, 60 up to 1 MiB, 10 above); a batch's mean µs
per call, the median batch, the maximum over ranks; then the median of ${rounds} rounds that
alternate the programs. *plain*: a buffer the language gives (C \`malloc\` + 16 B,
\`array.array\`, \`new Float32Array\`); *page*: page-aligned (\`posix_memalign\`, \`mmap\`,
\`allocAligned\`). *Barrier-separated*: a barrier before each call, outside the timed part.
pluvio's MPI backend is the plain \`await world.allreduce(buf, Sum)\` (by default Open
MPI's blocking algorithms, recursive doubling below 8 KiB and the ring above, run as
point-to-point steps that the reactor drives, \`native/src/mpi/p2p.rs\`); the
*MPI_Iallreduce* column runs the same code with \`PLUVIO_MPI_ALLREDUCE=nbc\`
(\`MPI_Iallreduce\` drained by \`MPI_Testsome\`); the *blocking from 256 KiB* column with
\`PLUVIO_MPI_BLOCKING_BYTES=262144\` (a blocking \`MPI_Allreduce\` on a helper thread from
that size); *check mode* is the same code with
\`PLUVIO_COLL_CHECKS=1\` (one extra 128 B \`MPI_Iallgather\` per call). Targets (against the best C): ≤ 1.05×
from 64 KiB, ≤ C + 2 µs up to 1 KiB; cold ≤ 5× C.

${text}

Targets missed: ${misses} of ${2 * SIZES.length}; cold ${
  pluvioCold.toFixed(1)
}× C blocking (target ≤ 5×).
`;
if (write) {
  await Deno.writeTextFile(`${root}bench/results/mpi.md`, md);
  console.log("wrote bench/results/mpi.md");
}
