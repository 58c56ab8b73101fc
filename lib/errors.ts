/**
 * Error classes shared by every pluvio backend.
 *
 * Every error pluvio throws is a {@link PluvioError}: it carries a stable `code`
 * string, the `errno` when the failure came from the kernel or a native library,
 * and a `cause` where there is one.
 *
 * @module
 */

/** Options accepted by every pluvio error constructor. */
export interface PluvioErrorOptions {
  /** Positive errno value when the failure came from the operating system. */
  errno?: number;
  /** The underlying error, if any. */
  cause?: unknown;
}

/** Base class of every error pluvio throws. */
export class PluvioError extends Error {
  /** A stable, machine-readable error code such as `"ETIMEDOUT"` or `"EBADF"`. */
  readonly code: string;
  /** Positive errno value, when the failure came from the OS or native code. */
  readonly errno?: number;

  /** Creates an error with a code, a message and optional errno / cause. */
  constructor(code: string, message: string, options: PluvioErrorOptions = {}) {
    super(message, options.cause === undefined ? undefined : { cause: options.cause });
    this.name = new.target.name;
    this.code = code;
    if (options.errno !== undefined) this.errno = options.errno;
  }
}

/** An operation did not finish before its deadline. */
export class TimeoutError extends PluvioError {
  /** Creates a timeout error for an operation that took longer than `ms`. */
  constructor(message: string, options: PluvioErrorOptions = {}) {
    super("ETIMEDOUT", message, { errno: 110, ...options });
  }
}

/** An operation or task was cancelled (through an `AbortSignal` or `cancel()`). */
export class CancelledError extends PluvioError {
  /** Creates a cancellation error. */
  constructor(message = "operation cancelled", options: PluvioErrorOptions = {}) {
    super("ECANCELED", message, { errno: 125, ...options });
  }
}

/** A backend (io_uring, UCX, MPI) is not compiled into the native library. */
export class BackendUnavailableError extends PluvioError {
  /** The missing backend's Cargo feature name (`uring`, `ucx` or `mpi`). */
  readonly feature: string;
  /** Creates the error for `feature`, explaining how to get it. */
  constructor(feature: string, message: string, options: PluvioErrorOptions = {}) {
    super("EBACKEND", message, options);
    this.feature = feature;
  }
}

/** The native library could not be found or loaded, or has the wrong ABI version. */
export class NativeLibraryError extends PluvioError {
  /** Creates a library-loading error. */
  constructor(message: string, options: PluvioErrorOptions = {}) {
    super("ENATIVELIB", message, options);
  }
}

/** A call failed in the operating system or native code; `errno` says why. */
export class OsError extends PluvioError {
  /** Creates an OS error with its code name (e.g. `"ENOENT"`) and errno. */
  constructor(code: string, message: string, options: PluvioErrorOptions = {}) {
    super(code, message, options);
  }
}

/** A handle (runtime, file, endpoint, …) was used after it was closed. */
export class ClosedError extends PluvioError {
  /** Creates the error for a closed resource. */
  constructor(message: string, options: PluvioErrorOptions = {}) {
    super("EBADF", message, { errno: 9, ...options });
  }
}

/** An argument is invalid (wrong size, alignment, range, state). */
export class InvalidArgumentError extends PluvioError {
  /** Creates an invalid-argument error. */
  constructor(message: string, options: PluvioErrorOptions = {}) {
    super("EINVAL", message, { errno: 22, ...options });
  }
}

/** The runtime's live-task bound (`queueSize`) is reached. */
export class QueueFullError extends PluvioError {
  /** Creates the error, naming the bound. */
  constructor(message: string, options: PluvioErrorOptions = {}) {
    super("EAGAIN", message, { errno: 11, ...options });
  }
}

/** No runtime is running on this thread, or one is already running. */
export class RuntimeStateError extends PluvioError {
  /** Creates a runtime-state error. */
  constructor(message: string, options: PluvioErrorOptions = {}) {
    super("ERUNTIME", message, options);
  }
}

/** A communication peer died, is unreachable, or broke the protocol. */
export class PeerError extends PluvioError {
  /** Creates a peer error. */
  constructor(message: string, options: PluvioErrorOptions = {}) {
    super("EPEER", message, options);
  }
}
