/**
 * `deno task bench:ucx:sides`: which side of a pluvio pair costs bandwidth. Runs the 1 MiB
 * Active Message bandwidth pattern of `ucx_bench.ts` with each side either pluvio
 * (`pluvio_client.ts` / `pong.ts`) or a C stand-in on libucp that busy-polls like
 * `ucx_perftest` (`c/sender.c` / `c/sink.c`, same messages, built here with gcc against
 * the UCX libpluvio links): five pairs, between two `ucx_perftest ucp_am_bw` runs.
 *
 * Every pair is a fresh pair of processes pinned like perftest's (sender CPU 0, receiver
 * CPU 1). A round counts only when its two perftest runs agree within 15 % (loopback TCP
 * on these VMs switches between rates that differ 2-3x within seconds); ratios are to the
 * mean of those two, medians over the counted rounds. Writes `bench/results/ucx_sides.md`.
 *
 * Usage: `deno run -A bench/ucx/sides.ts [rounds] [count]` (defaults 10 and 10000
 * messages of 1 MiB; `UCX_TLS` from the environment, default `tcp`).
 *
 * @module
 */
import { median, run } from "../common.ts";
import { onCpu, perftest, PIN, ucxPrefix } from "./perftest.ts";

const here = new URL(".", import.meta.url).pathname;
const root = new URL("../../", import.meta.url).pathname;
const rounds = Number(Deno.args[0] ?? 10);
const count = Number(Deno.args[1] ?? 10000);
const SIZE = 1 << 20;
const env: Record<string, string> = { UCX_TLS: Deno.env.get("UCX_TLS") ?? "tcp" };

/** Builds the C stand-ins into bench/build; returns their paths. */
async function build(): Promise<{ sender: string; sink: string }> {
  const ucx = ucxPrefix();
  await Deno.mkdir(`${root}bench/build`, { recursive: true });
  const out = { sender: `${root}bench/build/ucx_sender`, sink: `${root}bench/build/ucx_sink` };
  for (const [name, path] of Object.entries(out)) {
    await run("gcc", [
      ...["-O2", "-Wall", "-o", path, `${here}c/${name}.c`, `-I${ucx}/include`],
      ...[`-L${ucx}/lib`, "-lucp", "-lucs", `-Wl,-rpath,${ucx}/lib`],
    ]);
  }
  return out;
}

const c = await build();
const client = [Deno.execPath(), "run", "-A", `${here}pluvio_client.ts`];
const pong = [Deno.execPath(), "run", "-A", `${here}pong.ts`];
/** The C sender runs the receiver command it is given, pinned like pluvio's pong. */
const cSender = [c.sender, ...(PIN ? ["taskset", "-c", "1"] : [])];

/**
 * The pairs: [name, sender command, extra environment, how pluvio sends]. pluvio senders
 * send with one `amSendMany` list (`many`) or an `amSend` per message (`each`); C senders
 * ignore it.
 */
const PAIRS: [string, string[], Record<string, string>, string][] = [
  ["pluvio → pluvio", client, {}, "many"],
  ["C → pluvio", [...cSender, ...pong], {}, ""],
  ["pluvio → C", client, { PLUVIO_BENCH_PONG_CMD: c.sink }, "many"],
  ["pluvio amSend loop → C", client, { PLUVIO_BENCH_PONG_CMD: c.sink }, "each"],
  ["C → C", [...cSender, c.sink], {}, ""],
];

/** One fresh pair: a warm-up round, then the measured one; returns its MiB/s. */
async function pair(cmd: string[], extra: Record<string, string>, how: string): Promise<number> {
  const [exe, args] = onCpu(0, cmd[0], cmd.slice(1));
  const child = new Deno.Command(exe, {
    args,
    env: { ...env, ...extra, ...(PIN ? { PLUVIO_BENCH_PONG_CPU: "1" } : {}) },
    stdin: "piped",
    stdout: "piped",
    stderr: "piped",
    signal: AbortSignal.timeout(120_000),
  }).spawn();
  const w = child.stdin.getWriter();
  await w.write(new TextEncoder().encode(`bw ${SIZE} 1000 ${how}\nbw ${SIZE} ${count} ${how}\n`));
  await w.close();
  const out = await child.output();
  const lines = new TextDecoder().decode(out.stdout).trim().split("\n");
  const r = lines.filter((l) => l.includes("mibs")).map((l) => JSON.parse(l).mibs as number);
  if (!out.success || r.length !== 2) {
    throw new Error(
      `${cmd.join(" ")}: exit ${out.code}\n${lines.join("\n")}\n${
        new TextDecoder().decode(out.stderr)
      }`,
    );
  }
  return r[1];
}

type Round = { before: number; after: number; pairs: number[]; counted: boolean };
const all: Round[] = [];
for (let r = 0; r < rounds; r++) {
  const before = (await perftest("ucp_am_bw", SIZE, count, env, [])).bw;
  const pairs: number[] = [];
  for (const [, cmd, extra, how] of PAIRS) pairs.push(await pair(cmd, extra, how));
  const after = (await perftest("ucp_am_bw", SIZE, count, env, [])).bw;
  const counted = Math.abs(before - after) <= 0.15 * Math.max(before, after);
  all.push({ before, after, pairs, counted });
  console.error(`round ${r}: ${JSON.stringify({ before, pairs, after, counted })}`);
}

const counted = all.filter((x) => x.counted);
const f0 = (x: number) => x.toFixed(0);
const f2 = (x: number) => x.toFixed(2);
const ratio = (x: Round, k: number) => x.pairs[k] / ((x.before + x.after) / 2);
const rows = PAIRS.map(([name], k) =>
  `| ${name} | ${counted.length ? f0(median(counted.map((x) => x.pairs[k]))) : "-"} | ${
    counted.length ? f2(median(counted.map((x) => ratio(x, k)))) : "-"
  } |`
);
const perRound = all.map((x, r) =>
  `| ${r} | ${f0(x.before)} | ${
    x.pairs.map((v, k) => `${f0(v)} (${f2(ratio(x, k))})`).join(" | ")
  } | ${f0(x.after)} | ${x.counted ? "yes" : "no"} |`
);
const md = `# Which side costs bandwidth: pluvio and C stand-ins, 1 MiB Active Messages

Command: \`deno task bench:ucx:sides\` (= \`deno run -A bench/ucx/sides.ts ${rounds} ${count}\`),
\`UCX_TLS=${env.UCX_TLS}\`, run ${new Date().toISOString()}.

- Pattern: ${count} × 1 MiB Active Messages, 32 in flight, timed until the receiver confirms the
  last (\`bw\` of \`bench/ucx/pluvio_client.ts\`), after a warm-up round of 1000.
- Senders: pluvio (\`pluvio_client.ts\`: one \`endpoint.amSendMany\` list, or an \`amSend\` per
  message from a JavaScript loop where the pair says so) or C (\`bench/ucx/c/sender.c\`: libucp, busy-polling like
  \`ucx_perftest\`); receivers: pluvio (\`pong.ts\`: an \`AmReceiver\` with 8 posted receives) or
  C (\`bench/ucx/c/sink.c\`: busy-polling, every payload pulled from the callback into one
  buffer, like \`ucx_perftest\`'s \`ucp_am_bw\`).
- ${
  PIN
    ? "Pinned: senders on CPU 0, receivers on CPU 1, through `taskset`"
    : "Not pinned (fewer than 2 CPUs or no `taskset`)"
}. Fresh processes for every pair.
- A round counts when its two \`ucx_perftest ucp_am_bw\` runs (before and after the pairs) agree
  within 15 %: ${counted.length} of ${all.length} rounds. ×perftest = MiB/s over the mean of that
  round's two perftest runs; medians over the counted rounds.

| pair (sender → receiver) | MiB/s | ×perftest |
|---|---|---|
${rows.join("\n")}

Every round (MiB/s, ×perftest):

| round | perftest before | ${PAIRS.map(([n]) => n).join(" | ")} | perftest after | counted |
|---|---|${PAIRS.map(() => "---|").join("")}---|---|
${perRound.join("\n")}
`;
console.log(md);
Deno.mkdirSync(`${root}bench/results`, { recursive: true });
Deno.writeTextFileSync(`${root}bench/results/ucx_sides.md`, md);
