/**
 * `deno task bench:ucx:staging`: what staging costs. The same AM ping-pong as
 * `bench:ucx` (`pluvio_client.ts` ↔ `pong.ts`, shared memory, `errorHandling: "none"`),
 * once with `allocAligned` buffers (WebAssembly memory: UCX uses them directly) and once
 * with ordinary `new Uint8Array(n)` buffers (detachable: sends are copied into staging
 * memory at submission, receives land in staging memory and are copied out; see
 * `lib/ucx/staging.ts`). Both pairs run side by side, rounds alternating; prints the
 * medians of the one-way latency and the median of the per-round ratios.
 *
 * Usage: `deno run -A bench/ucx/staging_bench.ts [rounds]`
 *
 * @module
 */
import { onCpu, PIN } from "./perftest.ts";

const here = new URL(".", import.meta.url).pathname;
const rounds = Number(Deno.args[0] ?? 7);

/** A running `pluvio_client.ts` (and its pong), driven one command at a time. */
class Pair {
  #child: Deno.ChildProcess;
  #in: WritableStreamDefaultWriter<Uint8Array>;
  #out: ReadableStreamDefaultReader<string>;
  #buf = "";

  constructor(buffers: "aligned" | "ordinary") {
    const [exe, args] = onCpu(0, Deno.execPath(), ["run", "-A", `${here}pluvio_client.ts`]);
    this.#child = new Deno.Command(exe, {
      args,
      env: { PLUVIO_BENCH_BUFFERS: buffers, ...(PIN ? { PLUVIO_BENCH_PONG_CPU: "1" } : {}) },
      stdin: "piped",
      stdout: "piped",
      stderr: "inherit",
    }).spawn();
    this.#in = this.#child.stdin.getWriter();
    this.#out = this.#child.stdout.pipeThrough(new TextDecoderStream()).getReader();
  }

  /** Waits for the client's `{ "ready": true }` line. */
  async ready(): Promise<void> {
    await this.#line();
  }

  async run(cmd: string): Promise<number> {
    await this.#in.write(new TextEncoder().encode(cmd + "\n"));
    return (await this.#line()).us;
  }

  async #line(): Promise<Record<string, number>> {
    const timer = setTimeout(() => this.#child.kill("SIGKILL"), 300_000);
    try {
      for (;;) {
        const nl = this.#buf.indexOf("\n");
        if (nl >= 0) {
          const l = this.#buf.slice(0, nl);
          this.#buf = this.#buf.slice(nl + 1);
          return JSON.parse(l);
        }
        const r = await this.#out.read();
        if (r.done) throw new Error("pluvio_client.ts exited");
        this.#buf += r.value;
      }
    } finally {
      clearTimeout(timer);
    }
  }

  async close(): Promise<void> {
    await this.#in.write(new TextEncoder().encode("quit\n")).catch(() => {});
    await this.#in.close().catch(() => {});
    const t = setTimeout(() => this.#child.kill("SIGKILL"), 30_000);
    await this.#child.status;
    clearTimeout(t);
  }
}

const median = (v: number[]) => [...v].sort((a, b) => a - b)[v.length >> 1];
const CASES = [
  { size: 8, mode: "plain", iters: 20_000 },
  { size: 1 << 20, mode: "plain", iters: 500 },
  { size: 1 << 20, mode: "sync", iters: 500 },
];
const aligned = new Pair("aligned");
const ordinary = new Pair("ordinary");
await aligned.ready();
await ordinary.ready();
const res = CASES.map(() => ({ a: [] as number[], o: [] as number[], r: [] as number[] }));
try {
  for (let round = 0; round < rounds; round++) {
    for (const [i, c] of CASES.entries()) {
      const cmd = `lat ${c.size} ${c.mode} ${c.iters}`;
      // Alternate which goes first.
      const first = round % 2 === 0 ? aligned : ordinary;
      const x = await first.run(cmd);
      const y = await (first === aligned ? ordinary : aligned).run(cmd);
      const [a, o] = first === aligned ? [x, y] : [y, x];
      res[i].a.push(a);
      res[i].o.push(o);
      res[i].r.push(o / a);
    }
  }
} finally {
  await aligned.close();
  await ordinary.close();
}
console.log(`| size | mode | allocAligned µs | new Uint8Array µs | ratio |`);
console.log(`|---|---|---|---|---|`);
for (const [i, c] of CASES.entries()) {
  const r = res[i];
  console.log(
    `| ${c.size} B | ${c.mode} | ${median(r.a).toFixed(2)} | ${median(r.o).toFixed(2)} | ${
      median(r.r).toFixed(2)
    } |`,
  );
}
