/**
 * Errors specific to collectives.
 *
 * @module
 */
import { InvalidArgumentError, PeerError, type PluvioErrorOptions } from "../errors.ts";

/**
 * Buffers of a collective do not have the shapes it needs (checked locally, before
 * anything is posted). `expected` and `actual` say what was needed and what was given.
 */
export class ShapeError extends InvalidArgumentError {
  /** What the collective needed, e.g. `"recv.length === 8 (send.length 2 × size 4)"`. */
  readonly expected: string;
  /** What was given, e.g. `"recv.length === 6"`. */
  readonly actual: string;
  /** Creates the error for operation `what`. */
  constructor(what: string, expected: string, actual: string, options: PluvioErrorOptions = {}) {
    super(`${what}: expected ${expected}, got ${actual}`, options);
    this.expected = expected;
    this.actual = actual;
  }
}

/**
 * The ranks called different collectives (kind, algorithm, element type, op, root or
 * length differ) at the same position of a communicator's call sequence. Every rank of
 * the call fails with one; the communicator stays usable for the calls after it.
 */
export class MismatchError extends PeerError {
  /** The rank whose call differs from this rank's. */
  readonly peer: number;
  /** This rank's call, e.g. `"allreduce(Float32 × 200, Sum)"`. */
  readonly local: string;
  /** The other rank's call, when it is known. */
  readonly remote: string | null;
  /** Creates the error: `message` names both sides. */
  constructor(
    message: string,
    peer: number,
    local: string,
    remote: string | null,
    options: PluvioErrorOptions = {},
  ) {
    super(message, options);
    this.peer = peer;
    this.local = local;
    this.remote = remote;
  }
}

/**
 * Another rank rejected this call locally (bad arguments there, e.g. a missing root
 * buffer) and told the group, so this rank fails it too instead of waiting.
 */
export class PeerRejectedError extends PeerError {
  /** The rank that rejected the call. */
  readonly peer: number;
  /** Its reason (the message of the error it threw). */
  readonly reason: string;
  /** Creates the error for call `what` rejected by rank `peer`. */
  constructor(what: string, peer: number, reason: string, options: PluvioErrorOptions = {}) {
    super(`${what}: rank ${peer} rejected the call: ${reason}`, options);
    this.peer = peer;
    this.reason = reason;
  }
}
