/**
 * The launcher: `deno task launch -n N [--hosts a:2,b:2 | --hostfile FILE] [--rsh CMD]
 * [--timeout S] script.ts [args…]`.
 *
 * Spawns N ranks of `deno run -A script.ts args…` with the bootstrap environment
 * (`PLUVIO_COLL_RANK`, `PLUVIO_COLL_SIZE`, `PLUVIO_COLL_LOCAL_RANK`,
 * `PLUVIO_COLL_LOCAL_SIZE`, `PLUVIO_COLL_ROOT_HOST`, `PLUVIO_COLL_ROOT_PORT` and a fresh
 * `PLUVIO_COLL_JOB`), prefixes every output line with `[rank]` (`[rank@host]` across
 * hosts), and when a rank fails (or the timeout passes) stops every rank and exits
 * non-zero.
 *
 * Across hosts, ranks fill each host's slots in order, and the launcher starts one agent
 * per host through `--rsh` (default `ssh`; as with `ssh HOST command`, the command is
 * one shell string): the agent (this module with `--agent`) spawns that host's ranks,
 * forwards their output, and kills them when its standard input closes — which is how
 * the launcher stops a host (closing the pipe reaches the agent through ssh too). The
 * script, Deno and this module must exist at the same paths on every host. The root is
 * rank 0's host name (it must resolve on every host) and a port derived from the job id.
 *
 * @module
 */
import { defaultRootPort } from "./bootstrap.ts";

/** One host of a multi-host launch: its name (as `--rsh` and the other hosts know it) and slots. */
export interface HostSpec {
  /** Host name, resolvable on every host (rank 0's host becomes the bootstrap root). */
  name: string;
  /** How many ranks it takes. */
  slots: number;
}

/** Options of {@link launch}. */
export interface LaunchOptions {
  /** Number of ranks (across hosts: default, and at most, the sum of the slots). */
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
  /** Run the ranks on these hosts (default: all on this host, without any remote shell). */
  hosts?: HostSpec[];
  /** The remote shell for {@link LaunchOptions.hosts}: program and flags (default `["ssh"]`). */
  rsh?: string[];
  /** The job id (default: a fresh random one). */
  job?: string;
  /** The bootstrap root's port across hosts (default: derived from the job id). */
  rootPort?: number;
}

/** Outcome of a launch. */
export interface LaunchResult {
  /** Exit code per rank (null for a rank killed by a signal or never started). */
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

/** Parses `a:2,b:2` (a missing `:N` means one slot). */
export function parseHosts(s: string): HostSpec[] {
  const hosts = s.split(",").filter((x) => x.trim() !== "").map((item) => {
    const m = /^([^\s:]+)(?::(\d+))?$/.exec(item.trim());
    if (!m || (m[2] !== undefined && Number(m[2]) < 1)) {
      throw new RangeError(`bad host ${JSON.stringify(item)} (expected NAME or NAME:SLOTS)`);
    }
    return { name: m[1], slots: m[2] === undefined ? 1 : Number(m[2]) };
  });
  if (hosts.length === 0) throw new RangeError("--hosts lists no host");
  return hosts;
}

/** Parses an Open MPI hostfile: `name [slots=N] [max_slots=M]` lines, `#` comments. */
export function parseHostfile(text: string): HostSpec[] {
  const hosts: HostSpec[] = [];
  text.split("\n").forEach((raw, i) => {
    const line = raw.replace(/#.*/, "").trim();
    if (!line) return;
    const [name, ...rest] = line.split(/\s+/);
    let slots = 1;
    for (const kv of rest) {
      const m = /^(slots|max_slots|max-slots)=(\d+)$/.exec(kv);
      if (!m) throw new RangeError(`hostfile line ${i + 1}: cannot read ${JSON.stringify(kv)}`);
      if (m[1] === "slots") slots = Number(m[2]);
    }
    if (slots < 1) throw new RangeError(`hostfile line ${i + 1}: slots must be at least 1`);
    hosts.push({ name, slots });
  });
  if (hosts.length === 0) throw new RangeError("the hostfile lists no host");
  return hosts;
}

/** Quotes `s` for a POSIX shell. */
function shq(s: string): string {
  return /^[\w@%+=:,./-]+$/.test(s) ? s : `'${s.replaceAll("'", `'"'"'`)}'`;
}

async function pump(
  stream: ReadableStream<Uint8Array>,
  line: (l: string) => void,
): Promise<void> {
  const dec = new TextDecoder();
  let rest = "";
  for await (const chunk of stream) {
    rest += dec.decode(chunk, { stream: true });
    let i;
    while ((i = rest.indexOf("\n")) >= 0) {
      line(rest.slice(0, i));
      rest = rest.slice(i + 1);
    }
  }
  if (rest) line(rest);
}

function killer(children: () => Deno.ChildProcess[]): () => void {
  let done = false;
  return () => {
    if (done) return;
    done = true;
    for (const c of children()) {
      try {
        c.kill("SIGTERM");
      } catch { /* exited */ }
    }
    setTimeout(() => {
      for (const c of children()) {
        try {
          c.kill("SIGKILL");
        } catch { /* exited */ }
      }
    }, 2_000).unref?.();
  };
}

/** Environment variables of the launcher's own environment that ranks on other hosts get. */
const FORWARD = /^(PLUVIO_|UCX_|DENO_|NO_COLOR$)/;

function freshJob(): string {
  const b = crypto.getRandomValues(new Uint8Array(8));
  return `launch-${[...b].map((x) => x.toString(16).padStart(2, "0")).join("")}`;
}

/** Runs `options.ranks` ranks of a script; see the module doc. */
export function launch(options: LaunchOptions): Promise<LaunchResult> {
  return options.hosts ? launchHosts(options, options.hosts) : launchLocal(options);
}

async function launchLocal(options: LaunchOptions): Promise<LaunchResult> {
  const n = options.ranks;
  if (!Number.isInteger(n) || n < 1) throw new RangeError(`-n must be a positive integer`);
  const out = options.out ?? ((line, s) => (s === "stdout" ? console.log : console.error)(line));
  const port = options.rootPort ?? freePort();
  const job = options.job ?? freshJob();
  const children: Deno.ChildProcess[] = [];
  const pumps: Promise<void>[] = [];
  const codes: (number | null)[] = new Array(n).fill(null);
  let reason: string | undefined;
  const kill = killer(() => children);
  const killAll = (why: string) => {
    reason ??= why;
    kill();
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
          PLUVIO_COLL_LOCAL_RANK: String(r),
          PLUVIO_COLL_LOCAL_SIZE: String(n),
          PLUVIO_COLL_ROOT_HOST: "127.0.0.1",
          PLUVIO_COLL_ROOT_PORT: String(port),
          PLUVIO_COLL_JOB: job,
        },
        stdin: "null",
        stdout: "piped",
        stderr: "piped",
      }).spawn();
      children.push(child);
      const width = String(n - 1).length;
      const prefix = `[${String(r).padStart(width)}] `;
      pumps.push(
        pump(child.stdout, (l) => out(prefix + l, "stdout")),
        pump(child.stderr, (l) => out(prefix + l, "stderr")),
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

/** What the launcher tells one host's agent. */
interface AgentSpec {
  host: string;
  cwd: string;
  deno: string;
  script: string;
  args: string[];
  denoFlags: string[];
  failFast: boolean;
  ranks: { rank: number; env: Record<string, string> }[];
}

/** Marks the agent's final status line on its stdout. */
const STATUS = "\u0001pluvio-agent-status ";

async function launchHosts(options: LaunchOptions, hosts: HostSpec[]): Promise<LaunchResult> {
  const slots = hosts.reduce((s, h) => s + h.slots, 0);
  const n = options.ranks || slots;
  if (!Number.isInteger(n) || n < 1) throw new RangeError(`-n must be a positive integer`);
  if (n > slots) throw new RangeError(`-n ${n} is more than the ${slots} slots of the hosts`);
  const out = options.out ?? ((line, s) => (s === "stdout" ? console.log : console.error)(line));
  const job = options.job ?? freshJob();
  const port = options.rootPort ?? defaultRootPort(job);
  const rsh = options.rsh ?? ["ssh"];
  const forwarded: Record<string, string> = {};
  for (const [k, v] of Object.entries(Deno.env.toObject())) if (FORWARD.test(k)) forwarded[k] = v;
  // Ranks fill each host's slots in order.
  const placed: { host: string; ranks: number[] }[] = [];
  for (let r = 0, h = 0; r < n; h++) {
    const take = Math.min(hosts[h].slots, n - r);
    placed.push({ host: hosts[h].name, ranks: [...Array(take).keys()].map((i) => r + i) });
    r += take;
  }
  const rootHost = placed[0].host;
  const codes: (number | null)[] = new Array(n).fill(null);
  let reason: string | undefined;
  const agents: Deno.ChildProcess[] = [];
  const stdins: WritableStreamDefaultWriter<Uint8Array>[] = [];
  const kill = killer(() => agents);
  let stopping = false;
  const stopAll = (why: string) => {
    reason ??= why;
    if (stopping) return;
    stopping = true;
    // Closing an agent's stdin makes it kill its ranks; the signals are the fallback.
    for (const w of stdins) w.close().catch(() => {});
    setTimeout(kill, 3_000).unref?.();
  };
  const timeoutS = options.timeoutS ?? 300;
  const timer = setTimeout(() => stopAll(`timed out after ${timeoutS} s`), timeoutS * 1000);
  const self = new URL(import.meta.url).pathname;
  const script = options.script.startsWith("/")
    ? options.script
    : `${Deno.cwd()}/${options.script}`;
  const width = String(n - 1).length;
  try {
    const runs = placed.map(async ({ host, ranks }) => {
      const spec: AgentSpec = {
        host,
        cwd: Deno.cwd(),
        deno: Deno.execPath(),
        script,
        args: options.args ?? [],
        denoFlags: options.denoFlags ?? ["-A"],
        failFast: options.failFast !== false,
        ranks: ranks.map((rank, local) => ({
          rank,
          env: {
            ...forwarded,
            ...options.env,
            PLUVIO_COLL_RANK: String(rank),
            PLUVIO_COLL_SIZE: String(n),
            PLUVIO_COLL_LOCAL_RANK: String(local),
            PLUVIO_COLL_LOCAL_SIZE: String(ranks.length),
            PLUVIO_COLL_ROOT_HOST: rootHost,
            PLUVIO_COLL_ROOT_PORT: String(port),
            PLUVIO_COLL_JOB: job,
            PLUVIO_COLL_PREFIX_WIDTH: String(width),
          },
        })),
      };
      const b64 = btoa(String.fromCharCode(...new TextEncoder().encode(JSON.stringify(spec))));
      const remote = [Deno.execPath(), "run", "-A", self, "--agent", b64].map(shq).join(" ");
      let agent: Deno.ChildProcess;
      try {
        agent = new Deno.Command(rsh[0], {
          args: [...rsh.slice(1), host, remote],
          stdin: "piped",
          stdout: "piped",
          stderr: "piped",
        }).spawn();
      } catch (e) {
        stopAll(`host ${host}: cannot run ${JSON.stringify(rsh.join(" "))}: ${String(e)}`);
        return;
      }
      agents.push(agent);
      const w = agent.stdin.getWriter();
      stdins.push(w);
      if (stopping) w.close().catch(() => {});
      let status: { codes: Record<string, number | null>; reason?: string } | undefined;
      const own: string[] = []; // lines of the remote shell itself (not of a rank)
      const pumps = [
        pump(agent.stdout, (l) => {
          if (l.startsWith(STATUS)) status = JSON.parse(l.slice(STATUS.length));
          else out(l, "stdout");
        }),
        pump(agent.stderr, (l) => {
          if (!l.startsWith("[")) own.push(l), own.length > 5 && own.shift();
          out(l.startsWith("[") ? l : `[@${host}] ${l}`, "stderr");
        }),
      ];
      const s = await agent.status;
      await Promise.all(pumps);
      if (status) {
        for (const [r, c] of Object.entries(status.codes)) codes[Number(r)] = c;
        if (status.reason && (options.failFast !== false || !reason)) {
          stopAll(status.reason);
        }
      } else if (!stopping) {
        stopAll(
          `host ${host}: ${rsh.join(" ")} exited ${s.signal ?? s.code} before its ranks ` +
            `reported${own.length ? `: ${own.join(" | ")}` : ""}`,
        );
      }
    });
    await Promise.all(runs);
  } finally {
    clearTimeout(timer);
  }
  const success = reason === undefined && codes.every((c) => c === 0);
  return { codes, success, reason };
}

/** One host's agent: starts its ranks, forwards their output, stops them when stdin closes. */
async function agent(spec: AgentSpec): Promise<number> {
  try {
    Deno.chdir(spec.cwd);
  } catch { /* another file system layout: paths are absolute anyway */ }
  const enc = new TextEncoder();
  const write = (f: typeof Deno.stdout, l: string) => {
    const b = enc.encode(l + "\n");
    for (let o = 0; o < b.length;) o += f.writeSync(b.subarray(o));
  };
  const children: Deno.ChildProcess[] = [];
  const codes: Record<string, number | null> = {};
  let reason: string | undefined;
  const kill = killer(() => children);
  const stop = (why: string) => {
    reason ??= why;
    kill();
  };
  const pumps: Promise<void>[] = [];
  for (const { rank, env } of spec.ranks) {
    codes[rank] = null;
    let child: Deno.ChildProcess;
    try {
      child = new Deno.Command(spec.deno, {
        args: ["run", ...spec.denoFlags, spec.script, ...spec.args],
        env,
        stdin: "null",
        stdout: "piped",
        stderr: "piped",
      }).spawn();
    } catch (e) {
      stop(`rank ${rank} on ${spec.host} could not start: ${String(e)}`);
      break;
    }
    children.push(child);
    const width = Number(env.PLUVIO_COLL_PREFIX_WIDTH) || 1;
    const prefix = `[${String(rank).padStart(width)}@${spec.host}] `;
    pumps.push(
      pump(child.stdout, (l) => write(Deno.stdout, prefix + l)),
      pump(child.stderr, (l) => write(Deno.stderr, prefix + l)),
    );
  }
  // The launcher closes our stdin to stop this host (or it died, or ssh dropped).
  (async () => {
    try {
      for await (const _ of Deno.stdin.readable) { /* nothing is sent */ }
    } catch { /* closed */ }
    stop(`stopped by the launcher`);
  })();
  await Promise.all(children.map(async (c, i) => {
    const s = await c.status;
    const rank = spec.ranks[i].rank;
    codes[rank] = s.signal ? null : s.code;
    if (!s.success && !reason && spec.failFast) {
      stop(`rank ${rank} on ${spec.host} failed (${s.signal ?? `exit ${s.code}`})`);
    }
  }));
  await Promise.all(pumps);
  if (reason === "stopped by the launcher") reason = undefined; // the launcher knows why
  write(Deno.stdout, STATUS + JSON.stringify({ codes, reason }));
  return Object.values(codes).every((c) => c === 0) ? 0 : 1;
}

function usage(): never {
  console.error(
    "usage: deno task launch [-n N] [--hosts a:2,b:2 | --hostfile FILE] [--rsh CMD] " +
      "[--timeout SECONDS] script.ts [args...]",
  );
  Deno.exit(2);
}

if (import.meta.main) {
  const a = [...Deno.args];
  if (a[0] === "--agent") {
    const spec = JSON.parse(
      new TextDecoder().decode(Uint8Array.from(atob(a[1]), (c) => c.charCodeAt(0))),
    ) as AgentSpec;
    Deno.exit(await agent(spec));
  }
  let ranks = 0, timeoutS = 300;
  let hosts: HostSpec[] | undefined;
  let rsh: string[] | undefined;
  try {
    while (a.length && a[0].startsWith("-")) {
      const flag = a.shift()!;
      const v = a.shift();
      if (v === undefined) usage();
      if (flag === "-n" || flag === "--np") ranks = Number(v);
      else if (flag === "--timeout") timeoutS = Number(v);
      else if (flag === "--hosts" || flag === "-H") hosts = parseHosts(v);
      else if (flag === "--hostfile") hosts = parseHostfile(Deno.readTextFileSync(v));
      else if (flag === "--rsh") rsh = v.split(/\s+/).filter((x) => x);
      else usage();
      if ((flag === "-n" || flag === "--timeout") && !(Number(v) > 0)) usage();
    }
  } catch (e) {
    console.error(`launch: ${e instanceof Error ? e.message : String(e)}`);
    Deno.exit(2);
  }
  const script = a.shift();
  if (!script || (!ranks && !hosts)) usage();
  if (rsh && !hosts) {
    console.error("launch: --rsh needs --hosts or --hostfile");
    Deno.exit(2);
  }
  let r: LaunchResult;
  try {
    r = await launch({ ranks, script, args: a, timeoutS, hosts, rsh });
  } catch (e) {
    console.error(`launch: ${e instanceof Error ? e.message : String(e)}`);
    Deno.exit(2);
  }
  if (!r.success) {
    console.error(`launch: ${r.reason ?? "a rank failed"}; exit codes ${JSON.stringify(r.codes)}`);
    Deno.exit(1);
  }
}
