/**
 * The headline results: reads the tables of `bench/results/*.md` (written by the benchmark
 * tasks), picks one row per headline measurement, and writes
 *
 * - `bench/results/summary.md`: the table (pluvio, the reference, the ratio, the command),
 * - `bench/results/summary.svg`: a chart of pluvio's speed relative to each reference,
 * - the same table into `README.md`, between `<!-- results:begin -->` and `<!-- results:end -->`.
 *
 * A headline row that is missing from its results file is an error naming the file and row.
 *
 * Usage: `deno task bench:summary`
 *
 * @module
 */

const here = new URL("./results/", import.meta.url);
const readme = new URL("../README.md", import.meta.url);

type Table = { heading: string; header: string[]; rows: string[][] };

function tables(file: string): Table[] {
  const out: Table[] = [];
  let heading = "";
  let cur: string[][] = [];
  const lines = Deno.readTextFileSync(new URL(file, here)).split("\n");
  const flush = () => {
    if (cur.length >= 2) out.push({ heading, header: cur[0], rows: cur.slice(2) });
    cur = [];
  };
  for (const line of lines) {
    if (line.startsWith("|")) {
      cur.push(line.trim().replace(/^\||\|$/g, "").split("|").map((c) => c.trim()));
    } else {
      flush();
      if (line.startsWith("#")) heading = line.replace(/^#+\s*/, "");
    }
  }
  flush();
  return out;
}

/** One headline measurement and where its figures are. */
interface Headline {
  what: string;
  unit: string;
  /** Whether a larger figure is better (throughput) or a smaller one (latency). */
  higherIsBetter: boolean;
  reference: string;
  command: string;
  file: string;
  heading?: RegExp;
  /** Cells that identify the row (column name → cell text). */
  row: Record<string, string>;
  /** Column of pluvio's figure and of the reference's, or a row (by `tool`) for each. */
  pluvio: { column: string; row?: Record<string, string> };
  ref: { column: string; row?: Record<string, string> };
}

const HEADLINES: Headline[] = [
  {
    what: "`sleep(1)` overshoot p50",
    unit: "µs",
    higherIsBetter: false,
    reference: "`setTimeout(1)`",
    command: "deno task bench:runtime",
    file: "runtime.md",
    row: { what: "sleep(1) overshoot p50 (µs, no extra load)" },
    pluvio: { column: "pluvio" },
    ref: { column: "plain Deno" },
  },
  ...(
    [
      ["4K rand read QD32, virtio", "4 KiB rand read QD32", "IOPS", /^Virtio/],
      ["4K rand write QD32, virtio", "4 KiB rand write QD32", "IOPS", /^Virtio/],
      ["4K rand read QD32, fast dev", "4 KiB rand read QD32", "IOPS", /^Fast device/],
      ["4K rand write QD32, fast dev", "4 KiB rand write QD32", "IOPS", /^Fast device/],
    ] as const
  ).map(([what, kase, unit, heading]): Headline => ({
    what: `uring ${what}`,
    heading,
    unit,
    higherIsBetter: true,
    reference: "fio",
    command: "deno task bench:uring",
    file: "uring.md",
    row: { case: kase },
    pluvio: { column: unit, row: { tool: "pluvio" } },
    ref: { column: unit, row: { tool: "fio" } },
  })),
  ...(
    [
      ["8 B lat, shm, plain await", "default transports (shm)", "8 B"],
      ["8 B lat, defaults, plain await", "default endpoints", "8 B"],
    ] as const
  ).map(([what, config, size]): Headline => ({
    what: `UCX AM ${what}`,
    unit: "µs",
    higherIsBetter: false,
    reference: "perftest",
    command: "deno task bench:ucx",
    file: "ucx.md",
    row: { configuration: config, size },
    pluvio: { column: "pluvio plain await µs" },
    ref: { column: "perftest lat µs" },
  })),
  ...(
    [
      ["shm", "default transports (shm)"],
      ["TCP", "UCX_TLS=tcp"],
    ] as const
  ).map(([what, config]): Headline => ({
    what: `UCX AM 1 MiB bw, ${what}`,
    unit: "MiB/s",
    higherIsBetter: true,
    reference: "perftest",
    command: "deno task bench:ucx",
    file: "ucx.md",
    row: { configuration: config, size: "1 MiB" },
    pluvio: { column: "pluvio amSendMany MiB/s" },
    ref: { column: "perftest MiB/s" },
  })),
  ...["4 B", "1 MiB"].map((size): Headline => ({
    what: `MPI allreduce ${size}, 2 ranks`,
    unit: "µs",
    higherIsBetter: false,
    reference: "best C",
    command: "deno task bench:mpi",
    file: "mpi.md",
    heading: /^Back to back/,
    row: { size },
    pluvio: { column: "pluvio plain / page" },
    ref: { column: "best C" },
  })),
  ...["4 B", "1 MiB"].map((size): Headline => ({
    what: `UCX allreduce ${size}, 2 ranks`,
    unit: "µs",
    higherIsBetter: false,
    reference: "C blocking",
    command: "deno task bench:coll",
    file: "coll.md",
    heading: /^allreduce, 2 ranks/,
    row: { size },
    pluvio: { column: "adaptive" },
    ref: { column: "c-blocking" },
  })),
];

function matches(t: Table, row: string[], want: Record<string, string>): boolean {
  return Object.entries(want).every(([col, text]) => {
    const i = t.header.indexOf(col);
    return i >= 0 && row[i]?.includes(text);
  });
}

function figure(h: Headline, side: "pluvio" | "ref"): number {
  const pick = h[side];
  for (const t of tables(h.file)) {
    if (h.heading && !h.heading.test(t.heading)) continue;
    const col = t.header.indexOf(pick.column);
    if (col < 0) continue;
    const row = t.rows.find((r) => matches(t, r, { ...h.row, ...pick.row }));
    if (!row) continue;
    const n = Number(/-?[\d.]+/.exec(row[col].replaceAll(",", ""))?.[0]);
    const scale = /M\b/.test(row[col]) ? 1e6 : 1;
    if (Number.isFinite(n)) return n * scale;
  }
  throw new Error(
    `bench/results/${h.file}: no row ${JSON.stringify({ ...h.row, ...pick.row })} ` +
      `with a number in column "${pick.column}" (for "${h.what}")`,
  );
}

function fmt(n: number): string {
  if (n >= 1000) return Math.round(n).toLocaleString("en-US");
  return n >= 100 ? n.toFixed(0) : n >= 10 ? n.toFixed(1) : n.toFixed(2);
}

const results = HEADLINES.map((h) => {
  const p = figure(h, "pluvio"), r = figure(h, "ref");
  // Relative speed: > 1 means pluvio is faster than the reference.
  return { h, p, r, speed: h.higherIsBetter ? p / r : r / p };
});

const md = [
  "| measurement | pluvio | reference | speed | command |",
  "| --- | ---: | --- | ---: | --- |",
  ...results.map(({ h, p, r, speed }) =>
    `| ${h.what} | ${fmt(p)} ${h.unit} | ${fmt(r)} ${h.unit}, ${h.reference} | ` +
    `${speed.toFixed(2)}× | \`${h.command}\` |`
  ),
].join("\n");

function svg(): string {
  const W = 800, left = 340, right = 60, rowH = 26, top = 40;
  const H = top + results.length * rowH + 40;
  const lo = Math.log2(1 / 8), hi = Math.log2(8);
  const x = (v: number) =>
    Math.round(
      10 *
        (left + (Math.min(Math.max(Math.log2(v), lo), hi) - lo) / (hi - lo) * (W - left - right)),
    ) / 10;
  const esc = (s: string) => s.replace(/&/g, "&amp;").replace(/</g, "&lt;").replace(/`/g, "");
  const parts = [
    `<svg xmlns="http://www.w3.org/2000/svg" width="${W}" height="${H}" ` +
    `font-family="sans-serif" font-size="12">`,
    `<rect width="${W}" height="${H}" fill="white"/>`,
    `<text x="${W / 2}" y="20" text-anchor="middle" font-size="14">` +
    `pluvio's speed relative to the reference (log scale; right of 1× = pluvio faster)</text>`,
  ];
  for (const t of [1 / 8, 1 / 4, 1 / 2, 1, 2, 4, 8]) {
    const tx = x(t);
    parts.push(
      `<line x1="${tx}" y1="${top - 6}" x2="${tx}" y2="${H - 30}" ` +
        `stroke="${t === 1 ? "#333" : "#ddd"}"/>`,
      `<text x="${tx}" y="${H - 14}" text-anchor="middle">${t < 1 ? `1/${1 / t}` : t}×</text>`,
    );
  }
  results.forEach(({ h, speed }, i) => {
    const y = top + i * rowH;
    const x0 = x(1), x1 = x(speed);
    parts.push(
      `<text x="${left - 8}" y="${y + 15}" text-anchor="end">${esc(h.what)}</text>`,
      `<rect x="${Math.min(x0, x1)}" y="${y + 4}" width="${
        Math.max(Math.round(10 * Math.abs(x1 - x0)) / 10, 1)
      }" ` +
        `height="${rowH - 8}" fill="${speed >= 1 ? "#3a7d44" : "#c0504d"}"/>`,
      `<text x="${speed >= 1 ? x1 + 4 : x1 - 4}" y="${y + 15}" ` +
        `text-anchor="${speed >= 1 ? "start" : "end"}">${speed.toFixed(2)}×</text>`,
    );
  });
  parts.push("</svg>");
  return parts.join("\n") + "\n";
}

Deno.writeTextFileSync(
  new URL("summary.md", here),
  `# Headline results\n\nCommand: \`deno task bench:summary\` (collects the rows below from ` +
    `the other files of \`bench/results/\`; each row's own command measured it).\n\n` +
    `Relative speed: pluvio's rate / the reference's for throughput, the reference's time / ` +
    `pluvio's for latency; above 1× pluvio is faster.\n\n${md}\n\n![chart](summary.svg)\n`,
);
Deno.writeTextFileSync(new URL("summary.svg", here), svg());
try {
  const text = Deno.readTextFileSync(readme);
  const re = /(<!-- results:begin -->)[\s\S]*?(<!-- results:end -->)/;
  if (re.test(text)) {
    Deno.writeTextFileSync(readme, text.replace(re, `$1\n\n${md}\n\n$2`));
    // As `deno fmt` lays tables out, so `deno fmt --check` stays clean.
    await new Deno.Command(Deno.execPath(), { args: ["fmt", "--quiet", readme.pathname] }).output();
  }
} catch { /* no README: the results files are enough */ }
console.log(md);
