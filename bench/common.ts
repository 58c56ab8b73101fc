/**
 * Pieces shared by the benchmark drivers that launch MPI jobs (`bench/mpi/run.ts`,
 * `bench/coll/run.ts`): flags, running a process group with a deadline, statistics,
 * sizes, and building the C reference (`bench/mpi/osu_coll.c`).
 *
 * @module
 */

/** The repository root (with a trailing slash). */
export const root: string = new URL("../", import.meta.url).pathname;

/** `--name=value` from the command line, or `dflt`. */
export function flag(name: string, dflt: string): string {
  return Deno.args.find((a) => a.startsWith(`--${name}=`))?.split("=")[1] ?? dflt;
}

/** mpirun options for running as root on a small shared machine. */
export const MPIRUN: readonly string[] = [
  "--allow-run-as-root",
  "--oversubscribe",
  "--bind-to",
  "none",
];

/**
 * Runs `cmd args` as the leader of a new process group (setsid) from the repository
 * root; kills the whole group after `timeoutMs`; returns stdout, or throws with the
 * output when it fails.
 */
export async function run(cmd: string, args: string[], timeoutMs = 300_000): Promise<string> {
  const child = new Deno.Command("setsid", {
    args: [cmd, ...args],
    stdin: "null",
    stdout: "piped",
    stderr: "piped",
    cwd: root,
  }).spawn();
  const timer = setTimeout(() => {
    try {
      Deno.kill(-child.pid, "SIGKILL");
    } catch { /* gone */ }
  }, timeoutMs);
  const out = await child.output();
  clearTimeout(timer);
  const text = new TextDecoder().decode(out.stdout);
  if (!out.success) {
    throw new Error(
      `${cmd} ${args.join(" ")} failed (${out.code}):\n${text}\n${
        new TextDecoder().decode(out.stderr)
      }`,
    );
  }
  return text;
}

/** The median of `xs` (mean of the middle two for an even count). */
export function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  return s.length % 2 ? s[s.length >> 1] : (s[s.length / 2 - 1] + s[s.length / 2]) / 2;
}

/** `bytes` as "4 B", "64 KiB", "16 MiB". */
export function human(bytes: number): string {
  if (bytes >= 1 << 20) return `${bytes / (1 << 20)} MiB`;
  if (bytes >= 1024) return `${bytes / 1024} KiB`;
  return `${bytes} B`;
}

/** Builds `bench/build/osu_coll` with mpicc; returns mpirun's version line. */
export async function buildOsuColl(): Promise<string> {
  await Deno.mkdir(`${root}bench/build`, { recursive: true });
  await run("mpicc", ["-O2", "-o", "bench/build/osu_coll", "bench/mpi/osu_coll.c"]);
  return (await run("mpirun", ["--version"])).split("\n")[0];
}
