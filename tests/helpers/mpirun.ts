/**
 * Launching test jobs under real `mpirun` (Open MPI), shared by the MPI test files.
 *
 * Every job runs under `setsid`, so a timeout kills mpirun and every rank as one process
 * group; a job that times out or exits non-zero fails the test with its output.
 * Without `mpirun` (or a library built without MPI) the tests FAIL with an install hint,
 * unless `PLUVIO_SKIP_MPI=1` asks to skip them.
 *
 * @module
 */
import assert from "node:assert/strict";
import { type Backend, hasBackend } from "../../lib/ffi/library.ts";
import { outputWithin } from "./bounded.ts";

/** Whether `PLUVIO_SKIP_MPI=1` asks to skip the tests that need MPI. */
export const skipMpi: boolean = Deno.env.get("PLUVIO_SKIP_MPI") === "1";

/** Whether `mpirun` is on PATH. */
export function hasMpirun(): boolean {
  try {
    return new Deno.Command("mpirun", { args: ["--version"], stdin: "null", stdout: "null" })
      .outputSync().success;
  } catch {
    return false;
  }
}

/** Throws with an install hint unless mpirun and the native `backends` are there. */
export function requireMpi(backends: Backend[] = ["mpi"]): void {
  if (!hasMpirun()) {
    throw new Error(
      "mpirun not found: this test needs an MPI (Debian: apt-get install openmpi-bin " +
        "libopenmpi-dev), or set PLUVIO_SKIP_MPI=1 to skip it",
    );
  }
  for (const b of backends) {
    if (!hasBackend(b)) {
      throw new Error(
        `the native library was built without ${b}: rebuild it (deno run -A native/build.ts), ` +
          "or set PLUVIO_SKIP_MPI=1 to skip this test",
      );
    }
  }
}

/** Options of {@link mpirun}. */
export interface MpirunOptions {
  /** Kill the whole job after this many milliseconds (default 60 000). */
  timeoutMs?: number;
  /** Environment for every rank, passed with `-x`. */
  env?: Record<string, string>;
  /** Accept a non-zero exit code (the test checks `code` itself). */
  allowFailure?: boolean;
}

/** Output of a job that exited 0. */
export interface MpirunOutput {
  stdout: string;
  stderr: string;
  /** stdout and the tail of stderr, for assertion messages. */
  context: string;
  /** mpirun's exit code (0 unless `allowFailure`). */
  code: number;
}

/**
 * Runs `mpirun -n ranks deno run -A script ...args` and asserts it finished in time with
 * exit code 0.
 */
export async function mpirun(
  ranks: number,
  script: string,
  args: string[] = [],
  options: MpirunOptions = {},
): Promise<MpirunOutput> {
  const timeoutMs = options.timeoutMs ?? 60_000;
  const xs = Object.entries(options.env ?? {}).flatMap(([k, v]) => ["-x", `${k}=${v}`]);
  const child = new Deno.Command("setsid", {
    args: [
      "mpirun",
      "--allow-run-as-root",
      "--oversubscribe",
      "--bind-to",
      "none",
      "-n",
      String(ranks),
      ...xs,
      Deno.execPath(),
      "run",
      "-A",
      script,
      ...args,
    ],
    stdin: "null",
    stdout: "piped",
    stderr: "piped",
  }).spawn();
  const { output: out, timedOut } = await outputWithin(child, timeoutMs, { group: true });
  const stdout = new TextDecoder().decode(out.stdout);
  const stderr = new TextDecoder().decode(out.stderr);
  const context = `\n--- stdout ---\n${stdout}\n--- stderr ---\n${stderr.slice(-4000)}`;
  const name = script.split("/").at(-1);
  assert.ok(!timedOut, `mpirun -n ${ranks} ${name} timed out after ${timeoutMs} ms${context}`);
  if (!options.allowFailure) {
    assert.equal(out.code, 0, `mpirun -n ${ranks} ${name} exited with ${out.code}${context}`);
  }
  return { stdout, stderr, context, code: out.code };
}
