/**
 * {@link Worker}: a UCX worker, its completion ring and the dispatch of its events.
 *
 * @module
 */
import { ClosedError, InvalidArgumentError } from "../errors.ts";
import { checkPtr } from "../ffi/library.ts";
import { AmMessage, AmStream, type ArenaRef } from "./am.ts";
import { CopyPool, view } from "./copies.ts";
import { tagOf, type WorkerCore } from "./core.ts";
import {
  checkLength,
  Endpoint,
  MAX_TAG,
  MAX_U32,
  type SignalOptions,
  spinNs,
  type SpinOptions,
  toTag,
} from "./endpoint.ts";
import { ConnectionRequest, Listener } from "./listener.ts";
import { AmReceiver } from "./receiver.ts";
import { abortError } from "./mailbox.ts";
import { asBytes, checkUcx, EMPTY, eventError, type UcxSymbols, utf8 } from "./native.ts";
import { type OpResult, OpTable, type PendingOp, SyncOp, whatOf } from "./ops.ts";
import { UcxReactor } from "./reactor.ts";

// Ring layout (native/src/ucx/ring.rs): 16 i32 words per event.
const WORDS = 16;
const EV_OP = 1, EV_AM = 2, EV_EP_ERROR = 3, EV_CONN = 4;
const AM_RNDV = 1, AM_SPILLED = 2, AM_REPLY = 4;
const TWO32 = 4294967296;
/** Eager payloads above this many bytes stay in the arena until asked for. */
const EAGER_LAZY = 64;
/** `op` of `pluvio_ucx_worker_wait` meaning "any event". */
const WAIT_ANY = 0xffff_ffff;
/** What the native poll returns when UCX made progress but nothing finished. */
const POLL_MOVED = 1 << 30;
/** Flag of `pluvio_ucx_worker_wait`: give the CPU away between progress calls. */
const WAIT_YIELD = 1;
/** Flag of `pluvio_ucx_worker_wait`: spin until the previous wait's deadline. */
const WAIT_RESUME = 2;
/** Flag in the result of `pluvio_ucx_am_wait_into`: a message landed in the buffers. */
const LANDED = 1 << 16;

/** Options of the calls that create endpoints. */
export interface ConnectOptions extends SignalOptions {
  /**
   * `"peer"` (default): UCX watches the peer, and a dead or unreachable peer fails the
   * endpoint's operations with `PeerError`. `"none"`: no watching, so UCX 1.12 may use
   * shared memory (it cannot watch it) for the lowest latency, but a dead peer can leave
   * operations pending: bound them with an `AbortSignal`.
   */
  errorHandling?: "peer" | "none";
}

function connectFlags(o: ConnectOptions): number {
  const m = o.errorHandling ?? "peer";
  if (m !== "peer" && m !== "none") {
    throw new InvalidArgumentError(`errorHandling must be "peer" or "none", got ${String(m)}`);
  }
  return m === "peer" ? 1 : 0;
}

/** Options of {@link Worker.tagRecv}. */
export interface TagRecvOptions extends SpinOptions {
  /** Bits of the tag that must match (default: all). */
  mask?: bigint;
}

/** A finished tag receive. */
export interface TagRecvResult {
  /** Bytes received (the message may be shorter than the buffer). */
  length: number;
  /** The tag the sender used. */
  tag: bigint;
  /** The received bytes: a view of the buffer. */
  data: Uint8Array;
}

/** A {@link TagRecvResult} whose tag and data view are made only when read. */
class TagReceived implements TagRecvResult {
  readonly length: number;
  #buf: Uint8Array;
  #lo: number;
  #hi: number;
  #data: Uint8Array | undefined;

  constructor(buf: Uint8Array, length: number, lo: number, hi: number) {
    this.#buf = buf;
    this.length = length;
    this.#lo = lo;
    this.#hi = hi;
  }

  get tag(): bigint {
    return tagOf(this.#lo, this.#hi);
  }

  get data(): Uint8Array {
    return this.#data ??= view(this.#buf, 0, this.length);
  }
}

/**
 * A UCX worker: the communication engine of one thread. Create it with
 * `context.createWorker()`; it registers with {@link UcxReactor.current}, which the
 * runtime polls.
 */
export class Worker implements Disposable {
  #sym: UcxSymbols;
  #ptr: Deno.PointerObject | null;
  #efd: number;
  #reactor: UcxReactor;
  #ops = new OpTable();
  #ring: Int32Array;
  #arena: Uint8Array;
  #copies = new CopyPool();
  #arenaRef: ArenaRef;
  /** Messages whose eager payload is still in the arena (the first `#lazyN`). */
  #lazy: (AmMessage | undefined)[] = [];
  #lazyN = 0;
  #imm: Uint32Array;
  #eps = new Map<number, Endpoint>();
  #listeners = new Map<number, Listener>();
  #streams = new Map<number, AmStream>();
  #receivers = new Map<number, AmReceiver>();
  #core: WorkerCore;

  /** @internal Use `Context.createWorker`. */
  constructor(sym: UcxSymbols, ctx: Deno.PointerObject) {
    this.#sym = sym;
    const ptr = checkPtr(sym.pluvio_ucx_worker_create(ctx), "creating a UCX worker");
    this.#ptr = ptr;
    const cap = Number(sym.pluvio_ucx_ring_info(0));
    const arena = Number(sym.pluvio_ucx_ring_info(1));
    const view = (p: Deno.PointerValue, n: number) =>
      Deno.UnsafePointerView.getArrayBuffer(checkPtr(p, "UCX worker areas"), n);
    this.#ring = new Int32Array(view(sym.pluvio_ucx_worker_ring(ptr), cap * WORDS * 4));
    this.#arena = new Uint8Array(view(sym.pluvio_ucx_worker_arena(ptr), arena));
    this.#arenaRef = { arena: this.#arena, copies: this.#copies };
    this.#imm = new Uint32Array(view(sym.pluvio_ucx_worker_imm(ptr), 16));
    this.#efd = checkUcx(sym.pluvio_ucx_worker_efd(ptr), "UCX worker event fd");
    this.#reactor = UcxReactor.current();
    this.#reactor.addWorker(this, this.#efd);
    // deno-lint-ignore no-this-alias
    const self = this;
    this.#core = {
      sym,
      get ptr() {
        return self.#handle();
      },
      reactor: this.#reactor,
      ops: this.#ops,
      imm: this.#imm,
      pending: (id, what, refs, signal, spinNs) =>
        spinNs
          ? this.#pendingSpin(id, what, refs, spinNs, signal)
          : this.#pending(id, what, refs, signal),
      spin: (ns, resume) => this.#spinAny(ns, resume),
      listen: (id, op, signal) => this.#listen(id, op, signal),
      spinInto: (stream, ns, data, header) => this.#spinInto(stream, ns, data, header),
      dropEndpoint: (id) => this.#eps.delete(id),
      dropListener: (id) => this.#listeners.delete(id),
      dropStream: (id) => {
        if (this.#streams.delete(id) && this.#ptr !== null) {
          sym.pluvio_ucx_am_unregister(this.#ptr, id);
        }
      },
      dropReceiver: (id) => {
        if (this.#receivers.delete(id) && this.#ptr !== null) {
          sym.pluvio_ucx_am_unregister(this.#ptr, id);
        }
      },
      replyEndpoint: (rid) => this.#replyEndpoint(rid),
    };
  }

  #handle(): Deno.PointerObject {
    if (this.#ptr === null) throw new ClosedError("the UCX worker is closed");
    return this.#ptr;
  }

  /** Whether {@link Worker.close} was called. */
  get closed(): boolean {
    return this.#ptr === null;
  }

  /** Operations of this worker in flight. */
  get inflight(): number {
    return this.#ops.live;
  }

  /**
   * This worker's address: give it to a peer for {@link Worker.connectAddr}. (UCX's
   * address inside a small pluvio frame with a checksum, so garbage is refused.)
   */
  address(): Uint8Array {
    const p = this.#handle();
    const n = Number(this.#sym.pluvio_ucx_worker_address(p, null, 0n));
    checkUcx(n, "getting the worker address");
    const buf = new Uint8Array(n);
    checkUcx(Number(this.#sym.pluvio_ucx_worker_address(p, buf, BigInt(n))), "worker address");
    return buf;
  }

  /**
   * Connects to the worker whose {@link Worker.address} is `addr`. The endpoint is usable
   * at once; `await ep.flush()` waits until the connection is up. Throws
   * `InvalidArgumentError` for bytes that are not a worker address.
   */
  connectAddr(addr: Uint8Array, options: ConnectOptions = {}): Endpoint {
    const a = asBytes(addr);
    const flags = connectFlags(options);
    const id = checkUcx(
      this.#sym.pluvio_ucx_ep_connect_addr(this.#handle(), a, BigInt(a.length), flags),
      "connecting to a UCX worker address",
    );
    return this.#endpoint(id, "worker address", false);
  }

  /**
   * Connects to a {@link Listener} at "host:port"; resolves once connected, or rejects
   * with `PeerError` when nobody listens there.
   */
  async connectSocket(addr: string, options: ConnectOptions = {}): Promise<Endpoint> {
    const b = utf8(addr);
    const flags = connectFlags(options);
    const id = checkUcx(
      this.#sym.pluvio_ucx_ep_connect_socket(this.#handle(), b, BigInt(b.length), flags),
      `connecting to ${addr}`,
    );
    return await this.#connected(this.#endpoint(id, addr, false), options.signal);
  }

  /** Listens on "host:port" (port 0 picks a free port: see `listener.address`). */
  createListener(addr: string): Listener {
    const b = utf8(addr);
    const id = checkUcx(
      this.#sym.pluvio_ucx_listener_create(this.#handle(), b, BigInt(b.length)),
      `listening on ${addr}`,
    );
    const l = new Listener(this.#core, id);
    this.#listeners.set(id, l);
    return l;
  }

  /** Accepts a connection request from a listener of this worker; resolves once connected. */
  async accept(req: ConnectionRequest, options: ConnectOptions = {}): Promise<Endpoint> {
    const p = this.#handle();
    const flags = connectFlags(options);
    let peer = "client";
    try {
      peer = req.clientAddress;
    } catch { /* informational only */ }
    const id = checkUcx(this.#sym.pluvio_ucx_ep_accept(p, req.take(), flags), `accepting ${peer}`);
    return await this.#connected(this.#endpoint(id, peer, false), options.signal);
  }

  /** `ep` once its connection is up; force-closed when that fails. */
  async #connected(ep: Endpoint, signal?: AbortSignal): Promise<Endpoint> {
    try {
      await ep.flush({ signal });
    } catch (e) {
      await ep.close({ force: true }).catch(() => {});
      throw e;
    }
    return ep;
  }

  /**
   * The stream of Active Messages with `id` arriving here (one stream per id; an id with
   * an {@link AmReceiver} cannot also have a stream).
   */
  amStream(id: number): AmStream {
    this.#checkAmId(id, this.#receivers, "a receiver");
    if (this.#streams.has(id)) return this.#streams.get(id)!;
    checkUcx(this.#sym.pluvio_ucx_am_register(this.#handle(), id), `registering AM id ${id}`);
    const s = new AmStream(this.#core, id);
    this.#streams.set(id, s);
    return s;
  }

  /**
   * The receiver of Active Messages with `id`: messages go straight into buffers posted
   * with {@link AmReceiver.recvInto} (one receiver per id; an id with an
   * {@link AmStream} cannot also have a receiver).
   */
  amReceiver(id: number): AmReceiver {
    this.#checkAmId(id, this.#streams, "a stream");
    if (this.#receivers.has(id)) return this.#receivers.get(id)!;
    checkUcx(
      this.#sym.pluvio_ucx_am_receiver_open(this.#handle(), id),
      `opening an AM receiver for id ${id}`,
    );
    const r = new AmReceiver(this.#core, id);
    this.#receivers.set(id, r);
    return r;
  }

  #checkAmId(id: number, other: Map<number, unknown>, what: string): void {
    if (!Number.isInteger(id) || id < 0 || id > 0xffff) {
      throw new InvalidArgumentError(`AM id must be an integer in 0..65535, got ${id}`);
    }
    if (other.has(id)) throw new InvalidArgumentError(`AM id ${id} already has ${what}`);
  }

  /**
   * Receives a message whose tag matches `tag` on the bits of `mask` straight into `buf`
   * (posted now, so the sender's data lands in place). A longer message fails with
   * `EMSGSIZE`. Aborting cancels the receive.
   */
  tagRecv(
    tag: bigint | number,
    buf: Uint8Array,
    options?: TagRecvOptions,
  ): Promise<TagRecvResult> {
    // Not `async`, and the description is built only on failure: per-message strings,
    // promises and views were a large part of a small receive's cost.
    try {
      const what = () => `tagRecv(tag ${tag})`;
      const t = typeof tag === "bigint" && tag >= 0n && tag <= MAX_TAG ? tag : toTag(tag, what());
      const m = options?.mask;
      const mask = m === undefined ? MAX_TAG : toTag(m, what());
      if (buf.length > MAX_U32) checkLength(buf, what());
      const p = this.#handle();
      const signal = options?.signal;
      if (signal?.aborted) throw abortError(signal, what());
      const ns = options?.spinUs === undefined ? 0 : spinNs(options);
      if (ns > 0) return this.#tagRecvSpin(t, mask, buf, ns, what, signal);
      const op = this.#ops.reserve();
      const rc = this.#sym.pluvio_ucx_tag_recv(p, t, mask, buf, buf.length, op);
      if (rc === 1) {
        this.#ops.release(op);
        const imm = this.#imm;
        return Promise.resolve(new TagReceived(buf, imm[0] + imm[1] * TWO32, imm[2], imm[3]));
      }
      if (rc < 0) {
        this.#ops.release(op);
        checkUcx(rc, what());
      }
      return this.#pending(op, what, buf, signal).then((r) =>
        new TagReceived(buf, r.length, r.tagLo, r.tagHi)
      );
    } catch (e) {
      return Promise.reject(e);
    }
  }

  /** {@link Worker.tagRecv} that busy-waits up to `ns` before it waits asynchronously. */
  #tagRecvSpin(
    tag: bigint,
    mask: bigint,
    buf: Uint8Array,
    ns: number,
    what: () => string,
    signal: AbortSignal | undefined,
  ): Promise<TagRecvResult> {
    const op = new SyncOp(what, buf);
    if (!this.tagRecvSync(tag, mask, buf, op)) this.waitSync(op, ns, false);
    if (op.done) {
      if (op.failed) return Promise.reject(op.error);
      const r = op.result!;
      return Promise.resolve(new TagReceived(buf, r.length, r.tagLo, r.tagHi));
    }
    return this.settleLater(op, signal).then((r) =>
      new TagReceived(buf, r.length, r.tagLo, r.tagHi)
    );
  }

  /**
   * Progresses until any event arrives or `ns` pass (with `resume`, until the deadline of
   * the previous spin), dispatching what arrived; returns the events (0: time is up).
   */
  #spinAny(ns: number, resume: boolean): number {
    const flags = resume ? WAIT_RESUME : 0;
    return this.#wait(this.#handle(), WAIT_ANY, Math.min(ns, MAX_U32), flags);
  }

  /**
   * One `pluvio_ucx_worker_wait` on live handle `p` (payloads still in the arena copied
   * out first); dispatches the events it left in the ring and returns their number.
   */
  #wait(p: Deno.PointerObject, op: number, ns: number, flags: number): number {
    if (this.#lazyN > 0) this.#detachLazy();
    const n = this.#sym.pluvio_ucx_worker_wait(p, op, ns, flags);
    if (n < 0) checkUcx(n, "progressing the UCX worker");
    else if (n > 0) this.#dispatch(n);
    return n;
  }

  /**
   * Spins like {@link Worker.#spinAny} for `tryRecvInto` on `stream`, until the next
   * eager message of the stream has been copied by native code straight into `data` and
   * `header` (when it fits and no other message of the stream came first: those are
   * queued as usual), the stream has queued messages or is closed, or `ns` pass. Returns
   * the landed message, else null.
   */
  #spinInto(stream: AmStream, ns: number, data: Uint8Array, header: Uint8Array): AmMessage | null {
    const p = this.#handle();
    const id = stream.id;
    const t = Math.min(ns, MAX_U32);
    const dl = Math.min(data.length, MAX_U32);
    const hl = Math.min(header.length, MAX_U32);
    for (let flags = 0;; flags = WAIT_RESUME) {
      // Every wait reuses the arena: payloads the previous pass left there (messages of
      // other streams) are copied out first.
      if (this.#lazyN > 0) this.#detachLazy();
      const rc = this.#sym.pluvio_ucx_am_wait_into(p, id, t, flags, data, dl, header, hl);
      if (rc < 0) checkUcx(rc, "progressing the UCX worker");
      const n = rc & 0xffff;
      // Events in the ring came after a landed message: dispatching them queues them
      // behind it.
      if (n > 0) this.#dispatch(n);
      if ((rc & LANDED) !== 0) {
        const imm = this.#imm;
        const hlen = imm[2];
        const rid = imm[3] | 0;
        const reply = rid >= 0 ? this.#replyEndpoint(rid) : null;
        const h = hlen > 0 ? header : null;
        return AmMessage.landed(this.#core, id, h, hlen, data, imm[0], reply);
      }
      if (n === 0 || stream.queued > 0 || stream.closed || this.#ptr === null) return null;
    }
  }

  #endpoint(id: number, peer: string, reply: boolean): Endpoint {
    const ep = new Endpoint(this.#core, id, peer, reply);
    this.#eps.set(id, ep);
    return ep;
  }

  #pending(
    id: number,
    what: string | (() => string),
    refs: unknown,
    signal?: AbortSignal,
  ): Promise<OpResult> {
    return new Promise<OpResult>((resolve, reject) => {
      const op: PendingOp = { resolve, reject, refs, what, settled: false };
      if (signal) this.#listen(id, op, signal);
      this.#ops.set(id, op);
      this.#reactor.begin();
    });
  }

  /** {@link Worker.#pending} that busy-waits up to `ns` first. */
  #pendingSpin(
    id: number,
    what: string | (() => string),
    refs: unknown,
    ns: number,
    signal?: AbortSignal,
  ): Promise<OpResult> {
    const op = new SyncOp(what, refs);
    op.id = id;
    op.uncounted = true; // counted by the reactor only if the spin is not enough
    this.#ops.set(id, op);
    this.waitSync(op, ns, false);
    return this.settleLater(op, signal); // settles at once when the spin was enough
  }

  /** Makes an abort of `signal` end op `id` (see {@link PendingOp.abort}). */
  #listen(id: number, op: PendingOp, signal: AbortSignal): void {
    // One abort listener per signal, not per operation: EventTarget listeners cost
    // ~1 µs to add and remove, more than a small message itself.
    let set = this.#sigIds;
    if (signal !== this.#sig) {
      const ids = set = new Set<number>();
      this.#sig = signal;
      this.#sigIds = ids;
      signal.addEventListener("abort", () => this.#aborted(signal, ids), { once: true });
    }
    set.add(id);
    op.unlisten = () => set.delete(id);
  }

  /**
   * @internal Posts a receive like {@link Worker.tagRecv}, tracked by `op` instead of a
   * promise (`tag` and `mask` already checked). True when it finished at once (the
   * message was already here); else `op` is in flight: wait with {@link Worker.waitSync}
   * and, if that is not enough, {@link Worker.settleLater}. Throws on bad input.
   */
  tagRecvSync(tag: bigint, mask: bigint, buf: Uint8Array, op: SyncOp): boolean {
    if (buf.length > MAX_U32) checkLength(buf, whatOf(op));
    const p = this.#handle();
    const id = this.#ops.reserve();
    const rc = this.#sym.pluvio_ucx_tag_recv(p, tag, mask, buf, buf.length, id);
    if (rc === 1) {
      this.#ops.release(id);
      const imm = this.#imm;
      op.resolve({ length: imm[0] + imm[1] * TWO32, tagLo: imm[2], tagHi: imm[3] });
      return true;
    }
    if (rc < 0) {
      this.#ops.release(id);
      checkUcx(rc, whatOf(op));
    }
    op.id = id;
    // Not counted by the reactor while only spun on: waking the executor for an op that
    // usually finishes within the spin would cost an executor turn per message.
    op.uncounted = true;
    this.#ops.set(id, op);
    return false;
  }

  /**
   * @internal Progresses this worker for up to `spinNs` nanoseconds or until `op` is
   * done, dispatching every event that finishes meanwhile; returns `op.done`. With
   * `yieldCpu`, gives the CPU away between progress calls (more ranks than cores).
   */
  waitSync(op: SyncOp, spinNs: number, yieldCpu: boolean): boolean {
    if (op.done) return true;
    const p = this.#ptr;
    if (p === null) return op.done;
    this.#wait(p, op.id, spinNs, yieldCpu ? WAIT_YIELD : 0);
    return op.done;
  }

  /**
   * @internal The promise of a {@link SyncOp} that was not done within its spin; an
   * abort of `signal` rejects it and cancels the receive.
   */
  settleLater(op: SyncOp, signal?: AbortSignal): Promise<OpResult> {
    if (!op.done && op.uncounted) {
      op.uncounted = false; // now the reactor must poll for it
      this.#reactor.begin();
    }
    return new Promise<OpResult>((resolve, reject) => {
      if (!op.done && signal) {
        if (signal.aborted) {
          op.settled = true;
          reject(abortError(signal, whatOf(op)));
          if (this.#ptr !== null) this.#sym.pluvio_ucx_cancel(this.#ptr, op.id);
          return;
        }
        this.#listen(op.id, op, signal);
      }
      op.onDone(resolve, reject);
    });
  }

  /**
   * The signal of the latest operation that had one, and the operations waiting on it
   * (consecutive operations usually share a signal: a collective call, a session).
   */
  #sig: AbortSignal | null = null;
  #sigIds = new Set<number>();

  #aborted(signal: AbortSignal, ids: Set<number>): void {
    if (this.#sig === signal) this.#sig = null;
    for (const id of [...ids]) {
      const op = this.#ops.get(id);
      if (op === undefined || op.settled) continue;
      if (op.abort) {
        op.abort(abortError(signal, whatOf(op)));
        continue;
      }
      op.settled = true;
      op.reject(abortError(signal, whatOf(op)));
      // Receives are cancelled; a send cannot be, it finishes on its own. Either way
      // the op keeps its buffers until native code reports it done.
      if (this.#ptr !== null) this.#sym.pluvio_ucx_cancel(this.#ptr, id);
    }
    ids.clear();
  }

  /**
   * @internal Whether the last {@link Worker.poll} found UCX making progress (a transfer
   * moving) with nothing finished yet.
   */
  moved = false;

  /** @internal Progresses UCX and dispatches what finished; returns the events handled. */
  poll(): number {
    const p = this.#ptr;
    if (p === null) return 0;
    if (this.#lazyN > 0) this.#detachLazy();
    const n = this.#sym.pluvio_ucx_worker_poll(p);
    this.moved = n === POLL_MOVED;
    if (n <= 0 || n === POLL_MOVED) {
      if (n < 0) checkUcx(n, "polling the UCX worker");
      return 0;
    }
    this.#dispatch(n);
    return n;
  }

  /** Dispatches the `n` events a poll or wait left in the ring. */
  #dispatch(n: number): void {
    const r = this.#ring;
    for (let i = 0, b = 0; i < n; i++, b += WORDS) {
      const kind = r[b];
      if (kind === EV_OP) this.#opDone(b);
      else if (kind === EV_AM) this.#amArrived(b);
      else if (kind === EV_EP_ERROR) {
        this.#eps.get(r[b + 1])?.fail(eventError(r[b + 2], r[b + 3], `UCX endpoint`));
      } else if (kind === EV_CONN) {
        const req = new ConnectionRequest(this.#core, r[b + 8]);
        const l = this.#listeners.get(r[b + 1]);
        if (l) l.deliver(req);
        else {
          try {
            req.reject(); // the listener closed meanwhile (and rejected it natively)
          } catch { /* already answered */ }
        }
      }
    }
  }

  #opDone(b: number): void {
    const r = this.#ring;
    const op = this.#ops.take(r[b + 1]);
    if (op === undefined) return;
    if (!op.uncounted) this.#reactor.end();
    op.unlisten?.();
    if (op.settled) return;
    op.settled = true;
    const code = r[b + 2];
    if (code < 0) op.reject(eventError(code, r[b + 3], whatOf(op)));
    else {
      op.resolve({
        length: (r[b + 4] >>> 0) + (r[b + 5] >>> 0) * TWO32,
        tagLo: r[b + 6],
        tagHi: r[b + 7],
      });
    }
  }

  #amArrived(b: number): void {
    const r = this.#ring;
    const id = r[b + 1];
    const msg = r[b + 8];
    const hdrOff = r[b + 9];
    const hdrLen = r[b + 10];
    const dataOff = r[b + 11];
    const flags = r[b + 12];
    const len = (r[b + 4] >>> 0) + (r[b + 5] >>> 0) * TWO32;
    const p = this.#ptr!;
    const rndv = (flags & AM_RNDV) !== 0;
    const stream = this.#streams.get(id);
    let header: Uint8Array;
    let data: Uint8Array | null = null;
    let lazy = false;
    if (flags & AM_SPILLED) {
      if (rndv) {
        header = this.#take(hdrOff, hdrLen);
      } else {
        const all = this.#take(msg, hdrLen + len);
        header = all.subarray(0, hdrLen);
        data = all.subarray(hdrLen);
      }
    } else if (rndv || len === 0 || len > EAGER_LAZY) {
      header = hdrLen === 0 ? EMPTY : this.#copies.copy(this.#arena, hdrOff, hdrOff + hdrLen);
      // A larger eager payload is left in the arena: `recvData(buf)` copies it once,
      // straight into the caller's buffer (a new ArrayBuffer costs ~0.4 µs per KiB in
      // Deno); else it is copied out before the worker next progresses.
      if (len === 0) data = EMPTY;
      else lazy = !rndv;
    } else if (hdrLen === 0) {
      data = this.#copies.copy(this.#arena, dataOff, dataOff + len);
      header = EMPTY;
    } else {
      // Native code put the payload right after the header: one copy for both, the
      // payload aligned.
      const skip = dataOff - hdrOff;
      const copies = this.#copies;
      const at = copies.put(this.#arena, hdrOff, dataOff + len, skip);
      const ab = copies.chunk.buffer; // chunks start at offset 0
      header = new Uint8Array(ab, at, hdrLen);
      data = new Uint8Array(ab, at + skip, len);
    }
    const reply = flags & AM_REPLY ? this.#replyEndpoint(r[b + 13]) : null;
    if (stream === undefined) {
      if (rndv) this.#sym.pluvio_ucx_am_release(p, msg);
      return;
    }
    const m = new AmMessage(this.#core, id, header, hdrLen, len, data, rndv ? msg : -1, reply);
    if (lazy) {
      m.inArena(this.#arenaRef, dataOff);
      this.#lazy[this.#lazyN++] = m;
    }
    stream.deliver(m);
  }

  #replyEndpoint(rid: number): Endpoint {
    return this.#eps.get(rid) ?? this.#endpoint(rid, "reply endpoint", true);
  }

  /**
   * Copies the eager payloads still in the arena out of it: called before every native
   * call that progresses the worker (which reuses the arena).
   */
  #detachLazy(): void {
    const l = this.#lazy;
    for (let i = 0; i < this.#lazyN; i++) {
      l[i]!.detach();
      l[i] = undefined;
    }
    this.#lazyN = 0;
  }

  #take(msg: number, n: number): Uint8Array {
    const buf = new Uint8Array(n);
    checkUcx(
      Number(this.#sym.pluvio_ucx_am_take(this.#ptr!, msg, buf, BigInt(n))),
      "copying a spilled message",
    );
    return buf;
  }

  /** @internal Arms the event fd; false when there is work now. */
  arm(): boolean {
    if (this.#ptr === null) return true;
    if (this.#lazyN > 0) this.#detachLazy();
    return checkUcx(this.#sym.pluvio_ucx_worker_arm(this.#ptr), "arming the UCX worker") === 1;
  }

  /**
   * Closes the worker: pending operations reject with `ClosedError`, streams and
   * listeners end, endpoints are force-closed. Idempotent.
   */
  close(): void {
    const p = this.#ptr;
    if (p === null) return;
    this.#detachLazy(); // queued messages stay readable
    for (const s of this.#streams.values()) s.shut();
    for (const r of this.#receivers.values()) r.shut();
    for (const l of this.#listeners.values()) l.shut();
    this.#reactor.removeWorker(this, this.#efd);
    this.#ptr = null;
    for (const ep of this.#eps.values()) ep.markClosed();
    this.#eps.clear();
    this.#listeners.clear();
    this.#streams.clear();
    this.#receivers.clear();
    const closed = new ClosedError("the UCX worker was closed");
    for (const [id, op] of this.#ops.entries()) {
      this.#ops.take(id);
      if (!op.uncounted) this.#reactor.end();
      op.unlisten?.();
      if (!op.settled) {
        op.settled = true;
        op.reject(closed);
      }
    }
    // Native destroy cancels what is in flight; after it UCX touches no JS buffer.
    this.#sym.pluvio_ucx_worker_destroy(p);
  }

  /** Same as {@link Worker.close}. */
  [Symbol.dispose](): void {
    this.close();
  }
}
