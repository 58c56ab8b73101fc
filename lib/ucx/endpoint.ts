/**
 * {@link Endpoint}: a connection to a remote worker.
 *
 * @module
 */
import { ClosedError, InvalidArgumentError, PeerError, type PluvioError } from "../errors.ts";
import type { WorkerCore } from "./core.ts";
import { NATIVE_STAGE_MAX, SendFlag } from "./layout.ts";
import { abortError } from "./mailbox.ts";
import type { UcxSymbols } from "./native.ts";
import {
  asBytes,
  checkLength,
  EMPTY,
  MAX_TAG,
  MAX_U32,
  type SignalOptions,
  spinNs,
  toTag,
} from "./options.ts";
import { copyToSlot, direct, type Finish, SendSlots, Staged, Staging } from "./staging.ts";
import type { Request } from "./request.ts";
import { Control, CONTROL_AM, encodeControl, MAX_USER_AM } from "./handshake.ts";
import type { Pidfd } from "../ffi/process.ts";

/** ECONNRESET: what a peer that went away is reported as. */
const ECONNRESET = 104;

/**
 * How an endpoint notices that its peer died: `"peer"`, UCX's peer-failure handling
 * (keep-alive; UCX then cannot use shared memory); `"pidfd"`, shared memory with the
 * peer's process watched through a pidfd (what `errorHandling: "auto"` gives between
 * processes of one host); `"none"`, not at all.
 */
export type PeerWatch = "peer" | "pidfd" | "none";

/** Options of {@link Endpoint.amSend}. */
export interface AmSendOptions {
  /**
   * When UCX cannot finish the send at once (a rendezvous payload waits for the
   * receiver to pull it), busy-wait on the worker up to this many microseconds before
   * waiting through the event loop (see `SpinOptions.spinUs`).
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

/** Options of {@link Endpoint.close}. */
export interface CloseOptions extends SignalOptions {
  /** Close at once without flushing outstanding operations (they fail). */
  force?: boolean;
}

/**
 * The already-resolved promise that `amSend` and `tagSend` return when UCX finished the
 * send at once (most small eager sends): a sender can test `p === DONE` and skip the
 * event-loop turn an `await` would cost, keeping only sends still in flight in its window.
 */
export const DONE: Promise<void> = Promise.resolve();

/** The native send flag of a forced protocol. */
function protoFlag(proto: string, what: () => string): number {
  if (proto === "eager") return SendFlag.EAGER;
  if (proto === "rndv") return SendFlag.RNDV;
  throw new InvalidArgumentError(`${what()}: proto must be "eager" or "rndv"`);
}

/** The goodbye of a `"pidfd"` endpoint's close. */
const BYE = {
  kind: Control.BYE,
  local: false,
  pid: 0,
  nonce: [0, 0] as [number, number],
  host: new Uint8Array(0),
  address: new Uint8Array(0),
};

/** Waits for `p`, resolving to nothing. */
async function settle(p: Promise<unknown>): Promise<void> {
  await p;
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
  #drop: (id: number) => void;
  #closed = false;
  #error: PluvioError | null = null;
  #ended = Promise.withResolvers<void>();
  #live = true;
  /** `closed` was read while the endpoint was live (the reactor polls until it ends). */
  #awaited = false;
  #watch: PeerWatch;
  /** The close in progress. */
  #closing: Promise<void> | null = null;
  /** The peer's pidfd and the end of its watch (`"pidfd"` endpoints). */
  #pidfd: Pidfd | null = null;
  #unwatch: (() => void) | null = null;
  /** Requests in flight, on `"pidfd"` endpoints (rejected when the peer dies). */
  #inflight: Set<Request> | null = null;
  /** Where this endpoint leads ("host:port", "worker address", or "reply endpoint"). */
  readonly peer: string;
  /** Whether UCX created it for replies to a message (closing it only forgets it). */
  readonly isReplyEndpoint: boolean;

  /**
   * @internal Endpoints come from `Worker.connectAddr`, `connectSocket` and `accept`;
   * `drop` forgets a closed one.
   */
  constructor(
    w: WorkerCore,
    id: number,
    peer: string,
    isReply: boolean,
    drop: (id: number) => void,
    watch: PeerWatch = "peer",
  ) {
    this.#w = w;
    this.#watch = watch;
    this.#drop = drop;
    this.#ptr = w.ptr;
    this.#sym = w.sym;
    this.#id = id;
    this.peer = peer;
    this.isReplyEndpoint = isReply;
    // Marked handled: a failure nobody waits for is no unhandled rejection.
    this.#ended.promise.catch(() => {});
    w.reactor.endpoint(true);
  }

  /** Counts the endpoint out of the reactor's live endpoints (once). */
  #down(): void {
    if (this.#live) {
      this.#live = false;
      this.#w.reactor.endpoint(false);
    }
  }

  /** @internal The native endpoint id. */
  get nativeId(): number {
    return this.#id;
  }

  /** How this endpoint notices that its peer died (see {@link PeerWatch}). */
  get peerWatch(): PeerWatch {
    return this.#watch;
  }

  /**
   * @internal From now on the peer is watched through `pidfd` (owned by the endpoint
   * from here): its exit fails the endpoint and its operations in flight.
   */
  watchProcess(pidfd: Pidfd): void {
    this.#watch = "pidfd";
    this.#pidfd = pidfd;
    this.#inflight = new Set();
    this.#unwatch = this.#w.reactor.watchPid(
      pidfd.fd,
      () => this.#lost(`the peer process ${pidfd.pid} exited`),
    );
  }

  /** @internal The peer said it closed the connection (a `BYE` control message). */
  peerClosed(): void {
    this.#lost("the peer closed the connection");
  }

  /** Fails the endpoint as UCX's peer-failure handling would (`"pidfd"` endpoints). */
  #lost(why: string): void {
    this.#stopWatch();
    if (this.#closed || this.#error !== null) return;
    const w = this.#w;
    if (!w.closed) w.sym.pluvio_ucx_ep_mark_failed(w.ptr, this.#id, ECONNRESET);
    const e = new PeerError(`UCX endpoint to ${this.peer}: ${why}`, { errno: ECONNRESET });
    this.fail(e);
    const reqs = this.#inflight;
    if (reqs !== null) {
      for (const r of reqs) w.abandon(r, e);
      reqs.clear();
    }
  }

  #stopWatch(): void {
    this.#unwatch?.();
    this.#unwatch = null;
    const f = this.#pidfd;
    this.#pidfd = null;
    try {
      f?.close();
    } catch { /* closed already */ }
  }

  /** Counts `req` in flight on a watched endpoint until it settles; returns `p`. */
  #track<T>(req: Request, p: Promise<T>): Promise<T> {
    const set = this.#inflight;
    if (set === null) return p;
    set.add(req);
    const off = () => set.delete(req);
    p.then(off, off);
    return p;
  }

  /**
   * @internal Sends control message `bytes` (Active Message `CONTROL_AM`, eager, with
   * a reply endpoint so the receiver knows which connection it came on).
   */
  sendControl(bytes: Uint8Array<ArrayBuffer>): Promise<void> {
    try {
      this.#assertOpen("sending a control message");
      const w = this.#w;
      const op = w.ops.reserve();
      const rc = this.#sym.pluvio_ucx_am_send(
        this.#ptr,
        this.#id,
        CONTROL_AM,
        EMPTY,
        0,
        bytes,
        bytes.length,
        SendFlag.REPLY | SendFlag.EAGER,
        op,
      );
      return this.#sent(rc, op, () => `a control message to ${this.peer}`, bytes, undefined, 0);
    } catch (e) {
      return Promise.reject(e);
    }
  }

  /** The failure UCX reported for this endpoint's peer, or null while healthy. */
  get error(): PluvioError | null {
    return this.#error;
  }

  /** Whether {@link Endpoint.close} was called (or the worker closed). */
  get isClosed(): boolean {
    return this.#closed;
  }

  /**
   * Settles when the endpoint ends: resolves once it is closed (by
   * {@link Endpoint.close} or its worker's close), rejects with the `PeerError` when
   * UCX reports its peer failed (a task waiting for messages can race it to learn that
   * its peer died). The WebTransport / WebSocketStream convention.
   */
  get closed(): Promise<void> {
    if (this.#live && !this.#awaited) {
      // Someone may wait for it alone: the worker must be polled for the news meanwhile.
      this.#awaited = true;
      const r = this.#w.reactor;
      r.watchEnd();
      const off = () => r.unwatchEnd();
      this.#ended.promise.then(off, off);
    }
    return this.#ended.promise;
  }

  /** @internal Records the peer failure reported by UCX. */
  fail(e: PluvioError): void {
    this.#error ??= e;
    this.#down();
    this.#ended.reject(e);
  }

  /** @internal Marks the endpoint closed (the worker closed). */
  markClosed(): void {
    this.#stopWatch();
    this.#closed = true;
    this.#down();
    this.#ended.resolve();
  }

  #assertOpen(what: string): void {
    if (this.#closed) throw new ClosedError(`${what}: the UCX endpoint to ${this.peer} is closed`);
  }

  /**
   * Sends Active Message `id` with `header` and `data`. Resolves when both buffers may
   * be reused (not when the peer has processed the message). Do not modify them before.
   * A small send (header and data together at most 8 KiB) is copied by native code at
   * submission, so its buffers may be reused or detached at once. Above that, buffers
   * from `allocAligned` (WebAssembly memory) and `SharedArrayBuffer`s are sent in place
   * (zero copy); any other buffer could be detached (`buffer.transfer()`) while UCX still
   * reads it, so it is copied into staging memory at submission (at 1 MiB: see
   * `bench/results/ucx_staging.md`) and may be detached or reused at once.
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
      if (!(id >>> 0 === id && id <= MAX_USER_AM)) {
        throw new InvalidArgumentError(
          `${this.#amWhat(id)}: AM id must be an integer in 0..${MAX_USER_AM}`,
        );
      }
      const h = asBytes(header, () => `${this.#amWhat(id)}: header`);
      const d = asBytes(data, () => `${this.#amWhat(id)}: data`);
      if (h.length > MAX_U32) checkLength(h, `${this.#amWhat(id)}: header`);
      if (d.length > MAX_U32) checkLength(d, `${this.#amWhat(id)}: data`);
      let flags = 0;
      let signal: AbortSignal | undefined;
      let ns = 0;
      if (options !== undefined) {
        signal = options.signal;
        if (options.spinUs !== undefined) ns = spinNs(options);
        if (signal?.aborted) throw abortError(signal, this.#amWhat(id));
        if (options.needReply) flags |= SendFlag.REPLY;
        if (options.proto !== undefined) flags |= protoFlag(options.proto, () => this.#amWhat(id));
      }
      const w = this.#w;
      let hh = h;
      let dd = d;
      let st: Staging | undefined;
      if (h.length + d.length <= NATIVE_STAGE_MAX) {
        // Small sends: native code copies header and data into memory of its own (kept
        // until completion when UCX does not finish the send at once), cheaper than a
        // stability check and staging slots in JavaScript (~340 ns per send measured).
        flags |= SendFlag.STAGE;
      } else {
        // Detachable buffers are sent from copies (see `staging.ts`).
        const sh = direct(h) ? null : copyToSlot(h);
        const sd = direct(d) ? null : copyToSlot(d);
        if (sh !== null) hh = sh;
        if (sd !== null) dd = sd;
        if (sh !== null || sd !== null) st = new Staging(Staged.SEND, null, sh, null, sd);
      }
      const op = w.ops.reserve();
      const rc = this.#sym.pluvio_ucx_am_send(
        this.#ptr,
        this.#id,
        id,
        hh,
        hh.length,
        dd,
        dd.length,
        flags,
        op,
      );
      return this.#sent(rc, op, () => this.#amWhat(id), [hh, dd], signal, ns, st);
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
   * Buffers from `allocAligned` (WebAssembly memory) and `SharedArrayBuffer`s are sent
   * in place (zero copy); any other buffer could be detached (`buffer.transfer()`) while
   * UCX still reads it, so each is copied into staging memory at submission (its cost
   * at 1 MiB: `bench/results/ucx_staging.md`), once however often it is listed.
   */
  amSendMany(
    id: number,
    data: readonly (ArrayBufferView | ArrayBuffer)[],
    options: AmSendManyOptions = {},
  ): Promise<void> {
    const what = () => `amSendMany(id ${id}, ${data.length} messages) to ${this.peer}`;
    try {
      if (this.#closed) this.#assertOpen(what());
      if (!(id >>> 0 === id && id <= MAX_USER_AM)) {
        throw new InvalidArgumentError(`${what()}: AM id must be an integer in 0..${MAX_USER_AM}`);
      }
      const window = options.window ?? 32;
      if (!Number.isInteger(window) || window < 1 || window > MAX_WINDOW) {
        throw new InvalidArgumentError(
          `${what()}: window must be an integer in 1..${MAX_WINDOW}, got ${window}`,
        );
      }
      if (!Array.isArray(data)) {
        throw new InvalidArgumentError(`${what()}: data must be an array of buffers`);
      }
      const h = asBytes(options.header, () => `${what()}: header`);
      if (h.length > MAX_U32) checkLength(h, `${what()}: header`);
      const flags = options.proto === undefined ? 0 : protoFlag(options.proto, what);
      const signal = options.signal;
      if (signal?.aborted) throw abortError(signal, what());
      // (address, length) per payload; a buffer listed many times is resolved once.
      const table = new BigUint64Array(2 * data.length);
      const views: Uint8Array[] = new Array(data.length);
      const seen = new Map<unknown, bigint>();
      // Detachable payloads are sent from copies (see `staging.ts`), one per buffer.
      const slots: Uint8Array<ArrayBuffer>[] = [];
      for (let i = 0; i < data.length; i++) {
        const item = data[i];
        let d = asBytes(item, () => `${what()}: payload ${i}`);
        if (d.length > MAX_U32) checkLength(d, `${what()}: payload ${i}`);
        let addr = seen.get(item);
        if (addr === undefined) {
          if (!direct(d)) slots.push(d = copyToSlot(d));
          addr = BigInt(
            Deno.UnsafePointer.value(Deno.UnsafePointer.of(d as Uint8Array<ArrayBuffer>)),
          );
          seen.set(item, addr);
        }
        table[2 * i] = addr;
        table[2 * i + 1] = BigInt(d.length);
        views[i] = d;
      }
      const sh = direct(h) ? null : copyToSlot(h);
      const hh = sh ?? h;
      const w = this.#w;
      const op = w.ops.reserve();
      const rc = this.#sym.pluvio_ucx_am_send_many(
        this.#ptr,
        this.#id,
        id,
        hh,
        hh.length,
        table,
        data.length,
        window,
        flags,
        op,
      );
      const st = sh === null && slots.length === 0 ? undefined : new SendSlots(sh, slots);
      return this.#sent(rc, op, what, [hh, table, views, slots], signal, 0, st);
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
    staged?: Finish,
  ): Promise<void> {
    const w = this.#w;
    const req = w.submit(rc, op, what, refs);
    if (req === null) {
      staged?.finish(w.immResult(), what); // the copies go back
      return DONE;
    }
    if (staged !== undefined) req.staging = staged;
    return this.#track(req, settle(w.await(req, signal, ns)));
  }

  #amWhat(id: number): string {
    return `amSend(id ${id}) to ${this.peer}`;
  }

  /**
   * Sends `data` with `tag` (a 64-bit tag); resolves when `data` may be reused.
   * Buffers from `allocAligned` (WebAssembly memory) and `SharedArrayBuffer`s are sent
   * in place (zero copy); any other buffer could be detached (`buffer.transfer()`) while
   * UCX still reads it, so it is copied into staging memory at submission (at 1 MiB:
   * see `bench/results/ucx_staging.md`) and may be detached or reused at once.
   */
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
      const d = asBytes(data, () => `${what()}: data`);
      if (d.length > MAX_U32) checkLength(d, `${what()}: data`);
      const signal = options?.signal;
      if (signal?.aborted) throw abortError(signal, what());
      // A detachable buffer is sent from a copy (see `staging.ts`).
      const sd = direct(d) ? null : copyToSlot(d);
      const dd = sd ?? d;
      const op = this.#w.ops.reserve();
      const rc = this.#sym.pluvio_ucx_tag_send(this.#ptr, this.#id, t, dd, dd.length, op);
      const st = sd === null ? undefined : new Staging(Staged.SEND, null, sd);
      return this.#sent(rc, op, what, dd, signal, 0, st);
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
    const req = w.submit(rc, op, what, null);
    if (req !== null) await this.#track(req, w.settle(req, options.signal));
  }

  /**
   * Closes the endpoint: flushes first (unless `force`, or the peer failed), then
   * disconnects. Later operations throw `ClosedError`. Closing twice is a no-op, and
   * closing an endpoint whose peer has gone resolves (that is the normal end of a
   * connection); only an abort of `options.signal` rejects.
   */
  close(options: CloseOptions = {}): Promise<void> {
    if (this.#closed) return Promise.resolve();
    return this.#closing ??= (async () => {
      try {
        await this.#close(options);
      } finally {
        this.#down();
        this.#ended.resolve();
      }
    })();
  }

  async #close(options: CloseOptions): Promise<void> {
    const what = `closing the UCX endpoint to ${this.peer}`;
    let aborted: unknown = null;
    if (this.#watch === "pidfd") {
      // No UCX disconnect reaches a shared-memory peer: say goodbye, let the sends land.
      if (!options.force && this.#error === null && !this.#w.closed) {
        try {
          await this.sendControl(encodeControl(BYE));
          await this.flush({ signal: options.signal });
        } catch (e) {
          if (options.signal?.aborted) aborted = e;
        }
      }
      this.#stopWatch();
    }
    if (aborted !== null) {
      options = { force: true };
    }
    this.#closed = true;
    const w = this.#w;
    let ptr: Deno.PointerObject;
    try {
      ptr = w.ptr;
    } catch {
      return; // the worker is closed: so is the endpoint
    }
    this.#drop(this.#id);
    const op = w.ops.reserve();
    const rc = w.sym.pluvio_ucx_ep_close(ptr, this.#id, options.force ? 1 : 0, op);
    try {
      const req = w.submit(rc, op, what, null);
      if (req !== null) await w.settle(req, options.signal);
    } catch (e) {
      // A graceful close of an endpoint whose peer is gone ends the same way as a forced
      // one: the endpoint is closed either way.
      if (!(options.force || this.#error || e instanceof PeerError)) throw e;
    }
    if (aborted !== null) throw aborted;
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
