/**
 * One io_uring operation as the TypeScript side tracks it, from submission to completion.
 *
 * @module
 */
import { Op } from "./layout.ts";

/** Where an operation is. */
export const State = {
  /** Waiting for room in the queue (backpressure). */
  Waiting: 0,
  /** Written into the submission area, not yet handed to the kernel. */
  Batched: 1,
  /** Handed to the kernel. */
  InFlight: 2,
  /** Settled. */
  Done: 3,
} as const;
/** A value of {@link State}. */
export type State = typeof State[keyof typeof State];

/** What a file tracks about its own operations (for `close()` to wait for them). */
export interface OpOwner {
  inflight: number;
  /** Called when `inflight` drops to 0. */
  idle?: () => void;
}

const OP_NAMES: Record<number, string> = {
  [Op.NOP]: "nop",
  [Op.READ]: "read",
  [Op.WRITE]: "write",
  [Op.READ_FIXED]: "readFixed",
  [Op.WRITE_FIXED]: "writeFixed",
  [Op.FSYNC]: "fsync",
  [Op.FALLOCATE]: "fallocate",
  [Op.STATX]: "statx",
  [Op.OPENAT]: "open",
  [Op.CLOSE]: "close",
  [Op.CANCEL]: "cancel",
};

/** An operation: the record fields, the memory it keeps alive, and its promise. */
export class Operation {
  op: number;
  /** Record flag bits (`Flag`). */
  flags = 0;
  fd = 0;
  /** The fd's registered-file slot + 1 (0: the plain fd). */
  file = 0;
  off = 0;
  addr = 0;
  len = 0;
  aux = 0;
  len64 = 0;
  addr2 = 0;
  /** Memory the kernel uses: referenced until the completion arrives. */
  keep: unknown = undefined;
  /** A second piece of memory (statx: path and result buffer; bounced I/O: the bounce). */
  keep2: unknown = undefined;
  /** A read's bounce buffer: copied into `keep` (the caller's view) at completion. */
  bounce: Uint8Array<ArrayBuffer> | undefined = undefined;
  /** The fixed-buffer lease this operation uses, if any. */
  fixed: { busy: number } | undefined = undefined;
  owner: OpOwner | undefined = undefined;
  /** For error messages: the file's path. */
  path = "";
  state: State = State.Waiting;
  slot = -1;
  areaIndex = -1;
  cancelled = false;
  signal: AbortSignal | undefined = undefined;
  onAbort: (() => void) | undefined = undefined;
  resolve: (res: number) => void = noop;
  reject: (e: unknown) => void = noop;

  /** Whether the ring may reuse this object once it is settled (nobody else holds it). */
  pooled = false;

  constructor(op: number) {
    this.op = op;
  }

  /** Makes a settled, pooled operation a fresh `op` (every field as a new one's). */
  reuse(op: number): this {
    this.op = op;
    this.flags =
      this.fd =
      this.file =
      this.off =
      this.addr =
      this.len =
      this.aux =
        0;
    this.len64 = this.addr2 = 0;
    this.keep =
      this.keep2 =
      this.bounce =
      this.fixed =
      this.owner =
        undefined;
    this.path = "";
    this.state = State.Waiting;
    this.slot = this.areaIndex = -1;
    this.cancelled = false;
    this.signal = this.onAbort = undefined;
    this.resolve = this.reject = noop;
    return this;
  }

  /** Names the operation for error messages, e.g. `read of /tmp/f at offset 4096 (512 bytes)`. */
  describe(): string {
    const name = OP_NAMES[this.op] ?? `op ${this.op}`;
    const on = this.path ? ` of ${this.path}` : "";
    switch (this.op) {
      case Op.READ:
      case Op.WRITE:
      case Op.READ_FIXED:
      case Op.WRITE_FIXED:
        return `${name}${on} at offset ${this.off} (${this.len} bytes)`;
      case Op.FALLOCATE:
        return `${name}${on} at offset ${this.off} (${this.len64} bytes, mode ${this.aux})`;
      default:
        return name + on;
    }
  }
}

function noop(): void {}
