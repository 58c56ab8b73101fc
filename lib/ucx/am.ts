/**
 * Active Message streams ({@link AmStream}) and arrived messages ({@link AmMessage}).
 *
 * @module
 */
import { ClosedError, InvalidArgumentError, PluvioError } from "../errors.ts";
import type { WorkerCore } from "./core.ts";
import type { AmSendOptions, Endpoint } from "./endpoint.ts";
import { LANDED, Wait } from "./layout.ts";
import { abortError, Mailbox } from "./mailbox.ts";
import { copyInto, type CopyPool, view } from "./copies.ts";
import { checkUcx } from "./native.ts";
import { direct, Staged, Staging, takeSlot } from "./staging.ts";
import { checkLength, EMPTY, MAX_U32, spinNs, type SpinOptions } from "./options.ts";

/**
 * Where an eager payload waits until it is copied out: the worker's message arena, valid
 * until the worker is next progressed (the worker copies every payload still there
 * before it progresses again).
 */
interface ArenaRef {
  /** The native arena. */
  readonly arena: Uint8Array;
  /** Where copies nobody asked a buffer for go. */
  readonly copies: CopyPool;
}

/**
 * An arrived Active Message. Its `header` is already copied out. An eager payload is
 * copied out when first asked for ({@link AmMessage.data}, or straight into the caller's
 * buffer by {@link AmMessage.recvData}), at the latest before the worker progresses
 * again; a rendezvous payload (large messages) stays at the sender until
 * {@link AmMessage.recvData} pulls it: call that or {@link AmMessage.release}.
 */
export class AmMessage {
  #w: WorkerCore;
  #msg: number;
  #data: Uint8Array | null;
  /** Set while the eager payload still sits in the arena, at `#off`. */
  #src: ArenaRef | null = null;
  #off = 0;
  /** The header view, or null until first asked for (then made of `#hdrBuf`). */
  #hdr: Uint8Array | null;
  #hdrBuf: Uint8Array | null = null;
  /** The caller's buffer that received the payload (`tryRecvInto`): `data` is made of it. */
  #dataBuf: Uint8Array | null = null;
  /** The Active Message id it was sent with. */
  readonly id: number;
  /** Length of the header in bytes. */
  readonly headerLength: number;
  /** Length of the payload in bytes. */
  readonly dataLength: number;
  /** The endpoint to reply on, when the sender asked for replies (`needReply`). */
  readonly replyEndpoint: Endpoint | null;

  /** @internal Messages come from {@link AmStream}. */
  constructor(
    w: WorkerCore,
    id: number,
    header: Uint8Array | null,
    headerLength: number,
    dataLength: number,
    data: Uint8Array | null,
    msg: number,
    replyEndpoint: Endpoint | null,
  ) {
    this.#w = w;
    this.id = id;
    this.#hdr = header;
    this.headerLength = headerLength;
    this.dataLength = dataLength;
    this.#data = data;
    this.#msg = msg;
    this.replyEndpoint = replyEndpoint;
  }

  /**
   * @internal An eager message that landed in `tryRecvInto`'s buffers: header bytes in
   * `hdrBuf` (null: none), payload in `dataBuf`; views are made on first use.
   */
  static landed(
    w: WorkerCore,
    id: number,
    hdrBuf: Uint8Array | null,
    hdrLen: number,
    dataBuf: Uint8Array,
    dataLength: number,
    replyEndpoint: Endpoint | null,
  ): AmMessage {
    const h = hdrBuf === null ? EMPTY : null;
    const m = new AmMessage(w, id, h, hdrLen, dataLength, null, -1, replyEndpoint);
    m.#hdrBuf = hdrBuf;
    m.#dataBuf = dataBuf;
    return m;
  }

  /** The header bytes (owned by this message, or a view of the buffer given to `tryRecvInto`). */
  get header(): Uint8Array {
    return this.#hdr ??= view(this.#hdrBuf!, 0, this.headerLength);
  }

  /**
   * @internal The eager payload is at `off` in the worker's `arena` until
   * {@link AmMessage.detach} (copied out into `copies`).
   */
  inArena(arena: Uint8Array, copies: CopyPool, off: number): void {
    this.#src = { arena, copies };
    this.#off = off;
  }

  /** @internal Copies an eager payload out of the arena (the worker is about to progress). */
  detach(): void {
    const src = this.#src;
    if (src === null) return;
    this.#src = null;
    this.#data = src.copies.copy(src.arena, this.#off, this.#off + this.dataLength);
  }

  /** @internal Copies the header into `buf` (big enough); `header` becomes a view of it. */
  landHeaderIn(buf: Uint8Array): void {
    buf.set(this.header);
    this.#hdr = null;
    this.#hdrBuf = buf;
  }

  /**
   * @internal Copies the eager payload of a queued message into `buf` (big enough);
   * `data` becomes a view of it.
   */
  landIn(buf: Uint8Array): void {
    const src = this.#src;
    const n = this.dataLength;
    if (src !== null) {
      this.#src = null;
      copyInto(buf, 0, src.arena, this.#off, this.#off + n);
    } else if (this.#data !== null) copyInto(buf, 0, this.#data, 0, n);
    this.#data = null;
    this.#dataBuf = buf;
  }

  /** Whether the payload is still at the sender (rendezvous) and not yet received. */
  get isRendezvous(): boolean {
    return this.#msg >= 0;
  }

  /**
   * The eager payload (copied out of the worker on first use), or null for a rendezvous
   * or released payload. After `recvData(buf)` it is the view of `buf` that received it.
   */
  get data(): Uint8Array | null {
    if (this.#src !== null) this.detach();
    else if (this.#dataBuf !== null) {
      this.#data = view(this.#dataBuf, 0, this.dataLength);
      this.#dataBuf = null;
    }
    return this.#data;
  }

  /**
   * The payload: copied into `buf` when given (it must hold {@link AmMessage.dataLength}
   * bytes; the result is a view of it), else in a new buffer (or the eager copy). A
   * rendezvous payload is pulled from the sender, straight into the buffer, and can be
   * received once; an eager one still in the worker goes straight into `buf` (one copy).
   * With `spinUs`, a pull busy-waits on the worker up to that long before it waits
   * through the event loop.
   * Buffers from `allocAligned` (WebAssembly memory) and `SharedArrayBuffer`s receive
   * in place (zero copy); any other buffer could be detached (`buffer.transfer()`,
   * `postMessage`) while UCX writes, so a pulled payload lands in staging memory and is copied
   * into it on completion. If it was detached meanwhile, the pull rejects with
   * `InvalidArgumentError` ("the buffer was detached"), nothing is written, and the
   * message is consumed.
   */
  recvData(buf?: Uint8Array, options: SpinOptions = {}): Promise<Uint8Array> {
    if (buf !== undefined && !(buf instanceof Uint8Array)) {
      return Promise.reject(
        new InvalidArgumentError(`${this.#what()}: the buffer must be a Uint8Array`),
      );
    }
    if (this.#msg >= 0) return this.#pull(buf, options);
    try {
      if (buf !== undefined && buf.length < this.dataLength) this.#tooSmall(buf);
      const src = this.#src;
      if (src !== null && buf !== undefined) {
        // Straight from the arena into the caller's buffer; later reads of `data` see it.
        this.#src = null;
        const n = this.dataLength;
        copyInto(buf, 0, src.arena, this.#off, this.#off + n);
        return Promise.resolve(this.#data = view(buf, 0, n));
      }
      const d = this.data;
      if (d === null) {
        throw new InvalidArgumentError(`${this.#what()}: the payload was already received`);
      }
      if (buf === undefined) return Promise.resolve(d);
      buf.set(d);
      return Promise.resolve(view(buf, 0, d.length));
    } catch (e) {
      return Promise.reject(e);
    }
  }

  #what(): string {
    return `receiving the ${this.dataLength}-byte payload of AM ${this.id}`;
  }

  #tooSmall(buf: Uint8Array): never {
    throw new InvalidArgumentError(
      `${this.#what()}: the buffer holds ${buf.length} bytes, the payload ${this.dataLength}`,
    );
  }

  /** Pulls a rendezvous payload. */
  async #pull(buf: Uint8Array | undefined, options: SpinOptions): Promise<Uint8Array> {
    const what = this.#what();
    if (buf !== undefined && buf.length < this.dataLength) this.#tooSmall(buf);
    const ns = spinNs(options);
    if (options.signal?.aborted) throw abortError(options.signal, what);
    const target = buf ?? new Uint8Array(this.dataLength);
    checkLength(target, what);
    const w = this.#w;
    const msg = this.#msg;
    this.#msg = -1;
    // A caller's detachable buffer is pulled into through a staging slot (see
    // `staging.ts`); a buffer made here is not reachable by anyone else until done.
    const slot = buf === undefined || direct(buf) ? null : takeSlot(this.dataLength);
    const into = slot ?? target;
    const op = w.ops.reserve();
    const rc = w.sym.pluvio_ucx_am_recv_data(w.ptr, msg, into, into.length, op);
    const req = w.submit(rc, op, what, into);
    if (req === null) {
      const n = w.imm[0];
      if (slot !== null) {
        const e = new Staging(Staged.RECV, target, slot).finish(w.immResult(), () => what);
        if (e !== undefined) throw e;
      }
      return view(target, 0, n);
    }
    if (slot !== null) req.staging = new Staging(Staged.RECV, target, slot);
    const r = await w.await(req, options.signal, ns);
    // Landed (and copied in) before the caller detached the buffer, between the
    // completion and this continuation: the same outcome as a detach in flight.
    if ((target.buffer as ArrayBuffer).detached) {
      throw new InvalidArgumentError(
        `${what}: the buffer was detached (ArrayBuffer.transfer or postMessage) while ` +
          `the receive was in flight`,
      );
    }
    return view(target, 0, r.length);
  }

  /** Drops a rendezvous payload without receiving it (frees it at the sender too). */
  release(): void {
    if (this.#msg < 0) {
      this.#data = null;
      this.#src = null;
      return;
    }
    const msg = this.#msg;
    this.#msg = -1;
    try {
      this.#w.sym.pluvio_ucx_am_release(this.#w.ptr, msg);
    } catch { /* worker closed: it released everything */ }
  }

  /** Replies on {@link AmMessage.replyEndpoint} (the sender must have set `needReply`). */
  reply(
    id: number,
    header?: ArrayBufferView | ArrayBuffer,
    data?: ArrayBufferView | ArrayBuffer,
    options?: AmSendOptions,
  ): Promise<void> {
    if (this.replyEndpoint === null) {
      return Promise.reject(
        new InvalidArgumentError(`AM ${this.id} cannot be replied to: sent without needReply`),
      );
    }
    return this.replyEndpoint.amSend(id, header, data, options);
  }
}

/**
 * The Active Messages with one id arriving at a worker, as an async iterator (and
 * {@link AmStream.recv}). Messages arriving while nobody waits are queued; messages that
 * arrived before the stream was opened were held by the worker and come first, in
 * order (see `WorkerOptions.holdLimit`).
 */
export class AmStream implements AsyncIterable<AmMessage>, Disposable {
  #w: WorkerCore;
  #box: Mailbox<AmMessage>;
  #reply: (rid: number) => Endpoint;
  #drop: (id: number) => void;
  /** The Active Message id. */
  readonly id: number;

  /**
   * @internal Use `Worker.amStream`. `reply` resolves a reply endpoint id, `drop`
   * forgets the stream when it closes.
   */
  constructor(
    w: WorkerCore,
    id: number,
    reply: (rid: number) => Endpoint,
    drop: (id: number) => void,
  ) {
    this.#w = w;
    this.id = id;
    this.#reply = reply;
    this.#drop = drop;
    this.#box = new Mailbox(w.reactor, `AM stream ${id}`, (m) => m.release());
  }

  /**
   * @internal `count` messages of this id were dropped while the worker held them
   * (before the stream opened): the receive that reaches this point rejects.
   */
  lost(count: number): void {
    this.#box.fault(lostError(this.id, count));
  }

  /** Whether the stream (or its worker) was closed. */
  get closed(): boolean {
    return this.#box.closed;
  }

  /** @internal Messages queued (arrived while nobody waited). */
  get queued(): number {
    return this.#box.queued;
  }

  /** @internal Hands an arrived message over. */
  deliver(m: AmMessage): void {
    if (this.#box.closed) m.release();
    else this.#box.push(m);
  }

  /**
   * The next message (rejects with `ClosedError` once the stream or worker closed). With
   * `spinUs`, when none is queued, busy-waits on the worker first (see
   * {@link SpinOptions.spinUs}).
   */
  recv(options: SpinOptions = {}): Promise<AmMessage> {
    const box = this.#box;
    if (options.spinUs !== undefined) {
      try {
        const ns = spinNs(options);
        if (ns > 0 && box.queued === 0 && !box.closed) this.#spin(ns);
      } catch (e) {
        return Promise.reject(e);
      }
    }
    return box.next(options.signal);
  }

  /**
   * The next message if one is here, without waiting through the event loop: returns a
   * queued message at once; else progresses the worker (busy-waiting up to `spinUs`
   * microseconds, default 0: one progress pass) and returns what arrived for this
   * stream, or null. Throws `ClosedError` once the stream or worker closed. The
   * lowest-latency receive: no promise or executor turn per message.
   */
  tryRecv(options: { spinUs?: number } = {}): AmMessage | null {
    const box = this.#box;
    let m = box.take();
    if (m === undefined && !box.closed) {
      this.#spin(spinNs(options) || 1);
      m = box.take();
    }
    if (m !== undefined) return m;
    if (box.closed) throw new ClosedError(`AM stream ${this.id} is closed`);
    return null;
  }

  /**
   * {@link AmStream.tryRecv} that lands the message in the caller's buffers: the header in
   * `options.header` (when given), an eager payload in `data`, copied once from the
   * worker without any other allocation. Returns the message (its `header` and `data` are
   * views of those buffers, made only when read; `headerLength` and `dataLength` tell the
   * sizes) or null when nothing arrived. A rendezvous payload stays at the sender: pull
   * it with `await message.recvData(data)`. When the next message does not fit (payload
   * longer than `data`, header longer than `options.header`), throws
   * `InvalidArgumentError` and leaves it queued for `tryRecv`/`recv`. The cheapest
   * receive of the API, for latency-bound loops.
   */
  tryRecvInto(
    data: Uint8Array,
    options: { header?: Uint8Array; spinUs?: number } = {},
  ): AmMessage | null {
    const box = this.#box;
    const header = options.header ?? null;
    if (box.queued === 0 && !box.closed) {
      const m = this.#spinInto(spinNs(options) || 1, data, header ?? EMPTY);
      if (m !== null) return m;
    }
    const m = box.peek();
    if (m === undefined) {
      if (box.closed) throw new ClosedError(`AM stream ${this.id} is closed`);
      return null;
    }
    const hl = m.headerLength;
    if (hl > 0 && header !== null && header.length < hl) {
      throw new InvalidArgumentError(
        `tryRecvInto on AM stream ${this.id}: the header buffer holds ${header.length} bytes, the header ${hl}`,
      );
    }
    if (!m.isRendezvous && m.dataLength > data.length) {
      throw new InvalidArgumentError(
        `tryRecvInto on AM stream ${this.id}: the buffer holds ${data.length} bytes, the payload ${m.dataLength}`,
      );
    }
    box.take();
    if (hl > 0 && header !== null) m.landHeaderIn(header);
    if (!m.isRendezvous) m.landIn(data);
    return m;
  }

  /**
   * Spins like `tryRecv` until the next eager message of this stream has been copied
   * by native code straight into `data` and `header` (when it fits and no other message
   * of the stream came first: those are queued as usual), the stream has queued messages
   * or is closed, or `ns` pass. Returns the landed message, else null.
   */
  #spinInto(ns: number, data: Uint8Array, header: Uint8Array): AmMessage | null {
    const w = this.#w;
    const p = w.ptr;
    const t = Math.min(ns, MAX_U32);
    const dl = Math.min(data.length, MAX_U32);
    const hl = Math.min(header.length, MAX_U32);
    for (let flags = 0;; flags = Wait.RESUME) {
      // Every wait reuses the arena: payloads the previous pass left there (messages of
      // other streams) are copied out first.
      w.detachLazy();
      const rc = w.sym.pluvio_ucx_am_wait_into(p, this.id, t, flags, data, dl, header, hl);
      if (rc < 0) checkUcx(rc, "progressing the UCX worker");
      const n = rc & 0xffff;
      // Events in the ring came after a landed message: dispatching them queues them
      // behind it.
      if (n > 0) w.dispatch(n);
      if ((rc & LANDED) !== 0) {
        const imm = w.imm;
        const hlen = imm[2];
        const rid = imm[3] | 0;
        const reply = rid >= 0 ? this.#reply(rid) : null;
        const h = hlen > 0 ? header : null;
        return AmMessage.landed(w, this.id, h, hlen, data, imm[0], reply);
      }
      if (n === 0 || this.#box.queued > 0 || this.#box.closed || w.closed) return null;
    }
  }

  /** Spins until a message for this stream is queued or `ns` pass. */
  #spin(ns: number): void {
    const box = this.#box;
    // The native wait keeps the deadline: `performance.now()` costs ~80 ns a call.
    for (let resume = false;; resume = true) {
      // Returns early on any event, perhaps another stream's; 0 once the time is up.
      if (this.#w.spinAny(ns, resume) === 0) return;
      if (box.queued > 0 || box.closed) return;
    }
  }

  /** Iterates messages until the stream or its worker is closed. */
  [Symbol.asyncIterator](): AsyncIterator<AmMessage> {
    // Not an async generator: each step is the mailbox's own promise, one hop fewer per
    // message on the plain `for await` path.
    const box = this.#box;
    return {
      next: () => box.nextResult(),
      return: () => Promise.resolve({ done: true, value: undefined }),
    };
  }

  /** @internal Ends the stream (the worker closed). */
  shut(): void {
    this.#box.close();
  }

  /** Stops receiving this id: waiters reject with `ClosedError`, queued messages are released. */
  close(): void {
    if (this.#box.closed) return;
    this.#box.close();
    this.#drop(this.id);
  }

  /** Same as {@link AmStream.close}. */
  [Symbol.dispose](): void {
    this.close();
  }
}

/**
 * Active Messages of an id were dropped: they arrived before a stream or receiver of the
 * id was open, and the worker's hold limit (`createWorker({ holdLimit })`) was reached.
 * The receive that reaches the gap rejects with it (code `ENOBUFS`); later messages
 * follow.
 */
export class MessagesLostError extends PluvioError {
  /** How many messages were dropped. */
  readonly lost: number;
  /** The Active Message id. */
  readonly amId: number;

  /** The error for `lost` messages of AM id `amId`. */
  constructor(amId: number, lost: number) {
    super(
      "ENOBUFS",
      `AM id ${amId}: ${lost} message(s) were dropped before a stream or receiver took ` +
        `them (the worker's hold limit was reached: see createWorker's holdLimit)`,
      { errno: 105 },
    );
    this.lost = lost;
    this.amId = amId;
  }
}

/** The error of a receive that reaches messages the worker had to drop. */
export function lostError(id: number, count: number): MessagesLostError {
  return new MessagesLostError(id, count);
}
