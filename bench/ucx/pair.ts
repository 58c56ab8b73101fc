/**
 * A running `pluvio_client.ts` (and its pong process) driven one command at a time:
 * shared by `ucx_bench.ts` and `staging_bench.ts`.
 *
 * @module
 */
import { onCpu, PIN } from "./perftest.ts";

const here = new URL(".", import.meta.url).pathname;

/** A running `pluvio_client.ts` (and its pong process), driven one measurement at a time. */
export class PluvioPair {
  #child: Deno.ChildProcess;
  #in: WritableStreamDefaultWriter<Uint8Array>;
  #out: ReadableStreamDefaultReader<string>;
  #buf = "";

  constructor(env: Record<string, string>, pin = PIN) {
    const cmd = [Deno.execPath(), ["run", "-A", `${here}pluvio_client.ts`]] as const;
    const [exe, args] = pin ? onCpu(0, cmd[0], [...cmd[1]]) : [cmd[0], [...cmd[1]]];
    this.#child = new Deno.Command(exe, {
      args,
      env: { ...env, ...(pin ? { PLUVIO_BENCH_PONG_CPU: "1" } : {}) },
      stdin: "piped",
      stdout: "piped",
      stderr: "inherit",
    }).spawn();
    this.#in = this.#child.stdin.getWriter();
    this.#out = this.#child.stdout.pipeThrough(new TextDecoderStream()).getReader();
  }

  /** The next JSON line the client prints (bounded: a stuck client is killed). */
  async line(): Promise<Record<string, number>> {
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

  /** Runs one command (see pluvio_client.ts) and returns its result. */
  async run(cmd: string): Promise<Record<string, number>> {
    await this.#in.write(new TextEncoder().encode(cmd + "\n"));
    return this.line();
  }

  async close(): Promise<void> {
    await this.#in.write(new TextEncoder().encode("quit\n")).catch(() => {});
    await this.#in.close().catch(() => {});
    const t = setTimeout(() => this.#child.kill("SIGKILL"), 30_000);
    await this.#child.status;
    clearTimeout(t);
  }
}
