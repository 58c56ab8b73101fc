/**
 * The MPI backend's native symbols, its error translation, and the rule that keeps MPI
 * calls serialised: calls that may wait (init, finalize, split) run on a helper thread,
 * and while one runs the main thread makes no MPI call at all ({@link mpiBusy}).
 *
 * @module
 */
import { PluvioError } from "../../errors.ts";
import { E_MPI, errorFromCode } from "../../ffi/errno.ts";
import { lastError, openBackend } from "../../ffi/library.ts";
import { MPI_SYMBOLS } from "../../ffi/symbols/mpi.ts";

/** The bound MPI symbols (throws `BackendUnavailableError` in a build without MPI). */
export type MpiLib = Deno.DynamicLibrary<typeof MPI_SYMBOLS>["symbols"];

let lib: MpiLib | undefined;

/** The MPI symbols, bound on first use. */
export function mpiLib(): MpiLib {
  return lib ??= openBackend("mpi", MPI_SYMBOLS);
}

/** An MPI call or request failed; the message carries MPI's error string. */
export class MpiError extends PluvioError {
  /** The MPI error code (`MPI_ERR_*` value or an implementation code), when known. */
  readonly mpiCode?: number;
  /** The MPI error class of `mpiCode` (e.g. `MPI_ERR_ROOT`), when known. */
  readonly mpiClass?: number;
  /** Creates the error. */
  constructor(message: string, mpiCode?: number, mpiClass?: number, options?: { cause?: unknown }) {
    super("EMPI", message, options);
    if (mpiCode !== undefined) this.mpiCode = mpiCode;
    if (mpiClass !== undefined) this.mpiClass = mpiClass;
  }
}

const buf = new Uint8Array(1024);
const decoder = new TextDecoder();

function classOf(code: number): number | undefined {
  const c = mpiLib().pluvio_mpi_error_class(code);
  return c >= 0 ? c : undefined;
}

/** The error for an MPI request that completed with `code` (from `MPI_Testsome`). */
export function requestError(what: string, code: number): MpiError {
  const n = Number(mpiLib().pluvio_mpi_error_string(code, buf, BigInt(buf.length)));
  const text = n > 0 ? decoder.decode(buf.subarray(0, Math.min(n, buf.length))) : "";
  return new MpiError(
    `${what} failed (MPI error ${code}): ${text.trim() || "MPI gave no error string"}`,
    code,
    classOf(code),
  );
}

function fromNative(rc: number, what: string, detail: string): PluvioError {
  if (detail.trim() === "") detail = `${what} failed (code ${rc}; no message from MPI)`;
  if (rc !== E_MPI) return errorFromCode(rc, what, detail);
  const m = /\(MPI error (-?\d+)\)/.exec(detail);
  const code = m ? Number(m[1]) : undefined;
  return new MpiError(detail, code, code === undefined ? undefined : classOf(code));
}

/** The typed error for a negative result of a synchronous MPI export. */
export function syncError(rc: number, what: string): PluvioError {
  return fromNative(rc, what, lastError());
}

/** The typed error after a synchronous MPI export returned a null pointer. */
export function syncPtrError(what: string): PluvioError {
  const msg = lastError();
  const m = /^\[(-?\d+)\] (.*)$/s.exec(msg);
  return fromNative(m ? Number(m[1]) : -5, what, m ? m[2] : msg);
}

/** The typed error for a negative result of a `nonblocking` MPI export. */
export function blockingError(rc: number, what: string): PluvioError {
  const n = Number(mpiLib().pluvio_mpi_blocking_error(buf, BigInt(buf.length)));
  return fromNative(rc, what, decoder.decode(buf.subarray(0, Math.min(n, buf.length))));
}

let busy = false;
let chain: Promise<unknown> = Promise.resolve();

/** Whether a blocking MPI call runs on a helper thread now (no MPI call may be made). */
export function mpiBusy(): boolean {
  return busy;
}

/**
 * Runs `call` (which makes one `nonblocking` MPI call) once no other such call runs,
 * with {@link mpiBusy} true meanwhile so reactors neither poll nor post.
 */
export function exclusive<T>(call: () => Promise<T>): Promise<T> {
  const run = async (): Promise<T> => {
    busy = true;
    try {
      return await call();
    } finally {
      busy = false;
      for (const f of afterBusy) f();
    }
  };
  const p = chain.then(run, run);
  chain = p.catch(() => {});
  return p;
}

const afterBusy = new Set<() => void>();

/** Registers `f` to run whenever an exclusive call ends (reactors post what waited). */
export function onBusyEnd(f: () => void): () => void {
  afterBusy.add(f);
  return () => afterBusy.delete(f);
}
