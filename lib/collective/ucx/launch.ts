/**
 * The local launcher: `deno task launch -n N [--timeout S] script.ts [args…]`.
 *
 * Spawns N ranks of `deno run -A script.ts args…` with the bootstrap environment
 * (`PLUVIO_COLL_RANK`, `PLUVIO_COLL_SIZE`, `PLUVIO_COLL_ROOT_HOST`, and a free
 * `PLUVIO_COLL_ROOT_PORT`), prefixes every output line with `[rank]`, and when a rank
 * fails (or the timeout passes) stops the others and exits non-zero.
 *
 * @module
 */

/** Options of {@link launch}. */
export interface LaunchOptions {
  /** Number of ranks. */
  ranks: number;
  /** The script to run and its arguments. */
  script: string;
  /** Arguments after the script. */
  args?: string[];
  /** Kill everything after this many seconds (default 300). */
  timeoutS?: number;
  /** Extra environment for every rank. */
  env?: Record<string, string>;
  /** Where output lines go (default: stdout/stderr of this process). */
  out?: (line: string, stream: "stdout" | "stderr") => void;
  /** Deno flags before the script (default `-A`). */
  denoFlags?: string[];
  /**
   * Stop the other ranks as soon as one fails (default true). Tests of rank failure turn
   * it off to watch how the survivors react.
   */
  failFast?: boolean;
}

/** Outcome of a launch. */
export interface LaunchResult {
  /** Exit code per rank (null for a rank killed by a signal). */
  codes: (number | null)[];
  /** Whether every rank exited with 0. */
  success: boolean;
  /** Why the launch failed, if it did. */
  reason?: string;
}

/** A port on 127.0.0.1 that was free a moment ago (the OS picks it). */
export function freePort(): number {
  const l = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const port = (l.addr as Deno.NetAddr).port;
  l.close();
  return port;
}

async function pump(
  stream: ReadableStream<Uint8Array>,
  prefix: string,
  kind: "stdout" | "stderr",
  out: (line: string, stream: "stdout" | "stderr") => void,
): Promise<void> {
  const dec = new TextDecoder();
  let rest = "";
  for await (const chunk of stream) {
    rest += dec.decode(chunk, { stream: true });
    let i;
    while ((i = rest.indexOf("\n")) >= 0) {
      out(`${prefix}${rest.slice(0, i)}`, kind);
      rest = rest.slice(i + 1);
    }
  }
  if (rest) out(`${prefix}${rest}`, kind);
}

/** Runs `options.ranks` local ranks of a script; see the module doc. */
export async function launch(options: LaunchOptions): Promise<LaunchResult> {
  const n = options.ranks;
  if (!Number.isInteger(n) || n < 1) throw new RangeError(`-n must be a positive integer`);
  const out = options.out ?? ((line, s) => (s === "stdout" ? console.log : console.error)(line));
  const port = freePort();
  const children: Deno.ChildProcess[] = [];
  const pumps: Promise<void>[] = [];
  const codes: (number | null)[] = new Array(n).fill(null);
  let reason: string | undefined;
  const killAll = (why: string) => {
    reason ??= why;
    for (const c of children) {
      try {
        c.kill("SIGTERM");
      } catch { /* exited */ }
    }
    setTimeout(() => {
      for (const c of children) {
        try {
          c.kill("SIGKILL");
        } catch { /* exited */ }
      }
    }, 2_000).unref?.();
  };
  const timer = setTimeout(
    () => killAll(`timed out after ${options.timeoutS ?? 300} s`),
    (options.timeoutS ?? 300) * 1000,
  );
  try {
    for (let r = 0; r < n; r++) {
      const child = new Deno.Command(Deno.execPath(), {
        args: ["run", ...(options.denoFlags ?? ["-A"]), options.script, ...(options.args ?? [])],
        env: {
          ...options.env,
          PLUVIO_COLL_RANK: String(r),
          PLUVIO_COLL_SIZE: String(n),
          PLUVIO_COLL_ROOT_HOST: "127.0.0.1",
          PLUVIO_COLL_ROOT_PORT: String(port),
        },
        stdin: "null",
        stdout: "piped",
        stderr: "piped",
      }).spawn();
      children.push(child);
      const width = String(n - 1).length;
      const prefix = `[${String(r).padStart(width)}] `;
      pumps.push(
        pump(child.stdout, prefix, "stdout", out),
        pump(child.stderr, prefix, "stderr", out),
      );
    }
    await Promise.all(children.map(async (c, r) => {
      const s = await c.status;
      codes[r] = s.signal ? null : s.code;
      if (!s.success && !reason && options.failFast !== false) {
        killAll(`rank ${r} failed (${s.signal ?? `exit ${s.code}`})`);
      }
    }));
    await Promise.all(pumps);
  } finally {
    clearTimeout(timer);
  }
  const success = reason === undefined && codes.every((c) => c === 0);
  return { codes, success, reason };
}

function usage(): never {
  console.error("usage: deno task launch -n N [--timeout SECONDS] script.ts [args...]");
  Deno.exit(2);
}

if (import.meta.main) {
  const a = [...Deno.args];
  let ranks = 0, timeoutS = 300;
  while (a.length && a[0].startsWith("-")) {
    const flag = a.shift()!;
    const v = Number(a.shift());
    if (flag === "-n" || flag === "--np") ranks = v;
    else if (flag === "--timeout") timeoutS = v;
    else usage();
    if (!Number.isFinite(v) || v <= 0) usage();
  }
  const script = a.shift();
  if (!script || !ranks) usage();
  const r = await launch({ ranks, script, args: a, timeoutS });
  if (!r.success) {
    console.error(`launch: ${r.reason ?? "a rank failed"}; exit codes ${JSON.stringify(r.codes)}`);
    Deno.exit(1);
  }
}
