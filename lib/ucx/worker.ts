/**
 * {@link Worker}: a UCX worker — the public API that creates endpoints, listeners,
 * Active Message streams and receivers, and posts tag receives. The request lifecycle
 * lives in `core.ts`, the decoding of the completion ring in `events.ts`.
 *
 * @module
 */
import { InvalidArgumentError } from "../errors.ts";
import { checkPtr } from "../ffi/library.ts";
import { AmStream } from "./am.ts";
import { view } from "./copies.ts";
import { registerCore, tagOf, WorkerCore } from "./core.ts";
import type { Endpoint } from "./endpoint.ts";
import { WorkerEvents } from "./events.ts";
import { CONNECT_PEER } from "./layout.ts";
import { type ConnectionRequest, Listener } from "./listener.ts";
import { AmReceiver } from "./receiver.ts";
import { abortError } from "./mailbox.ts";
import { checkUcx, type UcxSymbols, utf8 } from "./native.ts";
import {
  asBytes,
  checkLength,
  MAX_TAG,
  MAX_U32,
  type SignalOptions,
  spinNs,
  type SpinOptions,
  toTag,
} from "./options.ts";
import { UcxReactor } from "./reactor.ts";
import {
  type Arrived,
  Control,
  CONTROL_AM,
  type ControlMessage,
  encodeControl,
  HANDSHAKE_MS,
  Handshakes,
  MAX_USER_AM,
  nonce,
} from "./handshake.ts";
import { hostId, Pidfd, sameHost } from "../ffi/process.ts";
import { direct, Staged, Staging, takeSlot } from "./staging.ts";

const TWO32 = 4294967296;

/** How an endpoint handles a dead peer (see {@link ConnectOptions.errorHandling}). */
export type ErrorHandling = "auto" | "peer" | "none";

/** Options of the calls that create endpoints. */
export interface ConnectOptions extends SignalOptions {
  /**
   * `"auto"` (default): a peer on this host (same boot and PID namespace) is reached over
   * shared memory and its process watched through a pidfd, any other through UCX's
   * peer-failure handling. `connectAddr` tells from the host and pid inside the address;
   * `connectSocket` and `accept` agree in a short pluvio handshake after connecting
   * (both sides must be pluvio and use `"auto"`; a side that gets no answer within a
   * second keeps the socket connection). `"peer"`: UCX watches the peer (keep-alive),
   * which rules shared memory out. Either way a dead
   * or unreachable peer fails the endpoint's operations with `PeerError`. `"none"`: no
   * watching, so UCX may use shared memory, but a dead peer can leave operations
   * pending: bound them with an `AbortSignal`. `"peer"` and `"none"` speak plain UCX
   * (for peers that are not pluvio); a client with `"none"` needs a server accepting
   * with `"none"`.
   */
  errorHandling?: ErrorHandling;
}

/** The checked `holdLimit` as [messages, bytes] (null: the defaults). */
function holdLimit(o: WorkerOptions): [number, number] | null {
  const l = o.holdLimit;
  if (l === undefined) return null;
  const m = l.messages ?? 4096;
  const b = l.bytes ?? 64 * 1024 * 1024;
  for (const [k, v] of [["messages", m], ["bytes", b]] as const) {
    if (!Number.isSafeInteger(v) || v < 0) {
      throw new InvalidArgumentError(`holdLimit.${k} must be a non-negative integer, got ${v}`);
    }
  }
  return [m, b];
}

/** The checked error handling of `o` (`fallback` when not given). */
function errorMode(o: ConnectOptions, fallback: ErrorHandling): ErrorHandling {
  if (o === null || typeof o !== "object") {
    throw new InvalidArgumentError(
      `options must be an object, got ${o === null ? "null" : typeof o}`,
    );
  }
  const m = o.errorHandling ?? fallback;
  if (m !== "auto" && m !== "peer" && m !== "none") {
    throw new InvalidArgumentError(
      `errorHandling must be "auto", "peer" or "none", got ${String(m)}`,
    );
  }
  return m;
}

/** The native connect flags of a mode ("auto" connects with peer-failure handling first). */
function connectFlags(m: ErrorHandling): number {
  return m === "none" ? 0 : CONNECT_PEER;
}

let host: Uint8Array | undefined;

/** This process's host identity (empty when unknown), read once. */
function thisHost(): Uint8Array {
  return host ??= hostId() ?? new Uint8Array(0);
}

/**
 * A pidfd on process `pid` of host `peerHost` when that is this host and the process can
 * be watched from here (then `"auto"` uses shared memory), else null.
 */
function localPeer(peerHost: Uint8Array, pid: number): Pidfd | null {
  if (!sameHost(thisHost(), peerHost)) return null;
  try {
    return Pidfd.open(pid);
  } catch {
    return null; // gone (ESRCH), not ours to watch (EPERM), no pidfds (ENOSYS)
  }
}

const ADDR_MAGIC = [0x50, 0x4c, 0x58, 0x48]; // "PLXH"

/**
 * A worker address as {@link Worker.address} gives it: the native one (UCX's, framed
 * with a checksum) after the host identity and pid of its process, so `"auto"` can tell
 * a peer on this host. Layout: `"PLXH", hostLen u32, host, pid u32, native address`.
 */
function wrapAddress(host: Uint8Array, pid: number, native: Uint8Array): Uint8Array {
  const out = new Uint8Array(12 + host.length + native.length);
  const v = new DataView(out.buffer);
  out.set(ADDR_MAGIC, 0);
  v.setUint32(4, host.length, true);
  out.set(host, 8);
  v.setUint32(8 + host.length, pid >>> 0, true);
  out.set(native, 12 + host.length);
  return out;
}

/** The parts of a wrapped address (a bare native one: no host, pid 0). */
function unwrapAddress(a: Uint8Array): { host: Uint8Array; pid: number; raw: Uint8Array } {
  if (a.length < 12 || ADDR_MAGIC.some((b, i) => a[i] !== b)) {
    return { host: new Uint8Array(0), pid: 0, raw: a };
  }
  const v = new DataView(a.buffer, a.byteOffset, a.byteLength);
  const n = v.getUint32(4, true);
  if (12 + n > a.length) {
    throw new InvalidArgumentError(
      `connectAddr: a worker address of ${a.length} bytes with a host identity of ${n}`,
    );
  }
  return { host: a.subarray(8, 8 + n), pid: v.getUint32(8 + n, true), raw: a.subarray(12 + n) };
}

/** Options of `Context.createWorker`. */
export interface WorkerOptions {
  /**
   * How much the worker holds of Active Messages that arrive for an id without a stream
   * or receiver yet (they are delivered, in order, to the one opened later): at most
   * `messages` messages (default 4096) and `bytes` bytes of headers and eager payloads
   * (default 64 MiB; a rendezvous payload stays at its sender and counts only its
   * header), over all ids together. Messages past the limit are dropped and counted:
   * the receive that reaches them rejects with `MessagesLostError`.
   */
  holdLimit?: { messages?: number; bytes?: number };
}

/** What {@link Worker.stats} reports. */
export interface WorkerStats {
  /** Active Messages held now for ids without a stream or receiver. */
  held: number;
  /** Bytes they hold (headers and eager payloads). */
  heldBytes: number;
  /** Messages dropped since the worker was created (past the hold limit). */
  dropped: number;
  /** Operations in flight. */
  inflight: number;
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
  #core: WorkerCore;
  #ev: WorkerEvents;
  #efd: number;
  #reactor: UcxReactor;
  #handshakes: Handshakes | undefined;

  /** @internal Use `Context.createWorker`. */
  constructor(sym: UcxSymbols, ctx: Deno.PointerObject, options: WorkerOptions = {}) {
    this.#sym = sym;
    const limit = holdLimit(options);
    const ptr = checkPtr(sym.pluvio_ucx_worker_create(ctx), "creating a UCX worker");
    if (limit !== null) {
      checkUcx(
        sym.pluvio_ucx_worker_hold_limit(ptr, BigInt(limit[0]), BigInt(limit[1])),
        "setting holdLimit",
      );
    }
    this.#reactor = UcxReactor.current();
    this.#core = new WorkerCore(sym, ptr, this.#reactor);
    this.#ev = new WorkerEvents(this.#core);
    this.#efd = checkUcx(sym.pluvio_ucx_worker_efd(ptr), "UCX worker event fd");
    this.#reactor.addWorker(this.#core, this.#efd);
    registerCore(this, this.#core);
    // Control messages (handshakes, goodbyes) are always taken, never held.
    checkUcx(sym.pluvio_ucx_am_register(ptr, CONTROL_AM), "registering the control AM id");
    this.#ev.control = (a) => this.#hs.deliver(a);
  }

  /** Whether {@link Worker.close} was called. */
  get closed(): boolean {
    return this.#core.closed;
  }

  /** Operations of this worker in flight. */
  get inflight(): number {
    return this.#core.ops.live;
  }

  /** Counters of the worker: held and dropped Active Messages, operations in flight. */
  stats(): WorkerStats {
    const out = new BigUint64Array(5);
    checkUcx(this.#sym.pluvio_ucx_worker_stats(this.#core.ptr, out, 5), "UCX worker stats");
    return {
      held: Number(out[0]),
      heldBytes: Number(out[1]),
      dropped: Number(out[2]),
      inflight: this.#core.ops.live,
    };
  }

  /**
   * This worker's address: give it to a peer for {@link Worker.connectAddr}. (UCX's
   * address inside a small pluvio frame with a checksum, so garbage is refused.)
   */
  address(): Uint8Array {
    const p = this.#core.ptr;
    const n = Number(this.#sym.pluvio_ucx_worker_address(p, null, 0n));
    checkUcx(n, "getting the worker address");
    const buf = new Uint8Array(n);
    checkUcx(Number(this.#sym.pluvio_ucx_worker_address(p, buf, BigInt(n))), "worker address");
    return wrapAddress(thisHost(), Deno.pid, buf);
  }

  /**
   * Connects to the worker whose {@link Worker.address} is `addr`. The endpoint is usable
   * at once; `await ep.flush()` waits until the connection is up. Throws
   * `InvalidArgumentError` for bytes that are not a worker address.
   */
  connectAddr(addr: Uint8Array, options: ConnectOptions = {}): Endpoint {
    const { host, pid, raw } = unwrapAddress(asBytes(addr, "connectAddr: the address"));
    let mode = errorMode(options, "auto");
    let pidfd: Pidfd | null = null;
    if (mode === "auto") {
      pidfd = localPeer(host, pid);
      mode = pidfd === null ? "peer" : "none";
    }
    let id: number;
    try {
      id = checkUcx(
        this.#sym.pluvio_ucx_ep_connect_addr(
          this.#core.ptr,
          raw,
          BigInt(raw.length),
          connectFlags(mode),
        ),
        "connecting to a UCX worker address",
      );
    } catch (e) {
      pidfd?.close();
      throw e;
    }
    const ep = this.#ev.endpoint(id, "worker address", false, mode === "none" ? "none" : "peer");
    if (pidfd !== null) ep.watchProcess(pidfd);
    return ep;
  }

  /**
   * Connects to a {@link Listener} at "host:port"; resolves once connected, or rejects
   * with `PeerError` when nobody listens there.
   */
  async connectSocket(addr: string, options: ConnectOptions = {}): Promise<Endpoint> {
    if (typeof addr !== "string") {
      throw new InvalidArgumentError(`connectSocket: the address must be a "host:port" string`);
    }
    const mode = errorMode(options, "auto");
    const b = utf8(addr);
    const id = checkUcx(
      this.#sym.pluvio_ucx_ep_connect_socket(
        this.#core.ptr,
        b,
        BigInt(b.length),
        connectFlags(mode),
      ),
      `connecting to ${addr}`,
    );
    const ep = this.#ev.endpoint(id, addr, false, mode === "none" ? "none" : "peer");
    await this.#connected(ep, options.signal);
    if (mode === "auto") await this.#clientHandshake(ep, options.signal);
    return ep;
  }

  /** Listens on "host:port" (port 0 picks a free port: see `listener.address`). */
  createListener(addr: string): Listener {
    const b = utf8(addr);
    const id = checkUcx(
      this.#sym.pluvio_ucx_listener_create(this.#core.ptr, b, BigInt(b.length)),
      `listening on ${addr}`,
    );
    const listeners = this.#ev.listeners;
    const l = new Listener(this.#core, id, (i) => listeners.delete(i));
    listeners.set(id, l);
    return l;
  }

  /** Accepts a connection request from a listener of this worker; resolves once connected. */
  async accept(req: ConnectionRequest, options: ConnectOptions = {}): Promise<Endpoint> {
    const p = this.#core.ptr;
    const mode = errorMode(options, "auto");
    let peer = "client";
    try {
      peer = req.clientAddress;
    } catch { /* informational only */ }
    const id = checkUcx(
      this.#sym.pluvio_ucx_ep_accept(p, req.take(), connectFlags(mode)),
      `accepting ${peer}`,
    );
    const ep = this.#ev.endpoint(id, peer, false, mode === "none" ? "none" : "peer");
    if (mode !== "auto") return await this.#connected(ep, options.signal);
    // Registered before the connection is up: the client sends HELLO as soon as it is.
    const hello = this.#hs.expect({ ep: id }, HANDSHAKE_MS, options.signal);
    try {
      await this.#connected(ep, options.signal);
    } catch (e) {
      this.#hs.forget(id);
      throw e;
    }
    await this.#serverHandshake(ep, hello, options.signal);
    return ep;
  }

  /** The handshakes of `"auto"` endpoints (see `handshake.ts`). */
  get #hs(): Handshakes {
    return this.#handshakes ??= new Handshakes((a) => this.#unexpected(a), this.#reactor);
  }

  /** A control message no handshake waits for. */
  #unexpected(a: Arrived): void {
    const ep = this.#ev.eps.get(a.from);
    if (a.msg.kind === Control.BYE) {
      ep?.peerClosed();
    } else if (a.msg.kind === Control.HELLO && ep !== undefined && !ep.isClosed) {
      // Accepted with "peer"/"none", or after the wait: the connection stays as it is.
      ep.sendControl(encodeControl({ ...this.#me(), kind: Control.WELCOME, local: false }))
        .catch(() => {});
    }
  }

  /** This process's side of a handshake message. */
  #me(): ControlMessage {
    return {
      kind: Control.HELLO,
      local: false,
      pid: Deno.pid,
      nonce: [0, 0],
      host: thisHost(),
      address: new Uint8Array(0),
    };
  }

  /**
   * Client side of the handshake (see `handshake.ts`): HELLO, then the server's MOVED
   * (on a new connection, when it moves) and WELCOME. `ep` takes the endpoint UCX made
   * for the server's shared-memory connection as MOVED is dispatched.
   */
  async #clientHandshake(ep: Endpoint, signal?: AbortSignal): Promise<void> {
    const n = nonce();
    let from = -1;
    const move = (a: Arrived) => {
      if (a.from < 0 || ep.isClosed) return;
      checkUcx(this.#sym.pluvio_ucx_ep_swap(this.#core.ptr, ep.nativeId, a.from), "moving");
      from = a.from;
      try {
        ep.watchProcess(Pidfd.open(a.msg.pid));
      } catch { /* the server watches us; we cannot watch it */ }
    };
    // The server answers within its own wait for the new connection (HANDSHAKE_MS).
    const wait = 2 * HANDSHAKE_MS;
    void this.#hs.expect({ nonce: n }, wait, signal, move);
    const welcome = this.#hs.expect({ ep: ep.nativeId }, wait, signal);
    await ep.sendControl(encodeControl({ ...this.#me(), nonce: n, address: this.address() }));
    await welcome;
    if (from < 0) this.#hs.forgetNonce(n);
    if (signal?.aborted) {
      await ep.close({ force: true }).catch(() => {});
      throw abortError(signal, `connecting to ${ep.peer}`);
    }
    // Moved: the socket connection (now under the other id) goes; the server closes its
    // side when this close reaches it.
    if (from >= 0) this.#ev.endpoint(from, ep.peer, false).close().catch(() => {});
  }

  /**
   * Server side of the handshake: the client's HELLO; on one host, a shared-memory
   * connection to the client's worker address carrying MOVED, taken over by `ep`; then
   * WELCOME on the socket connection.
   */
  async #serverHandshake(
    ep: Endpoint,
    hello: Promise<Arrived | null>,
    signal?: AbortSignal,
  ): Promise<void> {
    const h = (await hello)?.msg;
    if (signal?.aborted) {
      await ep.close({ force: true }).catch(() => {});
      throw abortError(signal, `accepting ${ep.peer}`);
    }
    if (h === undefined || h.kind !== Control.HELLO) return; // not pluvio "auto": stays
    const me = this.#me();
    let pidfd = h.address.length > 0 ? localPeer(h.host, h.pid) : null;
    let socket = ep; // the endpoint of the socket connection once moved
    if (pidfd !== null) {
      try {
        const local = this.connectAddr(h.address, { errorHandling: "none" });
        const sent = local.sendControl(
          encodeControl({ ...me, kind: Control.MOVED, local: true, nonce: h.nonce }),
        );
        // A connection UCX cannot wire up (it matched it with an older one to the same
        // worker under another error handling) never sends: then the socket stays.
        let timer: ReturnType<typeof setTimeout> | undefined;
        const ok = await Promise.race([
          sent.then(() => true, () => false),
          new Promise<boolean>((r) => timer = setTimeout(() => r(false), HANDSHAKE_MS)),
        ]).finally(() => clearTimeout(timer));
        if (!ok) throw new Error("the shared-memory connection did not come up");
        checkUcx(
          this.#sym.pluvio_ucx_ep_swap(this.#core.ptr, ep.nativeId, local.nativeId),
          "moving an endpoint",
        );
        ep.watchProcess(pidfd);
        socket = local; // holds the socket connection now
      } catch {
        pidfd.close();
        pidfd = null;
      }
    }
    await socket.sendControl(
      encodeControl({ ...me, kind: Control.WELCOME, local: pidfd !== null }),
    );
    // The client closes the socket connection once moved; this side follows.
    if (socket !== ep) socket.closed.catch(() => {}).finally(() => socket.close({ force: true }));
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
    const ev = this.#ev;
    this.#checkAmId(id, ev.receivers, "a receiver");
    const had = ev.streams.get(id);
    if (had !== undefined) return had;
    const p = this.#core.ptr;
    checkUcx(this.#sym.pluvio_ucx_am_register(p, id), `registering AM id ${id}`);
    const s = new AmStream(this.#core, id, (rid) => ev.replyEndpoint(rid), (i) => {
      if (ev.streams.delete(i) && !this.#core.closed) {
        this.#sym.pluvio_ucx_am_unregister(this.#core.ptr, i);
      }
    });
    ev.streams.set(id, s);
    return s;
  }

  /**
   * The receiver of Active Messages with `id`: messages go straight into buffers posted
   * with {@link AmReceiver.recvInto} (one receiver per id; an id with an
   * {@link AmStream} cannot also have a receiver).
   */
  amReceiver(id: number): AmReceiver {
    const ev = this.#ev;
    this.#checkAmId(id, ev.streams, "a stream");
    const had = ev.receivers.get(id);
    if (had !== undefined) return had;
    checkUcx(
      this.#sym.pluvio_ucx_am_receiver_open(this.#core.ptr, id),
      `opening an AM receiver for id ${id}`,
    );
    const r = new AmReceiver(this.#core, id, (rid) => ev.replyEndpoint(rid), (i) => {
      if (ev.receivers.delete(i) && !this.#core.closed) {
        this.#sym.pluvio_ucx_am_unregister(this.#core.ptr, i);
      }
    });
    ev.receivers.set(id, r);
    return r;
  }

  #checkAmId(id: number, other: Map<number, unknown>, what: string): void {
    if (!Number.isInteger(id) || id < 0 || id > MAX_USER_AM) {
      throw new InvalidArgumentError(`AM id must be an integer in 0..${MAX_USER_AM}, got ${id}`);
    }
    if (other.has(id)) throw new InvalidArgumentError(`AM id ${id} already has ${what}`);
  }

  /**
   * Receives a message whose tag matches `tag` on the bits of `mask` straight into `buf`
   * (posted now, so the sender's data lands in place). A longer message fails with
   * `EMSGSIZE`. Aborting cancels the receive.
   * Buffers from `allocAligned` (WebAssembly memory) and `SharedArrayBuffer`s receive
   * in place (zero copy); any other buffer could be detached (`buffer.transfer()`,
   * `postMessage`) while UCX writes, so the message lands in staging memory and is copied
   * into it on completion. If it was detached meanwhile, the receive rejects with
   * `InvalidArgumentError` ("the buffer was detached"), nothing is written, and the
   * message is consumed.
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
      if (!(buf instanceof Uint8Array)) {
        throw new InvalidArgumentError(`${what()}: the buffer must be a Uint8Array`);
      }
      if (buf.length > MAX_U32) checkLength(buf, what());
      const core = this.#core;
      const p = core.ptr;
      const signal = options?.signal;
      if (signal?.aborted) throw abortError(signal, what());
      const ns = options?.spinUs === undefined ? 0 : spinNs(options);
      // A detachable buffer is received through a staging slot (see `staging.ts`).
      const slot = direct(buf) ? null : takeSlot(buf.length);
      const into = slot ?? buf;
      const op = core.ops.reserve();
      const rc = this.#sym.pluvio_ucx_tag_recv(p, t, mask, into, into.length, op);
      const req = core.submit(rc, op, what, into);
      if (req === null) {
        const imm = core.imm;
        const n = imm[0] + imm[1] * TWO32;
        if (slot !== null) {
          const e = new Staging(Staged.RECV, buf, slot).finish(core.immResult(), what);
          if (e !== undefined) throw e;
        }
        return Promise.resolve(new TagReceived(buf, n, imm[2], imm[3]));
      }
      if (slot !== null) req.staging = new Staging(Staged.RECV, buf, slot);
      return core.await(req, signal, ns).then((r) =>
        new TagReceived(buf, r.length, r.tagLo, r.tagHi)
      );
    } catch (e) {
      return Promise.reject(e);
    }
  }

  /**
   * Closes the worker: pending operations reject with `ClosedError`, streams and
   * listeners end, endpoints are force-closed. Idempotent.
   */
  close(): void {
    const core = this.#core;
    if (core.closed) return;
    core.detachLazy(); // queued messages stay readable
    const ev = this.#ev;
    for (const s of ev.streams.values()) s.shut();
    for (const r of ev.receivers.values()) r.shut();
    for (const l of ev.listeners.values()) l.shut();
    this.#reactor.removeWorker(core, this.#efd);
    for (const ep of ev.eps.values()) ep.markClosed();
    ev.eps.clear();
    ev.listeners.clear();
    ev.streams.clear();
    ev.receivers.clear();
    const p = core.shut();
    // Native destroy cancels what is in flight; after it UCX touches no JS buffer.
    if (p !== null) this.#sym.pluvio_ucx_worker_destroy(p);
  }

  /** Same as {@link Worker.close}. */
  [Symbol.dispose](): void {
    this.close();
  }
}
