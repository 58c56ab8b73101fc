/**
 * Errors specific to collectives.
 *
 * @module
 */
import { InvalidArgumentError, type PluvioErrorOptions } from "../errors.ts";

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
