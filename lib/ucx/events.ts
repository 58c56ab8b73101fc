/**
 * {@link WorkerEvents}: decoding of a worker's completion ring (layout in `layout.ts`)
 * and delivery of what it reports — finished requests, arrived Active Messages,
 * endpoint failures, connection requests — to the objects of the worker they concern.
 *
 * @module
 */
import { checkPtr } from "../ffi/library.ts";
import { AmMessage, type AmStream } from "./am.ts";
import { CopyPool } from "./copies.ts";
import type { WorkerCore } from "./core.ts";
import { Endpoint, type PeerWatch } from "./endpoint.ts";
import { AmFlag, EV, EVENT_WORDS, Kind } from "./layout.ts";
import { ConnectionRequest, type Listener } from "./listener.ts";
import { checkUcx, eventError } from "./native.ts";
import { EMPTY } from "./options.ts";
import { type Arrived, CONTROL_AM, decodeControl } from "./handshake.ts";
import type { AmReceiver } from "./receiver.ts";

const TWO32 = 4294967296;
/** Eager payloads above this many bytes stay in the arena until asked for. */
const EAGER_LAZY = 64;

/** The ring decoder of one worker and the objects its events are delivered to. */
export class WorkerEvents {
  #core: WorkerCore;
  #ring: Int32Array;
  #arena: Uint8Array;
  #copies = new CopyPool();
  /** Endpoints by native id. */
  readonly eps: Map<number, Endpoint> = new Map();
  /** Listeners by native id. */
  readonly listeners: Map<number, Listener> = new Map();
  /** AM streams by AM id. */
  readonly streams: Map<number, AmStream> = new Map();
  /** AM receivers by AM id. */
  readonly receivers: Map<number, AmReceiver> = new Map();
  /** Gets pluvio's control messages (Active Message id `CONTROL_AM`; see `handshake.ts`). */
  control: (a: Arrived) => void = () => {};

  /** The decoder of `core`'s ring; installs itself as the core's dispatch. */
  constructor(core: WorkerCore) {
    this.#core = core;
    const sym = core.sym;
    const p = core.ptr;
    const cap = Number(sym.pluvio_ucx_ring_info(0));
    const arena = Number(sym.pluvio_ucx_ring_info(1));
    const area = (q: Deno.PointerValue, n: number) =>
      Deno.UnsafePointerView.getArrayBuffer(checkPtr(q, "UCX worker areas"), n);
    this.#ring = new Int32Array(area(sym.pluvio_ucx_worker_ring(p), cap * EVENT_WORDS * 4));
    this.#arena = new Uint8Array(area(sym.pluvio_ucx_worker_arena(p), arena));
    core.dispatch = (n) => this.#dispatch(n);
  }

  /** Registers endpoint `id` (to `peer`; `reply`: created by UCX for replies). */
  endpoint(id: number, peer: string, reply: boolean, watch?: PeerWatch): Endpoint {
    const ep = new Endpoint(this.#core, id, peer, reply, (i) => this.eps.delete(i), watch);
    this.eps.set(id, ep);
    return ep;
  }

  /** The endpoint a message's sender can be replied to on (native endpoint id). */
  replyEndpoint(rid: number): Endpoint {
    return this.eps.get(rid) ?? this.endpoint(rid, "reply endpoint", true);
  }

  /** Dispatches the `n` events a poll or wait left in the ring. */
  #dispatch(n: number): void {
    const r = this.#ring;
    for (let i = 0, b = 0; i < n; i++, b += EVENT_WORDS) {
      const kind = r[b + EV.kind];
      if (kind === Kind.OP) {
        this.#core.complete(r[b + EV.id], r[b + EV.code], r[b + EV.ucs], {
          length: (r[b + EV.lenLo] >>> 0) + (r[b + EV.lenHi] >>> 0) * TWO32,
          tagLo: r[b + EV.tagLo],
          tagHi: r[b + EV.tagHi],
        });
      } else if (kind === Kind.AM) this.#amArrived(b);
      else if (kind === Kind.AM_LOST) this.#amLost(r[b + EV.id], r[b + EV.lenLo] >>> 0);
      else if (kind === Kind.EP_ERROR) {
        const e = eventError(r[b + EV.code], r[b + EV.ucs], "UCX endpoint");
        this.eps.get(r[b + EV.id])?.fail(e);
      } else if (kind === Kind.CONN) {
        const req = new ConnectionRequest(this.#core, r[b + EV.msg]);
        const l = this.listeners.get(r[b + EV.id]);
        if (l) l.deliver(req);
        else {
          try {
            req.reject(); // the listener closed meanwhile (and rejected it natively)
          } catch { /* already answered */ }
        }
      }
    }
  }

  #amLost(id: number, count: number): void {
    this.streams.get(id)?.lost(count);
  }

  #amArrived(b: number): void {
    const r = this.#ring;
    const core = this.#core;
    const id = r[b + EV.id];
    const msg = r[b + EV.msg];
    const hdrOff = r[b + EV.hdrOff];
    const hdrLen = r[b + EV.hdrLen];
    const dataOff = r[b + EV.dataOff];
    const flags = r[b + EV.flags];
    const len = (r[b + EV.lenLo] >>> 0) + (r[b + EV.lenHi] >>> 0) * TWO32;
    const rndv = (flags & AmFlag.RNDV) !== 0;
    if (id === CONTROL_AM) return this.#controlArrived(b, rndv, len);
    const stream = this.streams.get(id);
    let header: Uint8Array;
    let data: Uint8Array | null = null;
    let lazy = false;
    if (flags & AmFlag.SPILLED) {
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
    const reply = flags & AmFlag.REPLY ? this.replyEndpoint(r[b + EV.replyEp]) : null;
    if (stream === undefined) {
      // Only a stream closed since native code queued the event: it is unregistered.
      if (rndv) core.sym.pluvio_ucx_am_release(core.ptr, msg);
      return;
    }
    const m = new AmMessage(core, id, header, hdrLen, len, data, rndv ? msg : -1, reply);
    if (lazy) {
      m.inArena(this.#arena, this.#copies, dataOff);
      core.holdLazy(m);
    }
    stream.deliver(m);
  }

  /** A control message: decoded at once (they are small and always sent eagerly). */
  #controlArrived(b: number, rndv: boolean, len: number): void {
    const r = this.#ring;
    const core = this.#core;
    const msg = r[b + EV.msg];
    const flags = r[b + EV.flags];
    if (rndv) {
      core.sym.pluvio_ucx_am_release(core.ptr, msg); // not pluvio's: ignored
      return;
    }
    const hdrLen = r[b + EV.hdrLen];
    const dataOff = r[b + EV.dataOff];
    const bytes = flags & AmFlag.SPILLED
      ? this.#take(msg, hdrLen + len).subarray(hdrLen)
      : this.#arena.slice(dataOff, dataOff + len);
    const m = decodeControl(bytes);
    if (m !== null) this.control({ msg: m, from: flags & AmFlag.REPLY ? r[b + EV.replyEp] : -1 });
  }

  #take(msg: number, n: number): Uint8Array {
    const buf = new Uint8Array(n);
    const core = this.#core;
    checkUcx(
      Number(core.sym.pluvio_ucx_am_take(core.ptr, msg, buf, BigInt(n))),
      "copying a spilled message",
    );
    return buf;
  }
}
