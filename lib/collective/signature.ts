/**
 * What a rank calls at one position of a communicator's call sequence: the collective,
 * its algorithm, element type, op, root and element count. Ranks compare signatures to
 * catch a mismatch (the UCX backend by a hash in every message tag, the MPI backend's
 * check mode by one small allgather) and to name both sides in the error.
 *
 * @module
 */
import { DTYPES } from "./dtype.ts";
import { REDUCE_OPS } from "./ops.ts";

/** Collective kinds, by code. */
export const KINDS = [
  "barrier",
  "allreduce",
  "reduce",
  "broadcast",
  "scatter",
  "gather",
  "allgather",
  "reduceScatter",
  "alltoall",
] as const;

/** A collective kind. */
export type Kind = typeof KINDS[number];

/** Algorithm names, by code ("" is the backend's only, or the MPI library's, choice). */
const ALGS = [
  "",
  "ring",
  "pipelined",
  "recursive-doubling",
  "bruck",
  "binomial",
  "scatter-allgather",
  "reduce-scatter-gather",
  "hierarchical",
  "dissemination",
];

const OP_NAMES = ["Sum", "Prod", "Min", "Max", "BitAnd", "BitOr", "BitXor"];

/** Bytes of an encoded signature. */
export const SIGNATURE_BYTES = 24;

/** One rank's call, as compared between ranks. */
export class Signature {
  /** Index in {@link KINDS}. */
  readonly kind: number;
  /** Algorithm code (0: none named). */
  readonly alg: number;
  /** Element type index (`DType.index`), -1 for none (barrier). */
  readonly dtype: number;
  /** Reduction op index (`ReduceOp.index`), -1 for none. */
  readonly op: number;
  /** Root rank, -1 for none. */
  readonly root: number;
  /** Elements of the buffer every rank passes (e.g. scatter's `recv`). */
  readonly count: number;
  #h13 = -1;

  /**
   * Creates a signature (`alg` a name of this backend, "" for none; `kind` and `alg` may
   * also be given as their codes).
   */
  constructor(
    kind: Kind | number,
    alg: string | number,
    dtype: number,
    op: number,
    root: number,
    count: number,
  ) {
    this.kind = typeof kind === "number" ? kind : KINDS.indexOf(kind);
    this.alg = typeof alg === "number" ? alg : Math.max(0, ALGS.indexOf(alg));
    this.dtype = dtype;
    this.op = op;
    this.root = root;
    this.count = count;
  }

  /** The 13-bit hash the UCX backend puts in its tags (computed once). */
  get hash13(): number {
    return this.#h13 >= 0 ? this.#h13 : (this.#h13 = this.hash(13));
  }

  /** Whether this signature has exactly these fields (to reuse it for the next call). */
  is(kind: number, alg: string, dtype: number, op: number, root: number, count: number): boolean {
    return this.kind === kind && this.dtype === dtype && this.op === op && this.root === root &&
      this.count === count && ALGS[this.alg] === alg;
  }

  /** A hash of `bits` bits (< 32) over every field. */
  hash(bits: number): number {
    let h = 0x811c9dc5;
    h = Math.imul(h ^ (this.kind * 16 + this.alg), 0x01000193);
    h = Math.imul(h ^ (this.dtype + 1), 0x01000193);
    h = Math.imul(h ^ (this.op + 1), 0x01000193);
    h = Math.imul(h ^ (this.root + 1), 0x01000193);
    h = Math.imul(h ^ (this.count % 0x1_0000_0000), 0x01000193);
    h = Math.imul(h ^ Math.floor(this.count / 0x1_0000_0000), 0x01000193);
    return ((h ^ (h >>> 16)) >>> 0) & ((1 << bits) - 1);
  }

  /** Whether `o` describes the same call. */
  equals(o: Signature): boolean {
    return this.kind === o.kind && this.alg === o.alg && this.dtype === o.dtype &&
      this.op === o.op && this.root === o.root && this.count === o.count;
  }

  /** E.g. `allreduce[ring](Float32 × 200, Sum)`. */
  describe(): string {
    const k = KINDS[this.kind] ?? `collective #${this.kind}`;
    const a = ALGS[this.alg] ? `[${ALGS[this.alg]}]` : "";
    const args: string[] = [];
    if (this.dtype >= 0) {
      const t = DTYPES[this.dtype]?.ctor.name.replace(/Array$/, "") ?? `type #${this.dtype}`;
      args.push(`${t} × ${this.count}`);
    }
    if (this.op >= 0) args.push(OP_NAMES[this.op] ?? `op #${this.op}`);
    if (this.root >= 0) args.push(`root ${this.root}`);
    return `${k}${a}(${args.join(", ")})`;
  }

  /** Writes the signature at `off` of `v` ({@link SIGNATURE_BYTES} bytes). */
  encode(v: DataView, off: number): void {
    v.setUint8(off, this.kind);
    v.setUint8(off + 1, this.alg);
    v.setInt8(off + 2, this.dtype);
    v.setInt8(off + 3, this.op);
    v.setInt32(off + 4, this.root, true);
    v.setFloat64(off + 8, this.count, true);
    v.setUint32(off + 16, 0, true); // reserved
    v.setUint32(off + 20, 0x5349_4721, true); // "!GIS": marks a signature
  }

  /** Reads a signature written by {@link Signature.encode}; null if there is none. */
  static decode(v: DataView, off: number): Signature | null {
    if (v.getUint32(off + 20, true) !== 0x5349_4721) return null;
    return new Signature(
      v.getUint8(off),
      v.getUint8(off + 1),
      v.getInt8(off + 2),
      v.getInt8(off + 3),
      v.getInt32(off + 4, true),
      v.getFloat64(off + 8, true),
    );
  }
}

/** The phrase naming both sides of a mismatch, the same on every rank. */
export function mismatchText(a: number, sa: Signature, b: number, sb: Signature): string {
  const [hi, shi, lo, slo] = a > b ? [a, sa, b, sb] : [b, sb, a, sa];
  return `rank ${hi} called ${shi.describe()} where rank ${lo} called ${slo.describe()}`;
}

/** Keeps {@link REDUCE_OPS} and the op names above in step (checked once at load). */
if (REDUCE_OPS.length !== OP_NAMES.length) throw new Error("signature.ts: op names out of date");
