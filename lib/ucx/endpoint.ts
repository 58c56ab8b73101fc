/**
 * {@link Endpoint}: a connection to a remote worker.
 *
 * @module
 */
import { ClosedError, InvalidArgumentError, type PluvioError } from "../errors.ts";
import type { WorkerCore } from "./core.ts";
import { abortError } from "./mailbox.ts";
import { asBytes, ucxError, type UcxSymbols } from "./native.ts";
import { lastError } from "../ffi/library.ts";

/** Options of {@link Endpoint.amSend}. */
export interface AmSendOptions {
  /**
   * When UCX cannot finish the send at once (a rendezvous payload waits for the
   * receiver to pull it), busy-wait on the worker up to this many microseconds before
   * waiting through the event loop (see {@link SpinOptions.spinUs}).
   */
  spinUs?: number;
  /** Let the receiver reply through `message.reply()` (UCX passes it a reply endpoint). */
  needReply?: boolean;
  /** Force a protocol: `"eager"` (copied through bounce buffers) or `"rndv"` (zero-copy pull). */
  proto?: "eager" | "rndv";
  /** Aborts the wait; the buffers stay referenced until UCX is done with them. */
  signal?: AbortSignal;
}

/** Options of {@link Endpoint.amSendMany}. */
export interface AmSendManyOptions {
  /** The header every message carries (copied once, at the call). */
  header?: ArrayBufferView | ArrayBuffer;
  /**
   * The most sends in flight at once (default 32, `ucx_perftest`'s `ucp_am_bw` window;
   * 1..4096).
   */
  window?: number;
  /** Force a protocol, as {@link AmSendOptions.proto}. */
  proto?: "eager" | "rndv";
  /**
   * Stops the list: no further message is sent, the promise rejects with
   * `CancelledError`, and the payloads stay referenced until the sends in flight end.
   */
  signal?: AbortSignal;
}

/** Largest `window` of {@link Endpoint.amSendMany} (native `batch::MAX_WINDOW`). */
const MAX_WINDOW = 4096;

/** Options taking an `AbortSignal`. */
export interface SignalOptions {
  /** Aborts the operation (or the wait for it) with a `CancelledError`. */
  signal?: AbortSignal;
}

/** Options of the receives that can busy-wait first. */
export interface SpinOptions extends SignalOptions {
  /**
   * When nothing has arrived yet, progress the worker synchronously for up to this many
   * microseconds before waiting through the event loop (default 0; at most 1 000 000).
   * Busy-waiting is how one-way latencies of a fraction of a microsecond are reached: it
   * holds the JavaScript thread (no timers or other tasks run) for at most this long.
   */
  spinUs?: number;
}

/** `spinUs` in nanoseconds, checked (0 when not given). */
export function spinNs(o: SpinOptions | undefined): number {
  const us = o?.spinUs;
  if (us === undefined || us === 0) return 0;
  if (typeof us !== "number" || !(us >= 0 && us <= 1_000_000)) {
    throw new InvalidArgumentError(`spinUs must be a number of µs in 0..1000000, got ${us}`);
  }
  return Math.round(us * 1000);
}

/** Options of {@link Endpoint.close}. */
export interface CloseOptions extends SignalOptions {
  /** Close at once without flushing outstanding operations (they fail). */
  force?: boolean;
}

/** The largest length a native call takes (lengths travel as u32). */
export const MAX_U32 = 0xffff_ffff;
/** The largest tag. */
export const MAX_TAG = 0xffff_ffff_ffff_ffffn;

/**
 * The already-resolved promise that `amSend` and `tagSend` return when UCX finished the
 * send at once (most small eager sends): a sender can test `p === DONE` and skip the
 * event-loop turn an `await` would cost, keeping only sends still in flight in its window.
 */
export const DONE: Promise<void> = Promise.resolve();

/** The native send flag of a forced protocol (`SEND_EAGER` / `SEND_RNDV` in `am.rs`). */
function protoFlag(proto: string, what: () => string): number {
  if (proto === "eager") return 2;
  if (proto === "rndv") return 4;
  throw new InvalidArgumentError(`${what()}: proto must be "eager" or "rndv"`);
}

/** Waits for `p`, resolving to nothing. */
async function settle(p: Promise<unknown>): Promise<void> {
  await p;
}

/** Checks `b` fits the 32-bit lengths of the native calls. */
export function checkLength(b: Uint8Array, what: string): void {
  if (b.length > MAX_U32) {
    throw new InvalidArgumentError(
      `${what} is ${b.length} bytes; at most ${MAX_U32} are supported`,
    );
  }
}

/**
 * A connection to a remote worker: Active Message and tag sends, flush and close.
 * A peer that dies or cannot be reached fails the endpoint's pending and later
 * operations with a `PeerError` (see {@link Endpoint.error}).
 */
export class Endpoint implements Disposable, AsyncDisposable {
  #w: WorkerCore;
  /**
   * The worker's native handle and symbols, kept for the send paths (the worker marks its
   * endpoints closed before it frees the handle, and sends check `#closed` first).
   */
  #ptr: Deno.PointerObject;
  #sym: UcxSymbols;
  #id: number;
  #closed = false;
  #error: PluvioError | null = null;
  /** Where this endpoint leads ("host:port", "worker address", or "reply endpoint"). */
  readonly peer: string;
  /** Whether UCX created it for replies to a message (closing it only forgets it). */
  readonly isReplyEndpoint: boolean;

  /** @internal Endpoints come from `Worker.connectAddr`, `connectSocket` and `accept`. */
  constructor(w: WorkerCore, id: number, peer: string, isReply: boolean) {
    this.#w = w;
    this.#ptr = w.ptr;
    this.#sym = w.sym;
    this.#id = id;
    this.peer = peer;
    this.isReplyEndpoint = isReply;
  }

  /** The failure UCX reported for this endpoint's peer, or null while healthy. */
  get error(): PluvioError | null {
    return this.#error;
  }

  /** Whether {@link Endpoint.close} was called (or the worker closed). */
  get closed(): boolean {
    return this.#closed;
  }

  /** @internal Records the peer failure reported by UCX. */
  fail(e: PluvioError): void {
    this.#error ??= e;
  }

  /** @internal Marks the endpoint closed (the worker closed). */
  markClosed(): void {
    this.#closed = true;
  }

  #assertOpen(what: string): void {
    if (this.#closed) throw new ClosedError(`${what}: the UCX endpoint to ${this.peer} is closed`);
  }

  #fail(rc: number, what: string): never {
    throw ucxError(rc, what, lastError());
  }

  /**
   * Sends Active Message `id` with `header` and `data`. Resolves when both buffers may
   * be reused (not when the peer has processed the message). Do not modify them before.
   */
  amSend(
    id: number,
    header?: ArrayBufferView | ArrayBuffer,
    data?: ArrayBufferView | ArrayBuffer,
    options?: AmSendOptions,
  ): Promise<void> {
    // Not `async`: a send that UCX finishes at once (most small ones) returns a shared
    // resolved promise, and the description is only built when needed (a send in flight
    // carries a closure, not the string).
    try {
      if (this.#closed) this.#assertOpen(this.#amWhat(id));
      if (!(id >>> 0 === id && id <= 0xffff)) {
        throw new InvalidArgumentError(`${this.#amWhat(id)}: AM id must be an integer in 0..65535`);
      }
      const h = asBytes(header);
      const d = asBytes(data);
      if (h.length > MAX_U32) checkLength(h, `${this.#amWhat(id)}: header`);
      if (d.length > MAX_U32) checkLength(d, `${this.#amWhat(id)}: data`);
      let flags = 0;
      let signal: AbortSignal | undefined;
      let ns = 0;
      if (options !== undefined) {
        signal = options.signal;
        if (options.spinUs !== undefined) ns = spinNs(options);
        if (signal?.aborted) throw abortError(signal, this.#amWhat(id));
        if (options.needReply) flags |= 1;
        if (options.proto !== undefined) flags |= protoFlag(options.proto, () => this.#amWhat(id));
      }
      const w = this.#w;
      const op = w.ops.reserve();
      const rc = this.#sym.pluvio_ucx_am_send(
        this.#ptr,
        this.#id,
        id,
        h,
        h.length,
        d,
        d.length,
        flags,
        op,
      );
      return this.#sent(rc, op, () => this.#amWhat(id), [h, d], signal, ns);
    } catch (e) {
      return Promise.reject(e);
    }
  }

  /**
   * Sends one Active Message `id` per payload of `data`, in order, each with
   * `options.header`, keeping at most `options.window` in flight. Native code submits
   * the next send as soon as one completes, so a stream of large messages costs no
   * JavaScript turn per message; resolves once every send is done (the payloads may be
   * reused). The payloads must stay untouched until then; the same buffer may appear
   * many times. A send that fails stops the list and rejects with its error
   * (`PeerError` when the peer died), after the sends in flight ended.
   */
  amSendMany(
    id: number,
    data: readonly (ArrayBufferView | ArrayBuffer)[],
    options: AmSendManyOptions = {},
  ): Promise<void> {
    const what = () => `amSendMany(id ${id}, ${data.length} messages) to ${this.peer}`;
    try {
      if (this.#closed) this.#assertOpen(what());
      if (!(id >>> 0 === id && id <= 0xffff)) {
        throw new InvalidArgumentError(`${what()}: AM id must be an integer in 0..65535`);
      }
      const window = options.window ?? 32;
      if (!Number.isInteger(window) || window < 1 || window > MAX_WINDOW) {
        throw new InvalidArgumentError(
          `${what()}: window must be an integer in 1..${MAX_WINDOW}, got ${window}`,
        );
      }
      const h = asBytes(options.header);
      if (h.length > MAX_U32) checkLength(h, `${what()}: header`);
      const flags = options.proto === undefined ? 0 : protoFlag(options.proto, what);
      const signal = options.signal;
      if (signal?.aborted) throw abortError(signal, what());
      // (address, length) per payload; a buffer listed many times is resolved once.
      const table = new BigUint64Array(2 * data.length);
      const views: Uint8Array[] = new Array(data.length);
      const seen = new Map<unknown, bigint>();
      for (let i = 0; i < data.length; i++) {
        const item = data[i];
        const d = asBytes(item);
        if (d.length > MAX_U32) checkLength(d, `${what()}: payload ${i}`);
        let addr = seen.get(item);
        if (addr === undefined) {
          addr = BigInt(
            Deno.UnsafePointer.value(Deno.UnsafePointer.of(d as Uint8Array<ArrayBuffer>)),
          );
          seen.set(item, addr);
        }
        table[2 * i] = addr;
        table[2 * i + 1] = BigInt(d.length);
        views[i] = d;
      }
      const w = this.#w;
      const op = w.ops.reserve();
      const rc = this.#sym.pluvio_ucx_am_send_many(
        this.#ptr,
        this.#id,
        id,
        h,
        h.length,
        table,
        data.length,
        window,
        flags,
        op,
      );
      return this.#sent(rc, op, what, [h, table, views], signal, 0);
    } catch (e) {
      return Promise.reject(e);
    }
  }

  /**
   * What a send submission returns for native result `rc` of op `op`: `DONE` when it
   * finished at once, the wait for its completion when in flight; throws on failure.
   */
  #sent(
    rc: number,
    op: number,
    what: () => string,
    refs: unknown,
    signal: AbortSignal | undefined,
    ns: number,
  ): Promise<void> {
    const w = this.#w;
    if (rc === 1) {
      w.ops.release(op);
      return DONE;
    }
    if (rc < 0) {
      w.ops.release(op);
      this.#fail(rc, what());
    }
    return settle(w.pending(op, what, refs, signal, ns));
  }

  #amWhat(id: number): string {
    return `amSend(id ${id}) to ${this.peer}`;
  }

  /** Sends `data` with `tag` (a 64-bit tag); resolves when `data` may be reused. */
  tagSend(
    tag: bigint | number,
    data: ArrayBufferView | ArrayBuffer,
    options?: SignalOptions,
  ): Promise<void> {
    // Not `async`, and the description is built only on failure: small sends finish at
    // once, and per-message strings and promises were a large part of their cost.
    try {
      const what = () => `tagSend(tag ${tag}) to ${this.peer}`;
      if (this.#closed) this.#assertOpen(what());
      const t = typeof tag === "bigint" && tag >= 0n && tag <= MAX_TAG ? tag : toTag(tag, what());
      const d = asBytes(data);
      if (d.length > MAX_U32) checkLength(d, `${what()}: data`);
      const signal = options?.signal;
      if (signal?.aborted) throw abortError(signal, what());
      const w = this.#w;
      const op = w.ops.reserve();
      const rc = this.#sym.pluvio_ucx_tag_send(this.#ptr, this.#id, t, d, d.length, op);
      if (rc === 1) {
        w.ops.release(op);
        return DONE;
      }
      if (rc < 0) {
        w.ops.release(op);
        this.#fail(rc, what());
      }
      return settle(w.pending(op, what, d, signal));
    } catch (e) {
      return Promise.reject(e);
    }
  }

  /**
   * Waits until every operation issued on this endpoint has completed remotely; on a new
   * endpoint, until it is connected (fails with `PeerError` when the peer is unreachable).
   */
  async flush(options: SignalOptions = {}): Promise<void> {
    const what = `flushing the UCX endpoint to ${this.peer}`;
    this.#assertOpen(what);
    if (options.signal?.aborted) throw abortError(options.signal, what);
    const w = this.#w;
    const op = w.ops.reserve();
    const rc = w.sym.pluvio_ucx_ep_flush(w.ptr, this.#id, op);
    if (rc === 1) {
      w.ops.release(op);
      return;
    }
    if (rc < 0) {
      w.ops.release(op);
      this.#fail(rc, what);
    }
    await w.pending(op, what, null, options.signal);
  }

  /**
   * Closes the endpoint: flushes first (unless `force`, or the peer failed), then
   * disconnects. Later operations throw `ClosedError`. Closing twice is a no-op.
   */
  async close(options: CloseOptions = {}): Promise<void> {
    if (this.#closed) return;
    const what = `closing the UCX endpoint to ${this.peer}`;
    this.#closed = true;
    const w = this.#w;
    let ptr: Deno.PointerObject;
    try {
      ptr = w.ptr;
    } catch {
      return; // the worker is closed: so is the endpoint
    }
    w.dropEndpoint(this.#id);
    const op = w.ops.reserve();
    const rc = w.sym.pluvio_ucx_ep_close(ptr, this.#id, options.force ? 1 : 0, op);
    if (rc === 1) {
      w.ops.release(op);
      return;
    }
    if (rc < 0) {
      w.ops.release(op);
      this.#fail(rc, what);
    }
    try {
      await w.pending(op, what, null, options.signal);
    } catch (e) {
      // A graceful close of an endpoint whose peer is gone ends the same way as a forced
      // one: the endpoint is closed either way.
      if (!(options.force || this.#error)) throw e;
    }
  }

  /** Force-closes without waiting. */
  [Symbol.dispose](): void {
    this.close({ force: true }).catch(() => {});
  }

  /** Closes gracefully. */
  [Symbol.asyncDispose](): Promise<void> {
    return this.close();
  }
}

/** A 64-bit tag from a bigint or a non-negative safe integer. */
export function toTag(tag: bigint | number, what: string): bigint {
  if (typeof tag === "number") {
    if (!Number.isSafeInteger(tag) || tag < 0) {
      throw new InvalidArgumentError(`${what}: a number tag must be a non-negative safe integer`);
    }
    return BigInt(tag);
  }
  if (tag < 0n || tag > 0xffff_ffff_ffff_ffffn) {
    throw new InvalidArgumentError(`${what}: tag must fit in 64 bits`);
  }
  return tag;
}
