/**
 * Host identity and process liveness through pidfds (`native/src/proc.rs`): two
 * processes with the same {@link hostId} share a kernel boot and a PID namespace, so one
 * may watch the other's pid with a {@link Pidfd}.
 *
 * @module
 */
import { ClosedError, InvalidArgumentError } from "../errors.ts";
import { check, coreLib } from "./library.ts";

/**
 * This host's identity (the kernel boot id plus the PID namespace's inode), or null when
 * `/proc` does not tell.
 */
export function hostId(): Uint8Array | null {
  const lib = coreLib();
  const n = Number(lib.pluvio_host_id(null, 0n));
  if (n < 0) return null;
  const buf = new Uint8Array(n);
  const m = Number(lib.pluvio_host_id(buf, BigInt(n)));
  return m === n ? buf : null;
}

/** Whether two host identities name the same host (an empty one matches nothing). */
export function sameHost(a: Uint8Array, b: Uint8Array): boolean {
  if (a.length === 0 || a.length !== b.length) return false;
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return false;
  return true;
}

/** A pidfd: a handle on one process (never a recycled pid) that tells when it exited. */
export class Pidfd implements Disposable {
  /** The process watched. */
  readonly pid: number;
  #fd: number;

  private constructor(pid: number, fd: number) {
    this.pid = pid;
    this.#fd = fd;
  }

  /**
   * Opens a pidfd for `pid`. Throws the typed error of the failure: `OsError` with code
   * `"ESRCH"` (no such process), `"EPERM"`, `"ENOSYS"` (kernel before 5.3), or
   * `InvalidArgumentError` for `pid <= 0`.
   */
  static open(pid: number): Pidfd {
    if (!Number.isInteger(pid) || pid > 0x7fff_ffff) {
      throw new InvalidArgumentError(`pidfd_open: ${pid} is not a process id`);
    }
    const fd = check(coreLib().pluvio_pidfd_open(pid), `pidfd_open(${pid})`);
    return new Pidfd(pid, fd);
  }

  /** The file descriptor (-1 once closed). */
  get fd(): number {
    return this.#fd;
  }

  /**
   * Whether the process has exited (an unreaped zombie counts), without blocking.
   * Throws `ClosedError` once closed.
   */
  exited(): boolean {
    if (this.#fd < 0) throw new ClosedError(`the pidfd of ${this.pid} is closed`);
    return check(coreLib().pluvio_pidfd_exited(this.#fd), `polling the pidfd of ${this.pid}`) === 1;
  }

  /** Closes the fd (idempotent). */
  close(): void {
    const fd = this.#fd;
    if (fd < 0) return;
    this.#fd = -1;
    check(coreLib().pluvio_fd_close(fd), `closing the pidfd of ${this.pid}`);
  }

  /** Same as {@link Pidfd.close}. */
  [Symbol.dispose](): void {
    this.close();
  }
}
