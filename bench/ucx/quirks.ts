/**
 * `deno task bench:ucx:quirks`: which UCX behaviours that pluvio's UCX backend works
 * around are present in the UCX libpluvio loads (the site's, or the bundled one with
 * `PLUVIO_LIB_PATH` pointing at a `PLUVIO_UCX=bundled` build). Builds `c/quirks.c` for
 * that UCX, runs each probe, and tries `ucx_perftest -e` (peer-failure handling) over
 * shared memory alone. Prints a markdown table.
 *
 * @module
 */
import { onCpu, perftest, ucxPrefix, ucxVersionText } from "./perftest.ts";

const here = new URL(".", import.meta.url).pathname;
const root = new URL("../../", import.meta.url).pathname;
const ucx = ucxPrefix();
const version = ucxVersionText();
const exe = `${root}bench/build/ucx_quirks-${version}`;
Deno.mkdirSync(`${root}bench/build`, { recursive: true });
const cc = await new Deno.Command("gcc", {
  args: [
    ...["-O1", "-Wall", "-o", exe, `${here}c/quirks.c`, `-I${ucx}/include`, `-L${ucx}/lib`],
    // All four libraries from this prefix (a bundled libucp's own run path may name another).
    ...[`-Wl,-rpath,${ucx}/lib`, "-Wl,--no-as-needed", "-lucp", "-lucs", "-luct", "-lucm"],
  ],
}).output();
if (!cc.success) throw new Error(`gcc: ${new TextDecoder().decode(cc.stderr)}`);

async function probe(mode: string): Promise<string | undefined> {
  const [cmd, args] = onCpu(0, exe, [mode]);
  const o = await new Deno.Command("timeout", {
    args: ["20", cmd, ...args],
    env: { UCX_LOG_LEVEL: "warn" },
    stdout: "piped",
    stderr: "piped",
  }).output();
  // UCX logs to stdout and stderr alike: the probe's own line is the last non-log one.
  const text = new TextDecoder().decode(o.stdout) + new TextDecoder().decode(o.stderr);
  const out = text.split("\n").filter((l) => l.trim() && !/^\s*\[|^\s*\d+\s|^=+/.test(l)).at(-1);
  const warned = text.match(/no registered callback/g)?.length ?? 0;
  if (text.includes("Segmentation fault")) return "segfault";
  if (mode.startsWith("am")) return `${out}; ${warned} of 3 ids warned as unregistered`;
  return out;
}

/** Runs a probe `n` times: its distinct results with their counts. */
async function repeated(mode: string, n: number): Promise<string> {
  const seen = new Map<string, number>();
  for (let i = 0; i < n; i++) {
    const r = (await probe(mode)) ?? "no output";
    seen.set(r, (seen.get(r) ?? 0) + 1);
  }
  return [...seen].map(([r, k]) => `${k}× ${r}`).join("; ");
}

const rows: [string, string | undefined][] = [
  ["AM for an id on a worker with no handler at all", await probe("am-none")],
  ["AMs for ids 7, 1007, 2007 with only id 3 registered (5 runs)", await repeated("am-beyond", 5)],
  ["tag receive completing at once: receive info", await probe("tag-info")],
];
// Peer-failure handling over shared memory only: connects, or finds no transport.
let shm: string;
try {
  const r = await perftest("ucp_am_lat", 8, 20000, { UCX_TLS: "self,sm" }, ["-e"]);
  shm = `works (${r.lat.toFixed(2)} µs one-way)`;
} catch {
  shm = "no transport: peers are reached over TCP instead";
}
rows.push(["peer-failure handling (`-e`) with `UCX_TLS=self,sm`", shm]);
console.log(`UCX ${version} (${ucx})\n\n| probe | result |\n|---|---|`);
for (const [k, v] of rows) console.log(`| ${k} | ${v} |`);
