/**
 * Checking the options objects of the public methods before anything is submitted: a
 * number or string where an options object goes (`readFixed(buf, off, 4096)`) or a
 * misspelt key would otherwise be ignored silently and transfer the wrong bytes.
 *
 * @module
 */
import { InvalidArgumentError } from "../errors.ts";
import { show } from "./memory.ts";

/**
 * Throws `InvalidArgumentError` unless `options` is `undefined` or a plain object whose
 * keys are all in `allowed` (and whose `signal`, if any, is an `AbortSignal`).
 */
export function checkOptions(what: string, options: unknown, allowed: readonly string[]): void {
  if (options === undefined) return;
  if (typeof options !== "object" || options === null || Array.isArray(options)) {
    throw new InvalidArgumentError(
      `${what}: options must be an object such as { ${allowed.join(", ")} }, got ${show(options)}`,
    );
  }
  for (const k in options) {
    if (!allowed.includes(k)) {
      throw new InvalidArgumentError(
        `${what}: unknown option "${k}" (known: ${allowed.join(", ")})`,
      );
    }
  }
  const signal = (options as { signal?: unknown }).signal;
  if (signal !== undefined && !(signal instanceof AbortSignal)) {
    throw new InvalidArgumentError(`${what}: signal must be an AbortSignal, got ${show(signal)}`);
  }
}
