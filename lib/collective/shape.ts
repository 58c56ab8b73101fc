/**
 * Local checks of collective arguments, shared by every backend: element types, lengths,
 * roots, MPI's `int` count limit and buffer overlap. Each throws before anything is posted.
 *
 * @module
 */
import { InvalidArgumentError } from "../errors.ts";
import { type DType, dtypeOf, type NumericArray } from "./dtype.ts";
import { ShapeError } from "./errors.ts";

/** The largest element count one MPI call takes (`int` counts). */
export const MAX_COUNT = 2147483647;

/** Checks that `n` elements fit in one call (`n <= 2^31 - 1`). */
export function checkCount(what: string, n: number, name = "count"): void {
  if (n > MAX_COUNT) {
    throw new InvalidArgumentError(
      `${what}: ${name} ${n} exceeds the limit of ${MAX_COUNT} elements per call ` +
        `(MPI counts are C ints); split the buffer into smaller collectives`,
    );
  }
}

/** The element type of `buf` (a supported TypedArray), naming it `name` in errors. */
export function bufferType(what: string, buf: unknown, name: string): DType {
  return dtypeOf(buf, `${what}: ${name}`);
}

/** Checks `recv` has the same element type as `send`. */
export function checkSameType(what: string, send: NumericArray, recv: NumericArray): void {
  if (send.constructor !== recv.constructor) {
    throw new ShapeError(
      what,
      `recv to be a ${send.constructor.name} like send`,
      `a ${recv.constructor.name}`,
    );
  }
}

/** Checks `buf.length === expected`, explaining where `expected` comes from. */
export function checkLength(
  what: string,
  name: string,
  buf: NumericArray,
  expected: number,
  because: string,
): void {
  if (buf.length !== expected) {
    throw new ShapeError(
      what,
      `${name}.length === ${expected} (${because})`,
      `${name}.length === ${buf.length}`,
    );
  }
}

/** Checks `root` is a rank of a group of `size`. */
export function checkRoot(what: string, root: number, size: number): void {
  if (!Number.isInteger(root) || root < 0 || root >= size) {
    throw new InvalidArgumentError(
      `${what}: root ${root} is not a rank of this communicator (ranks 0..${size - 1})`,
    );
  }
}

/** Checks that `a` and `b` do not share memory (MPI forbids aliased send and recv). */
export function checkDisjoint(what: string, a: NumericArray, b: NumericArray): void {
  if (a.buffer !== b.buffer || a.byteLength === 0 || b.byteLength === 0) return;
  const a0 = a.byteOffset, a1 = a0 + a.byteLength;
  const b0 = b.byteOffset, b1 = b0 + b.byteLength;
  if (a0 < b1 && b0 < a1) {
    throw new InvalidArgumentError(
      `${what}: send and recv overlap in memory (bytes ${Math.max(a0, b0)}..${
        Math.min(a1, b1)
      } of one buffer); use distinct buffers`,
    );
  }
}

/**
 * Checks the buffer only the root uses in a rooted block collective (scatter's `send`,
 * gather's `recv`): present at the root, of `local`'s element type, `local.length × size`
 * elements, and not sharing memory with `local`. Does nothing on other ranks.
 */
export function checkRootBlocks(
  what: string,
  atRoot: boolean,
  local: NumericArray,
  localName: string,
  rootBuf: NumericArray | null | undefined,
  rootName: string,
  size: number,
): void {
  if (!atRoot) return;
  if (rootBuf === null || rootBuf === undefined) {
    throw new InvalidArgumentError(`${what}: ${rootName} is required at the root`);
  }
  bufferType(what, rootBuf, rootName);
  checkSameType(what, local, rootBuf);
  checkLength(
    what,
    rootName,
    rootBuf,
    local.length * size,
    `${localName}.length ${local.length} × size ${size}`,
  );
  checkDisjoint(what, local, rootBuf);
}
