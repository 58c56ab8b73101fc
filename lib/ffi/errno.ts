/**
 * Translation of native return codes (negative errno or pluvio codes) into typed errors.
 *
 * @module
 */
import {
  CancelledError,
  ClosedError,
  InvalidArgumentError,
  OsError,
  PluvioError,
  TimeoutError,
} from "../errors.ts";

/** A native panic was caught at the FFI boundary (a pluvio bug). */
export const E_PANIC = -10_001;
/** A UCX call failed. */
export const E_UCX = -10_002;
/** An MPI call failed. */
export const E_MPI = -10_003;

const NAMES: Record<number, string> = {
  1: "EPERM",
  2: "ENOENT",
  3: "ESRCH",
  4: "EINTR",
  5: "EIO",
  9: "EBADF",
  11: "EAGAIN",
  12: "ENOMEM",
  13: "EACCES",
  14: "EFAULT",
  16: "EBUSY",
  17: "EEXIST",
  20: "ENOTDIR",
  21: "EISDIR",
  22: "EINVAL",
  24: "EMFILE",
  27: "EFBIG",
  28: "ENOSPC",
  30: "EROFS",
  32: "EPIPE",
  38: "ENOSYS",
  61: "ENODATA",
  75: "EOVERFLOW",
  90: "EMSGSIZE",
  95: "EOPNOTSUPP",
  103: "ECONNABORTED",
  104: "ECONNRESET",
  105: "ENOBUFS",
  107: "ENOTCONN",
  110: "ETIMEDOUT",
  111: "ECONNREFUSED",
  113: "EHOSTUNREACH",
  114: "EALREADY",
  125: "ECANCELED",
};

/** The symbolic name of a positive errno value (`"E123"` when unknown). */
export function errnoName(errno: number): string {
  return NAMES[errno] ?? `E${errno}`;
}

/**
 * Builds the typed error for a negative native result `code`, with `what` describing
 * the operation and `detail` the native last-error message, if any.
 */
export function errorFromCode(code: number, what: string, detail = ""): PluvioError {
  const suffix = detail ? `: ${detail}` : "";
  if (code === E_PANIC) return new PluvioError("EPANIC", `${what}: native panic${suffix}`);
  if (code === E_UCX) return new PluvioError("EUCX", `${what} failed${suffix}`);
  if (code === E_MPI) return new PluvioError("EMPI", `${what} failed${suffix}`);
  const errno = -code;
  const name = errnoName(errno);
  const message = `${what} failed with ${name} (errno ${errno})${suffix}`;
  switch (errno) {
    case 9:
      return new ClosedError(message);
    case 22:
      return new InvalidArgumentError(message);
    case 110:
      return new TimeoutError(message);
    case 125:
      return new CancelledError(message);
    default:
      return new OsError(name, message, { errno });
  }
}
