/**
 * Waiting for a child process with a deadline: every multi-process test bounds its
 * children, and a child that overruns is killed (with its process group when it leads
 * one, e.g. started through `setsid`, so mpirun's ranks go too).
 *
 * @module
 */

/** What {@link outputWithin} returns: the child's output and whether it was killed. */
export interface BoundedOutput {
  /** The process's exit status and captured output. */
  output: Deno.CommandOutput;
  /** Whether the deadline passed and the child was killed. */
  timedOut: boolean;
}

/**
 * The output of `child`, killing it with SIGKILL after `ms` milliseconds (its whole
 * process group when `group` is set).
 */
export async function outputWithin(
  child: Deno.ChildProcess,
  ms: number,
  options: { group?: boolean } = {},
): Promise<BoundedOutput> {
  let timedOut = false;
  const timer = setTimeout(() => {
    timedOut = true;
    try {
      if (options.group) Deno.kill(-child.pid, "SIGKILL");
      else child.kill("SIGKILL");
    } catch { /* already gone */ }
  }, ms);
  try {
    return { output: await child.output(), timedOut };
  } finally {
    clearTimeout(timer);
  }
}
