/**
 * What endpoints, messages, streams and listeners need from their worker (kept apart
 * from `worker.ts` so those modules import only types from it).
 *
 * @module
 */
import type { AmMessage, AmStream } from "./am.ts";
import type { Endpoint } from "./endpoint.ts";
import type { UcxSymbols } from "./native.ts";
import type { OpResult, OpTable, PendingOp } from "./ops.ts";
import type { UcxReactor } from "./reactor.ts";

/** The internal face of a worker. */
export interface WorkerCore {
  /** Native symbols. */
  readonly sym: UcxSymbols;
  /** Native worker handle (throws `ClosedError` once the worker is closed). */
  readonly ptr: Deno.PointerObject;
  /** The reactor that polls the worker. */
  readonly reactor: UcxReactor;
  /** In-flight operations. */
  readonly ops: OpTable;
  /** Result area of submissions that finished at once: [len lo, len hi, tag lo, tag hi]. */
  readonly imm: Uint32Array;
  /**
   * Waits for in-flight op `id` (native returned 0), keeping `refs` alive until it ends.
   * `what` describes it for errors (a function when building the text costs). With
   * `spinNs`, busy-waits on the worker that long first (no executor turn if it ends).
   */
  pending(
    id: number,
    what: string | (() => string),
    refs: unknown,
    signal?: AbortSignal,
    spinNs?: number,
  ): Promise<OpResult>;
  /**
   * Progresses the worker synchronously until any event arrives or `ns` nanoseconds
   * pass (with `resume`: until the deadline of the previous spin without it),
   * dispatching what arrived; returns the events (0: the time is up). Throws
   * `ClosedError` once the worker is closed.
   */
  spin(ns: number, resume: boolean): number;
  /**
   * `AmStream.tryRecvInto`'s spin: progresses until the next eager message of `stream`
   * has landed in `data` and `header` (returned), the stream has queued messages or is
   * closed, or `ns` pass (null).
   */
  spinInto(stream: AmStream, ns: number, data: Uint8Array, header: Uint8Array): AmMessage | null;
  /**
   * Makes an abort of `signal` end op `id` (`op.abort`, else reject and cancel it): one
   * listener per signal, shared by the operations that use it.
   */
  listen(id: number, op: PendingOp, signal: AbortSignal): void;
  /** Forgets a closed endpoint id. */
  dropEndpoint(id: number): void;
  /** Forgets a closed listener id. */
  dropListener(id: number): void;
  /** Forgets a closed AM stream id. */
  dropStream(id: number): void;
  /** Forgets a closed AM receiver id. */
  dropReceiver(id: number): void;
  /** The endpoint a message's sender can be replied to on (native endpoint id). */
  replyEndpoint(id: number): Endpoint;
}

/** Tag of a finished op, from its two 32-bit halves. */
export function tagOf(lo: number, hi: number): bigint {
  if (hi === 0 && lo === 0) return 0n;
  return (BigInt(hi >>> 0) << 32n) | BigInt(lo >>> 0);
}
