/**
 * Namespace hosts: N simulated hosts on this machine for multi-host tests and benchmarks.
 *
 * Each host is a set of Linux namespaces — network, PID (with its own `/proc`), mount
 * (private `/dev/shm`, and an `/etc/hosts` that names every host), IPC and UTS (its own
 * hostname `h0`, `h1`, …) — held by one `sleep` process that is the PID namespace's
 * init, so killing it (or its time bound running out) kills everything on the host. The
 * hosts are joined by veth pairs to a bridge inside a separate switch namespace, with
 * link-local addresses 169.254.77.1, .2, …: traffic never reaches this machine's own
 * network namespace, and parallel runs (each with its own switch) cannot collide.
 * Ranks on different hosts share no shared memory, no SysV IPC and no PIDs (so no CMA),
 * as on real hosts; they do share the file system, as on a cluster.
 *
 * {@link NsHosts.rsh} is a script that enters a host like `ssh HOST command` (one shell
 * string, a clean environment, ssh-style leading options ignored, exit 255 for an
 * unknown host). `mpirun` runs on the head ({@link NsHosts.head}) with
 * `--mca plm_rsh_agent` set to it.
 *
 * @module
 */

/** Why namespace hosts cannot be made here, or null when they can (cached). */
let support: string | null | undefined;

/** Returns why namespace hosts are unavailable (not root, no unshare/ip/nsenter…), or null. */
export function nsHostsUnavailable(): string | null {
  if (support !== undefined) return support;
  try {
    const o = new Deno.Command("unshare", {
      args: ["--net", "--pid", "--fork", "--mount", "--ipc", "--uts", "--", "ip", "link"],
      stdin: "null",
      stdout: "null",
      stderr: "piped",
    }).outputSync();
    if (!o.success) {
      support = `namespaces are not allowed here (unshare: ${
        new TextDecoder().decode(o.stderr).trim()
      })`;
    } else {
      const n = new Deno.Command("nsenter", { args: ["--version"], stdout: "null" }).outputSync();
      support = n.success ? null : "nsenter is missing (util-linux)";
    }
  } catch (e) {
    support = `unshare or ip is missing (util-linux, iproute2): ${String(e)}`;
  }
  return support;
}

/** The head's address: the switch namespace's own address on the bridge. */
export const HEAD = "169.254.77.254";

/** One simulated host. */
export interface NsHost {
  /** Host name (its UTS hostname and its name in every host's /etc/hosts). */
  name: string;
  /** Its address on the bridge. */
  addr: string;
  /** PID (in this PID namespace) of the process that holds the host's namespaces. */
  pid: number;
}

/** Options of {@link createNsHosts}. */
export interface NsHostsOptions {
  /** Every host dies after this many seconds at the latest (default 300). */
  lifetimeS?: number;
}

function sh(args: string[], what: string): void {
  const o = new Deno.Command(args[0], {
    args: args.slice(1),
    stdin: "null",
    stdout: "piped",
    stderr: "piped",
  }).outputSync();
  if (!o.success) {
    throw new Error(`${what}: ${args.join(" ")}: ${new TextDecoder().decode(o.stderr).trim()}`);
  }
}

/** A set of namespace hosts; see the module doc. Close it to tear the hosts down. */
export class NsHosts implements AsyncDisposable {
  /** The hosts, `h0` first. */
  readonly hosts: NsHost[];
  /** Path of the `ssh`-like script that enters a host: `rsh HOST command…`. */
  readonly rsh: string;
  /** The directory holding the hosts' files (removed by {@link NsHosts.close}). */
  readonly dir: string;
  /**
   * A command prefix that runs a program on the head: in the switch's network namespace
   * (address {@link HEAD}, reaching every host) but in this machine's PID and mount
   * namespaces, so that it can enter the hosts through {@link NsHosts.rsh}. `mpirun`
   * runs there (its daemons on the hosts connect back to it); a host cannot enter another
   * (a PID namespace can only enter its own descendants).
   */
  readonly head: string[];
  readonly #holders: Deno.ChildProcess[];

  private constructor(hosts: NsHost[], rsh: string, dir: string, holders: Deno.ChildProcess[]) {
    this.head = ["nsenter", `--net=/proc/${holders[0].pid}/ns/net`, "--"];
    this.hosts = hosts;
    this.rsh = rsh;
    this.dir = dir;
    this.#holders = holders;
  }

  /** Creates `n` hosts (see {@link createNsHosts}). */
  static async create(n: number, options: NsHostsOptions = {}): Promise<NsHosts> {
    if (!Number.isInteger(n) || n < 1 || n > 32) throw new RangeError(`bad host count ${n}`);
    const why = nsHostsUnavailable();
    if (why) throw new Error(`namespace hosts unavailable: ${why}`);
    const life = String(Math.ceil(options.lifetimeS ?? 300));
    const dir = Deno.makeTempDirSync({ prefix: `pluvio-hosts-${Deno.pid}-` });
    const holders: Deno.ChildProcess[] = [];
    const hosts: NsHost[] = [];
    const cleanup = async () => {
      for (const h of hosts) killPid(h.pid);
      for (const h of holders) {
        try {
          h.kill("SIGKILL");
        } catch { /* gone */ }
      }
      await Promise.all(holders.map((h) => h.status.catch(() => {})));
      try {
        Deno.removeSync(dir, { recursive: true });
      } catch { /* still in use: the lifetime bound ends it */ }
    };
    try {
      const names = [...Array(n).keys()].map((i) => `h${i}`);
      const addrs = names.map((_, i) => `169.254.77.${i + 1}`);
      Deno.writeTextFileSync(
        `${dir}/hosts`,
        "127.0.0.1 localhost\n" + names.map((h, i) => `${addrs[i]} ${h}\n`).join(""),
      );
      // The switch: a network namespace with the bridge.
      const sw = new Deno.Command("unshare", {
        args: ["--net", "--", "sleep", life],
        stdin: "null",
      }).spawn();
      holders.push(sw);
      const swNet = `--net=/proc/${sw.pid}/ns/net`;
      await waitFor(() => Deno.readLinkSync(`/proc/${sw.pid}/ns/net`) !== selfNs("net"));
      sh(["nsenter", swNet, "--", "ip", "link", "add", "br0", "type", "bridge"], "bridge");
      sh(["nsenter", swNet, "--", "ip", "link", "set", "br0", "up"], "bridge up");
      sh(["nsenter", swNet, "--", "ip", "addr", "add", `${HEAD}/24`, "dev", "br0"], "head");
      for (let i = 0; i < n; i++) {
        const setup = [
          "mount -t proc proc /proc",
          "mount -t tmpfs -o size=2g tmpfs /dev/shm",
          `mount --bind ${dir}/hosts /etc/hosts`,
          `hostname ${names[i]}`,
          "echo ready",
          `exec sleep ${life}`,
        ].join(" && ");
        const holder = new Deno.Command("unshare", {
          args: [
            "--net",
            "--pid",
            "--fork",
            "--mount",
            "--ipc",
            "--uts",
            "--",
            "/bin/sh",
            "-c",
            setup,
          ],
          stdin: "null",
          stdout: "piped",
          stderr: "piped",
        }).spawn();
        holders.push(holder);
        const first = await firstLine(holder.stdout, 10_000);
        if (first !== "ready") {
          const err = await new Response(holder.stderr).text().catch(() => "");
          throw new Error(`host ${names[i]} setup failed: ${err.trim() || first}`);
        }
        holder.stderr.cancel().catch(() => {});
        const kids = Deno.readTextFileSync(`/proc/${holder.pid}/task/${holder.pid}/children`)
          .trim();
        const pid = Number(kids.split(/\s+/)[0]);
        if (!pid) throw new Error(`host ${names[i]}: no namespace holder process`);
        holderNs.set(pid, Deno.readLinkSync(`/proc/${pid}/ns/pid`));
        sh([
          "nsenter",
          swNet,
          "--",
          "ip",
          "link",
          "add",
          names[i],
          "type",
          "veth",
          "peer",
          "name",
          "eth0",
          "netns",
          String(pid),
        ], "veth");
        sh(["nsenter", swNet, "--", "ip", "link", "set", names[i], "master", "br0", "up"], "port");
        sh([
          "nsenter",
          `--net=/proc/${pid}/ns/net`,
          "--",
          "sh",
          "-c",
          `ip addr add ${addrs[i]}/24 dev eth0 && ip link set eth0 up && ip link set lo up`,
        ], "address");
        hosts.push({ name: names[i], addr: addrs[i], pid });
      }
      const cases = hosts.map((h) => `  ${h.name}|${h.addr}) pid=${h.pid} ;;\n`).join("");
      const rsh = `${dir}/rsh`;
      Deno.writeTextFileSync(
        rsh,
        `#!/bin/sh
# Enters a namespace host like \`ssh HOST command\` (made by tests/helpers/nshosts.ts).
while [ $# -gt 0 ] && [ "\${1#-}" != "$1" ]; do shift; done
host=$1
[ $# -gt 0 ] && shift
case $host in
${cases}  *) echo "rsh: $host: unknown host" >&2; exit 255 ;;
esac
p=/proc/$pid
[ -e $p/ns/net ] || { echo "rsh: $host: host is down (or this runs inside a host)" >&2; exit 255; }
exec nsenter --net=$p/ns/net --pid=$p/ns/pid --ipc=$p/ns/ipc --uts=$p/ns/uts \\
  --mount=$p/ns/mnt --wd="$PWD" -- env -i PATH="$PATH" HOME="$HOME" /bin/sh -c "$*"
`,
      );
      Deno.chmodSync(rsh, 0o755);
      return new NsHosts(hosts, rsh, dir, holders);
    } catch (e) {
      await cleanup();
      throw e;
    }
  }

  /** Runs `command` (one shell string, as with ssh) on host `host` and returns its output. */
  async run(
    host: string,
    command: string,
    options: { timeoutMs?: number; stdin?: "null" | "piped" } = {},
  ): Promise<{ code: number; stdout: string; stderr: string }> {
    const child = new Deno.Command(this.rsh, {
      args: [host, command],
      stdin: "null",
      stdout: "piped",
      stderr: "piped",
    }).spawn();
    const t = setTimeout(() => {
      try {
        child.kill("SIGKILL");
      } catch { /* gone */ }
    }, options.timeoutMs ?? 60_000);
    try {
      const o = await child.output();
      const d = new TextDecoder();
      return { code: o.code, stdout: d.decode(o.stdout), stderr: d.decode(o.stderr) };
    } finally {
      clearTimeout(t);
    }
  }

  /** Kills every process on every host and removes the hosts. */
  async close(): Promise<void> {
    // A PID namespace's init ignores every signal but SIGKILL; its death kills the host.
    for (const h of this.hosts) killPid(h.pid);
    for (const h of this.hosts) holderNs.delete(h.pid);
    for (const h of this.#holders) {
      try {
        h.kill("SIGKILL");
      } catch { /* gone */ }
    }
    await Promise.all(this.#holders.map((h) => h.status.catch(() => {})));
    try {
      Deno.removeSync(this.dir, { recursive: true });
    } catch { /* a mount still busy: the lifetime bound ends the hosts anyway */ }
  }

  /** Same as {@link NsHosts.close}. */
  [Symbol.asyncDispose](): Promise<void> {
    return this.close();
  }
}

/** Creates `n` namespace hosts; throws (with the reason) where namespaces are not allowed. */
export function createNsHosts(n: number, options?: NsHostsOptions): Promise<NsHosts> {
  return NsHosts.create(n, options);
}

/** The namespace each host's holder was created with (to never kill a reused pid). */
const holderNs = new Map<number, string>();

function killPid(pid: number): void {
  try {
    if (Deno.readLinkSync(`/proc/${pid}/ns/pid`) !== holderNs.get(pid)) return;
    Deno.kill(pid, "SIGKILL");
  } catch { /* gone */ }
}

function selfNs(kind: string): string {
  return Deno.readLinkSync(`/proc/self/ns/${kind}`);
}

async function waitFor(f: () => boolean, ms = 5_000): Promise<void> {
  const end = Date.now() + ms;
  for (;;) {
    try {
      if (f()) return;
    } catch { /* not there yet */ }
    if (Date.now() > end) throw new Error("namespace setup timed out");
    await new Promise((r) => setTimeout(r, 10));
  }
}

async function firstLine(s: ReadableStream<Uint8Array>, ms: number): Promise<string> {
  const reader = s.getReader();
  let text = "";
  const t = setTimeout(() => reader.cancel().catch(() => {}), ms);
  try {
    while (!text.includes("\n")) {
      const { value, done } = await reader.read();
      if (done) break;
      text += new TextDecoder().decode(value);
    }
  } finally {
    clearTimeout(t);
    reader.releaseLock();
  }
  return text.split("\n")[0];
}

if (import.meta.main) {
  // `deno run -A tests/helpers/nshosts.ts N CMD…`: makes N hosts, runs CMD on this
  // machine with `{rsh}` in its arguments replaced by the enter-host script (also in
  // PLUVIO_RSH) and `{head}` by the head prefix, then tears the hosts down.
  const n = Number(Deno.args[0] ?? 2);
  const hosts = await NsHosts.create(n, { lifetimeS: 3600 });
  try {
    const cmd = Deno.args.slice(1).flatMap((a) =>
      a === "{head}" ? hosts.head : [a.replaceAll("{rsh}", hosts.rsh)]
    );
    if (cmd.length === 0) {
      console.log(`hosts ${hosts.hosts.map((h) => `${h.name}=${h.addr}`).join(" ")}`);
      console.log(`rsh ${hosts.rsh}`);
    } else {
      const s = await new Deno.Command(cmd[0], {
        args: cmd.slice(1),
        env: { PLUVIO_RSH: hosts.rsh },
        stdin: "null",
      }).spawn().status;
      Deno.exitCode = s.code;
    }
  } finally {
    await hosts.close();
  }
}
