/**
 * {@link AmReceiver}: Active Messages of one id received straight into buffers the caller
 * posts ahead of time.
 *
 * @module
 */
import { ClosedError, InvalidArgumentError } from "../errors.ts";
import { AmMessage, lostError } from "./am.ts";
import type { WorkerCore } from "./core.ts";
import type { Endpoint } from "./endpoint.ts";
import { MISFIT } from "./layout.ts";
import { abortError } from "./mailbox.ts";
import { checkUcx } from "./native.ts";
import { checkLength, EMPTY, MAX_U32, type SignalOptions } from "./options.ts";
import type { OpResult, Request } from "./request.ts";
import { direct, Staged, Staging, takeSlot } from "./staging.ts";

/** Options of {@link AmReceiver.recvInto}. */
export interface RecvIntoOptions extends SignalOptions {
  /**
   * Where the message's header goes. Without it only messages without a header fit
   * (a message with one fails the receive and goes to the next).
   */
  header?: Uint8Array;
}

/**
 * Receives the Active Messages with one id into buffers posted ahead of time with
 * {@link AmReceiver.recvInto}, the way MPI receives are pre-posted: each message goes to
 * the oldest receive still waiting, in arrival order, without a JavaScript turn on the
 * way. Native code copies an eager payload into the posted buffer inside the UCX
 * callback, and starts pulling a rendezvous payload into it from there too (as
 * `ucx_perftest` does), so several large messages stream into several posted buffers
 * at once. Messages that arrive while nothing is posted are held by the worker and
 * taken by the next `recvInto`. The bulk-transfer counterpart of {@link AmStream}; an id
 * has either a receiver or a stream.
 */
export class AmReceiver implements Disposable {
  #w: WorkerCore;
  #closed = false;
  /** What a receive is, for errors (built once: `recvInto` is a per-message call). */
  #what: string;
  /** Receives posted and not yet finished. */
  #posted = new Set<Request>();
  #reply: (rid: number) => Endpoint;
  #drop: (id: number) => void;
  /** The Active Message id. */
  readonly id: number;

  /**
   * @internal Use `Worker.amReceiver`. `reply` resolves a reply endpoint id, `drop`
   * forgets the receiver when it closes.
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
    this.#what = `recvInto on AM receiver ${id}`;
  }

  /** Whether the receiver (or its worker) was closed. */
  get closed(): boolean {
    return this.#closed;
  }

  /** Receives posted and not yet finished. */
  get pending(): number {
    return this.#posted.size;
  }

  /** Messages held by the worker: arrived while no receive was posted (0 once closed). */
  get held(): number {
    if (this.#closed) return 0;
    const w = this.#w;
    return checkUcx(w.sym.pluvio_ucx_am_held(w.ptr, this.id), `AM receiver ${this.id}`);
  }

  /**
   * Posts `data` (and `options.header`) for the next message not yet taken by an
   * earlier `recvInto`; resolves with it once its payload is in `data` (the message's
   * `data` is a view of it, its `header` a view of `options.header`). Both buffers must
   * stay untouched until then. A message longer than `data`, or with a header longer
   * than `options.header`, rejects this receive with `InvalidArgumentError` and goes to
   * the next one: nothing is lost. Aborting withdraws a receive no message was matched
   * to yet (rejecting with `CancelledError`); one already matched completes with its
   * message. A transfer that fails (the sender died) rejects with `PeerError`.
   * Rejects with `ClosedError` once the receiver or worker is closed.
   * Buffers from `allocAligned` (WebAssembly memory) and `SharedArrayBuffer`s receive
   * in place (zero copy); any other `data` or `header` could be detached (`buffer.transfer()`,
   * `postMessage`) while UCX writes, so the message lands in staging memory and is copied
   * into it on completion. If it was detached meanwhile, the receive rejects with
   * `InvalidArgumentError` ("the buffer was detached"), nothing is written, and the
   * message is consumed.
   */
  recvInto(data: Uint8Array, options: RecvIntoOptions = {}): Promise<AmMessage> {
    try {
      const what = this.#what;
      if (this.#closed) throw new ClosedError(`AM receiver ${this.id} is closed`);
      const header = options.header ?? EMPTY;
      if (!(data instanceof Uint8Array) || !(header instanceof Uint8Array)) {
        throw new InvalidArgumentError(`${what}: data and header must be Uint8Arrays`);
      }
      if (data.length > MAX_U32) checkLength(data, `${what}: data`);
      if (header.length > MAX_U32) checkLength(header, `${what}: header`);
      const signal = options.signal;
      if (signal?.aborted) throw abortError(signal, what);
      const w = this.#w;
      const p = w.ptr;
      // Detachable buffers are received through staging slots (see `staging.ts`).
      const sd = direct(data) ? null : takeSlot(data.length);
      const sh = direct(header) ? null : takeSlot(header.length);
      const d = sd ?? data;
      const h = sh ?? header;
      const op = w.ops.reserve();
      const rc = w.sym.pluvio_ucx_am_post(p, this.id, d, d.length, h, h.length, op);
      if (rc === -105) {
        // ENOBUFS: the post reached the messages dropped before the receiver opened.
        w.ops.release(op);
        throw lostError(this.id, w.imm[0] + w.imm[1] * 4294967296);
      }
      const req = w.submit(rc, op, what, [d, h]);
      const staging = sd === null && sh === null
        ? undefined
        : new Staging(Staged.AM, data, sd, header, sh);
      if (req === null) {
        const imm = w.imm;
        if (staging !== undefined) {
          const r = { length: imm[0] + imm[1] * 4294967296, tagLo: imm[2], tagHi: imm[3] | 0 };
          const e = staging.finish(r, () => what);
          if (e !== undefined) throw e;
        }
        return Promise.resolve(
          this.#message(data, header, imm[0] + imm[1] * 4294967296, imm[2], imm[3] | 0),
        );
      }
      req.staging = staging;
      this.#posted.add(req);
      req.abort = (e) => this.#withdraw(req, e);
      return w.settle(req, signal).then((r) => {
        this.#posted.delete(req);
        if (r.tagHi === MISFIT) throw this.#misfit(data, header, r);
        return this.#message(data, header, r.length, r.tagLo, r.tagHi);
      }, (e) => {
        this.#posted.delete(req);
        throw e;
      });
    } catch (e) {
      return Promise.reject(e);
    }
  }

  #message(data: Uint8Array, header: Uint8Array, len: number, hlen: number, reply: number) {
    const ep = reply >= 0 ? this.#reply(reply) : null;
    return AmMessage.landed(this.#w, this.id, hlen > 0 ? header : null, hlen, data, len, ep);
  }

  #misfit(data: Uint8Array, header: Uint8Array, r: OpResult): InvalidArgumentError {
    return new InvalidArgumentError(
      `${this.#what}: the message has a ${r.tagLo}-byte header and a ${r.length}-byte payload; the buffers hold ${header.length} and ${data.length} bytes (the message goes to the next receive)`,
    );
  }

  /** Withdraws posted receive `req` if no message was matched to it, rejecting it with `e`. */
  #withdraw(req: Request, e: Error): void {
    const w = this.#w;
    if (req.done || w.ops.get(req.id) !== req || w.closed) return;
    // 0: a message was matched to it; its completion follows and settles it.
    if (w.sym.pluvio_ucx_am_unpost(w.ptr, this.id, req.id) !== 1) return;
    w.withdraw(req, e);
  }

  /** @internal Ends the receiver (the worker closed and rejected its receives). */
  shut(): void {
    this.#closed = true;
  }

  /**
   * Stops receiving this id: receives no message was matched to reject with
   * `ClosedError`, those already matched complete; held messages are released (UCX
   * frees their rendezvous payloads at the senders). Idempotent.
   */
  close(): void {
    if (this.#closed) return;
    this.#closed = true;
    const closed = new ClosedError(`AM receiver ${this.id} is closed`);
    for (const req of [...this.#posted]) this.#withdraw(req, closed);
    this.#drop(this.id);
  }

  /** Same as {@link AmReceiver.close}. */
  [Symbol.dispose](): void {
    this.close();
  }
}
