/**
 * Initialising and finalising MPI.
 *
 * `MPI_Init_thread` and `MPI_Finalize` may wait for the other ranks, so they run as
 * `nonblocking` FFI calls on a helper thread. That is why pluvio asks for at least
 * `MPI_THREAD_SERIALIZED`: MPI is then called from more than one thread, never at once.
 *
 * @module
 */
import { InvalidArgumentError } from "../../errors.ts";
import { blockingError, exclusive, mpiLib, syncError } from "./native.ts";
import { requestsEverywhere } from "./reactor.ts";

/** MPI thread support levels, weakest first. */
export type ThreadLevel = "single" | "funneled" | "serialized" | "multiple";

const LEVELS: readonly ThreadLevel[] = ["single", "funneled", "serialized", "multiple"];

/** Options of {@link init}. */
export interface InitOptions {
  /**
   * The thread level to ask for: `"serialized"` (default) or `"multiple"`. Lower levels
   * are rejected, since init, finalize and `split` run on a helper thread.
   */
  threadLevel?: ThreadLevel;
  /** Call {@link disableAsyncProgress} first (default true). */
  disableAsyncProgress?: boolean;
}

function levelValue(level: ThreadLevel): number {
  const i = LEVELS.indexOf(level);
  if (i < 0) {
    throw new InvalidArgumentError(`unknown MPI thread level '${level}'; use ${LEVELS.join(", ")}`);
  }
  return mpiLib().pluvio_mpi_thread_level(i);
}

/**
 * Sets the environment knobs that stop MPI libraries from running their own progress
 * threads (`MPICH_ASYNC_PROGRESS=0`, `MPIR_CVAR_ASYNC_PROGRESS=0`,
 * `OMPI_MCA_pml_ucx_progress_iterations=0`), which would compete with the reactor for
 * the cores. Must be called before {@link init} to have an effect.
 */
export function disableAsyncProgress(): void {
  const rc = mpiLib().pluvio_mpi_disable_async_progress();
  if (rc < 0) throw syncError(rc, "disableAsyncProgress");
}

/**
 * With the opt-in blocking allreduce path (`PLUVIO_MPI_BLOCKING_BYTES`), Open MPI's
 * blocking call busy-polls on a helper thread while the peer rank's may be descheduled
 * (2 ranks, more busy threads than cores): without `mpi_yield_when_idle` a 1 MiB call
 * then takes 10–16 ms instead of 0.5–1.1 ms (`bench/results/mpi.md`). Sets
 * `OMPI_MCA_mpi_yield_when_idle=1` unless the user set it.
 */
function yieldForBlockingPath(): void {
  try {
    const b = Deno.env.get("PLUVIO_MPI_BLOCKING_BYTES");
    if (b === undefined || b === "") return;
    if (Deno.env.get("OMPI_MCA_mpi_yield_when_idle") === undefined) {
      Deno.env.set("OMPI_MCA_mpi_yield_when_idle", "1");
    }
  } catch { /* no env permission: leave MPI's defaults */ }
}

/** Whether MPI is initialised and not finalised. */
export function isInitialized(): boolean {
  return mpiLib().pluvio_mpi_is_active() === 1;
}

/**
 * Initialises MPI (`MPI_Init_thread`) with Open MPI's `libmpi` promoted to global symbol
 * visibility first, and `MPI_ERRORS_RETURN` on `MPI_COMM_WORLD` so failures come back as
 * typed errors. Resolves to the thread level MPI provides.
 */
export async function init(options: InitOptions = {}): Promise<ThreadLevel> {
  const level = options.threadLevel ?? "serialized";
  if (LEVELS.indexOf(level) < 2) {
    throw new InvalidArgumentError(
      `MPI thread level '${level}' is too weak: pluvio calls MPI from a helper thread ` +
        `for init, finalize and split; ask for 'serialized' or 'multiple'`,
    );
  }
  if (options.disableAsyncProgress ?? true) disableAsyncProgress();
  yieldForBlockingPath();
  const want = levelValue(level);
  const rc = await exclusive(() => mpiLib().pluvio_mpi_init(want));
  if (rc < 0) throw blockingError(rc, "MPI init");
  const provided = LEVELS.find((l) => levelValue(l) === rc);
  if (provided === undefined || LEVELS.indexOf(provided) < 2) {
    throw new InvalidArgumentError(
      `MPI provides thread level ${provided ?? rc}, pluvio needs at least 'serialized'`,
    );
  }
  return provided;
}

/** Options of {@link finalize}. */
export interface FinalizeOptions {
  /**
   * End the whole job with `MPI_Abort(MPI_COMM_WORLD, code)` instead of finalising: the
   * way out after a collective that timed out or was abandoned (MPI cannot cancel one,
   * so `MPI_Finalize` would refuse or wait forever). Every process of the job exits with
   * a non-zero status (`mpirun` reports `code`); the promise never resolves.
   */
  abort?: boolean;
  /** The error code `MPI_Abort` passes on (default 1). */
  code?: number;
}

/**
 * Finalises MPI (`MPI_Finalize`, which waits for the other ranks). Refuses while
 * requests are still in flight on an open `MpiReactor`; `{ abort: true }` ends the job
 * instead (see {@link FinalizeOptions.abort}).
 */
export async function finalize(options: FinalizeOptions = {}): Promise<void> {
  if (options.abort) {
    const code = options.code ?? 1;
    if (!Number.isInteger(code) || code < 0 || code > 255) {
      throw new InvalidArgumentError(`finalize: abort code must be in 0..255, got ${code}`);
    }
    // Not through `exclusive`: a blocking MPI call (a split) may be what hangs.
    const rc = await mpiLib().pluvio_mpi_abort(code);
    if (rc < 0) throw blockingError(rc, "MPI abort");
    return;
  }
  const n = requestsEverywhere();
  if (n > 0) {
    throw new InvalidArgumentError(
      `MPI finalize: ${n} collective requests are still in flight; await them first`,
    );
  }
  const rc = await exclusive(() => mpiLib().pluvio_mpi_finalize());
  if (rc < 0) throw blockingError(rc, "MPI finalize");
}
