/**
 * One collective call in flight: its tags, its messages, its scratch memory and the way
 * it fails (timeout, abort, a dead peer).
 *
 * Tag layout (64 bits): `comm (9) | seq (10) | signature (13) | step (16) | source rank
 * (16)`. Every rank numbers the calls of a communicator in the same order, so a message
 * of call `seq`, step `step` from rank `src` has one tag on both sides: concurrent calls
 * and communicators sharing a worker never match each other's messages. The signature
 * field is a hash of what the sender called ({@link Signature}: collective, algorithm,
 * element type, op, root, count); receives ignore it when matching and compare it after,
 * so a mismatch between ranks is caught by the first message of the call that crosses
 * it. The call then fails on every rank (see `notice.ts`), naming both sides.
 *
 * @module
 */
import { CancelledError, PeerError, type PluvioError, TimeoutError } from "../../errors.ts";
import { MismatchError, PeerRejectedError } from "../errors.ts";
import { mismatchText, type Signature } from "../signature.ts";
import { encodeNotice, MISMATCH, type Notice, REJECTED, WAITING } from "./notice.ts";
import { DONE, type Endpoint, type Worker } from "../../ucx/mod.ts";
import {
  MAX_TAG,
  type OpResult,
  type Request,
  settle,
  spinOn,
  tagRecvRequest,
} from "../../ucx/lowlevel.ts";
import type { DType } from "../dtype.ts";
import type { ReduceOp } from "../ops.ts";
import { reduceBytes } from "./reduce.ts";

/** Limits of the tag fields. */
export const MAX_COMMS = 1 << 9;
/**
 * Sequence numbers wrap after this many calls; at most half as many may be in flight on
 * one worker at once.
 */
export const SEQ_SPAN = 1 << 10;
/** Values of the signature field. */
export const SIG_SPAN = 1 << 13;
/** The mask receives match with: every bit but the signature's. */
export const RECV_MASK = MAX_TAG ^ (BigInt(SIG_SPAN - 1) << 32n);
/**
 * How long a call that received a mismatching message waits for the notice of the rank
 * that sent it (which names what that rank called) before it fails without it.
 */
export const GRACE_MS = 250;
/** Steps (messages between one pair of ranks) one call may use. */
export const MAX_STEPS = 1 << 16;
/** The largest group. */
export const MAX_RANKS = 1 << 16;

/** What a call needs from its communicator. */
export interface Link {
  /** This rank. */
  readonly rank: number;
  /** Group size. */
  readonly size: number;
  /** The worker messages are received on. */
  readonly worker: Worker;
  /** The endpoint to `rank`, connected on first use. */
  endpoint(rank: number): Endpoint;
  /** Scratch memory of at least `bytes` (from a pool). */
  takeScratch(bytes: number): ArrayBuffer;
  /** Gives scratch memory back once nothing can write into it any more. */
  giveScratch(buf: ArrayBuffer): void;
  /** How long {@link Call.exchange} spins on the worker before it waits asynchronously. */
  readonly spinNs: number;
  /** Whether that spin gives the CPU away between progress calls (more ranks than cores). */
  readonly yieldCpu: boolean;
  /** This rank in the group under the communicators (the control tag's source). */
  readonly groupRank: number;
  /** Sends a control message to every other rank of the communicator. */
  tell(msg: Uint8Array): void;
}

/**
 * A collective algorithm written as a generator that yields a promise only when it must
 * wait (see {@link drive}): small calls then finish without a single promise.
 */
export type Steps = Generator<Promise<unknown>, void, undefined>;

/**
 * Runs `g` synchronously as far as it gets: `undefined` when it finished so, else the
 * promise of the rest (each yielded promise awaited, a rejection thrown into `g`).
 */
export function drive(g: Steps): Promise<void> | undefined {
  const first = g.next();
  if (first.done) return undefined;
  return (async () => {
    let p = first.value;
    for (;;) {
      let r: IteratorResult<Promise<unknown>, void>;
      try {
        await p;
        r = g.next();
      } catch (e) {
        r = g.throw(e);
      }
      if (r.done) return;
      p = r.value;
    }
  })();
}

/** A collective call: tags, point-to-point messages, scratch and failure. */
export class Call {
  /** This rank. */
  readonly rank: number;
  /** Group size. */
  readonly size: number;
  /** The operation, for messages (e.g. `"allreduce (ring)"`). */
  readonly what: string;
  /** The communicator id and this call's sequence number. */
  readonly comm: number;
  readonly seq: number;
  /** What this rank called (null: rejected before it was known). */
  readonly sig: Signature | null;
  readonly #link: Link;
  readonly #hi: bigint;
  readonly #sigHash: number;
  #told = false;
  #grace: ReturnType<typeof setTimeout> | undefined;
  #ac: AbortController | null = null;
  #failure: PluvioError | null = null;
  #onFail: ((e: PluvioError) => void) | null = null;
  #scratch: ArrayBuffer[] | null = null;
  #waiting: Map<number, number> | null = null;
  /** When the call times out (`performance.now()` ms; Infinity: never). */
  deadline = Infinity;
  /** When the call started waiting (`performance.now()` ms). */
  since = 0;
  /** The timeout the deadline came from, for the message. */
  timeoutMs = 0;

  /** Starts call `seq` of communicator `comm`, which calls `sig` on this rank. */
  constructor(link: Link, comm: number, seq: number, what: string, sig: Signature | null) {
    this.#link = link;
    this.rank = link.rank;
    this.size = link.size;
    this.what = what;
    this.comm = comm;
    this.seq = seq;
    this.sig = sig;
    this.#sigHash = sig === null ? 0 : sig.hash13;
    this.#hi = BigInt((comm * SEQ_SPAN + seq) * SIG_SPAN + this.#sigHash) << 32n;
  }

  /** Outstanding receives per source rank (to name who did not answer). */
  get waiting(): Map<number, number> {
    return this.#waiting ??= new Map();
  }

  /** The failure that ended the call, if any. */
  get failure(): PluvioError | null {
    return this.#failure;
  }

  #tag(step: number, src: number): bigint {
    if (step >= MAX_STEPS) throw new RangeError(`${this.what}: step ${step} overflows the tag`);
    return this.#hi | BigInt(step * 65536 + src);
  }

  /**
   * Sends `data` to `peer` as message `step`; resolves when `data` may be reused. (The
   * promise is marked handled: algorithms await it later, and a failure in between
   * must not count as an unhandled rejection.)
   */
  send(peer: number, step: number, data: Uint8Array): Promise<void> {
    // No async wrappers: a small send finishes at once and returns the shared DONE.
    if (this.#failure) return handled(Promise.reject(this.#failure));
    let ep: Endpoint, tag: bigint;
    try {
      ep = this.#link.endpoint(peer);
      tag = this.#tag(step, this.rank);
    } catch (e) {
      return handled(Promise.reject(e));
    }
    // tagSend reports bad input as a rejected promise, never by throwing.
    const p = ep.tagSend(tag, data);
    if (p === DONE) return p;
    return handled(p.catch((e) => {
      throw this.#peerFailed(peer, e);
    }));
  }

  /**
   * Receives message `step` of `peer` into `buf`, which it must fill exactly (a shorter
   * or longer message means the ranks disagree on the call: a `PeerError`). Marked
   * handled like {@link Call.send}.
   */
  recv(peer: number, step: number, buf: Uint8Array): Promise<void> {
    if (this.#failure) return handled(Promise.reject(this.#failure));
    let tag: bigint;
    try {
      tag = this.#tag(step, peer);
      // An endpoint to every peer we hear from, so that UCX's keep-alive watches it.
      this.#link.endpoint(peer);
    } catch (e) {
      return handled(Promise.reject(e));
    }
    this.#expect(peer);
    // tagRecv reports bad input as a rejected promise, never by throwing.
    return handled(
      this.#link.worker.tagRecv(tag, buf, { signal: this.#signal(), mask: RECV_MASK })
        .then((r) => {
          this.#received(peer);
          const noInfo = r.tag === 0n;
          return this.#verify(peer, buf, r.length, noInfo ? 0 : Number(r.tag >> 32n), noInfo);
        }, (e) => {
          this.#received(peer);
          if (truncated(e) && !this.#failure) return this.suspect(peer, this.#longer(peer));
          throw this.#recvFailed(peer, e);
        }),
    );
  }

  /**
   * Sends `data` to rank `to` and receives `buf.length` bytes from rank `from` into
   * `buf`, both as message `step`. The fast path of small messages: it spins on the
   * worker for up to the link's `spinNs` and returns `undefined` when both finished
   * meanwhile (no promise at all); else a promise of both (marked handled like
   * {@link Call.send}).
   */
  exchange(
    step: number,
    to: number,
    data: Uint8Array,
    from: number,
    buf: Uint8Array,
  ): Promise<void> | undefined {
    if (this.#failure) return handled(Promise.reject(this.#failure));
    const link = this.#link;
    let op: Request;
    let sent: Promise<void>;
    try {
      const ep = link.endpoint(to);
      if (from !== to) link.endpoint(from); // so that UCX's keep-alive watches it
      op = tagRecvRequest(link.worker, this.#tag(step, from), RECV_MASK, buf, this.what);
      sent = ep.tagSend(this.#tag(step, this.rank), data);
      spinOn(link.worker, op, link.spinNs, link.yieldCpu);
    } catch (e) {
      return handled(Promise.reject(e));
    }
    if (op.done && sent === DONE) {
      if (op.failed) {
        if (truncated(op.error) && !this.#failure) return this.suspect(from, this.#longer(from));
        return handled(Promise.reject(this.#recvFailed(from, op.error)));
      }
      const r = op.result!;
      return this.#verify(from, buf, r.length, r.tagHi, r.tagLo === 0 && r.tagHi === 0);
    }
    this.#expect(from);
    const got = settle(link.worker, op, this.#signal()).then((r: OpResult) => {
      this.#received(from);
      return this.#verify(from, buf, r.length, r.tagHi, r.tagLo === 0 && r.tagHi === 0);
    }, (e) => {
      this.#received(from);
      if (truncated(e) && !this.#failure) return this.suspect(from, this.#longer(from));
      throw this.#recvFailed(from, e);
    });
    const out = sent === DONE ? got : Promise.all([
      got,
      sent.catch((e) => {
        throw this.#peerFailed(to, e);
      }),
    ]);
    return handled(out as Promise<void>);
  }

  #signal(): AbortSignal {
    return (this.#ac ??= new AbortController()).signal;
  }

  /**
   * A received message must carry this call's signature (`tagHi`: the high half of its
   * tag) and fill `buf` exactly; else the ranks disagree on the call, and the call
   * becomes a suspected mismatch (see {@link Call.suspect}): the result is a promise
   * that only the call's failure settles. `noInfo`: UCX 1.12 leaves the receive info
   * unset when a receive completes at once (the message was already there): length and
   * tag read 0 although the data landed, and only a longer message is then detected
   * (EMSGSIZE), not a shorter one.
   */
  #verify(
    peer: number,
    buf: Uint8Array,
    length: number,
    tagHi: number,
    noInfo: boolean,
  ): Promise<void> | undefined {
    if (!noInfo && (tagHi & (SIG_SPAN - 1)) !== this.#sigHash) {
      return this.suspect(
        peer,
        `rank ${peer} sent a message of call #${this.seq} that belongs to another ` +
          `collective or other arguments than this rank's ${this.#mine()}`,
      );
    }
    const got = length === 0 && noInfo ? buf.length : length;
    if (got === buf.length) return undefined;
    return this.suspect(
      peer,
      `rank ${peer} sent ${got} bytes where ${buf.length} were expected by this rank's ` +
        `${this.#mine()} (do all ranks call the same collectives with the same lengths ` +
        `and roots?)`,
    );
  }

  #longer(peer: number): string {
    return `rank ${peer} sent a longer message than this rank's ${this.#mine()} expected ` +
      `(do all ranks call the same collectives with the same lengths and roots?)`;
  }

  #mine(): string {
    return this.sig?.describe() ?? this.what;
  }

  /**
   * A message of `peer` does not match this call: tells every rank (a notice with this
   * rank's signature) and waits up to {@link GRACE_MS} for `peer`'s notice, which names
   * what it called; then fails with `fallback`. The promise never settles by itself
   * (the call's failure ends the wait); it is marked handled.
   */
  suspect(peer: number, fallback: string): Promise<void> {
    if (!this.#failure) {
      this.#tell(MISMATCH, peer, fallback);
      this.#armGrace(peer, fallback);
    }
    return handled(new Promise<void>(() => {}));
  }

  #armGrace(peer: number, text: string): void {
    if (this.#grace !== undefined || this.#failure) return;
    this.#grace = setTimeout(() => {
      this.#grace = undefined;
      this.fail(new MismatchError(`${this.what}: ${text}`, peer, this.#mine(), null));
    }, GRACE_MS);
  }

  /** Whether this call has told the other ranks about itself (see {@link Call.beacon}). */
  get told(): boolean {
    return this.#told;
  }

  /**
   * The call has waited long: tells the other ranks what it is, so that ranks which
   * called something else say so (a mismatch no message reveals).
   */
  beacon(): void {
    if (!this.#failure) this.#tell(WAITING, -1, "");
  }

  /** Sends this call's notice to the other ranks (once per call). */
  #tell(reason: number, suspect: number, text: string): void {
    if (this.#told || this.size === 1) return;
    this.#told = true;
    const n: Notice = {
      who: this.#link.groupRank,
      comm: this.comm,
      seq: this.seq,
      rank: this.rank,
      reason,
      suspect,
      sig: this.sig,
      text,
    };
    try {
      this.#link.tell(encodeNotice(n));
    } catch { /* the worker is closed: nobody to tell */ }
  }

  /** This call was rejected locally with `e`: tells the other ranks, which fail it too. */
  reject(e: unknown): void {
    const text = e instanceof Error ? e.message : String(e);
    this.#tell(REJECTED, -1, text);
    this.#failure ??= e instanceof PeerError ? e : new PeerError(text, { cause: e });
  }

  /** A notice of another rank about this call arrived: fails it as the notice says. */
  notice(n: Notice): void {
    if (this.#failure) return;
    if (n.reason === REJECTED) {
      this.fail(new PeerRejectedError(this.what, n.rank, n.text));
      return;
    }
    const mine = this.sig;
    if (n.sig !== null && mine !== null && !n.sig.equals(mine)) {
      this.fail(
        new MismatchError(
          `${this.what}: ${mismatchText(n.rank, n.sig, this.rank, mine)}`,
          n.rank,
          mine.describe(),
          n.sig.describe(),
        ),
      );
      // So that the sender (and every other rank) can name this rank's call.
      this.#tell(MISMATCH, n.rank, mismatchText(n.rank, n.sig, this.rank, mine));
      return;
    }
    if (n.reason === WAITING) return; // the same call, just slow
    // The sender called what this rank called and found a message of rank `suspect`
    // mismatching: that rank's own notice names its call; fail without it after a while.
    const who = n.suspect >= 0 ? n.suspect : n.rank;
    this.#armGrace(who, `rank ${n.rank} reported: ${n.text}`);
  }
  #recvFailed(peer: number, e: unknown): PluvioError {
    return this.#failure ?? this.#peerFailed(peer, e);
  }

  #expect(peer: number): void {
    const m = this.waiting;
    m.set(peer, (m.get(peer) ?? 0) + 1);
  }

  #received(peer: number): void {
    const m = this.waiting;
    const w = m.get(peer)! - 1;
    if (w === 0) m.delete(peer);
    else m.set(peer, w);
  }

  #peerFailed(peer: number, e: unknown): PluvioError {
    if (e instanceof PeerError || e instanceof CancelledError || e instanceof TimeoutError) {
      if (e instanceof PeerError && !e.message.includes(`rank ${peer}`)) {
        return new PeerError(`${this.what}: rank ${peer} failed: ${e.message}`, { cause: e });
      }
      return e;
    }
    if (truncated(e)) {
      return new PeerError(
        `${this.what}: rank ${peer} sent a longer message than expected ` +
          `(do all ranks call the same collectives with the same lengths and roots?)`,
        { cause: e },
      );
    }
    return new PeerError(`${this.what}: message with rank ${peer} failed`, { cause: e });
  }

  /** Scratch bytes for this call (returned to the pool when it succeeds). */
  scratch(bytes: number): Uint8Array {
    const b = this.#link.takeScratch(bytes);
    (this.#scratch ??= []).push(b);
    return new Uint8Array(b, 0, bytes);
  }

  /** `dst op= src` over the elements of two equally long byte ranges. */
  reduce(op: ReduceOp, d: DType, dst: Uint8Array, src: Uint8Array): void {
    reduceBytes(op, d, dst, src);
  }

  /** Registers who hears about the failure (the communicator's race). */
  onFail(f: (e: PluvioError) => void): void {
    if (this.#failure) f(this.#failure);
    else this.#onFail = f;
  }

  /**
   * Ends the call with `e`: outstanding receives are cancelled; sends finish on their
   * own (UCX cannot withdraw them) and keep their buffers referenced until then.
   */
  fail(e: PluvioError): void {
    if (this.#failure) return;
    this.#failure = e;
    if (this.#grace !== undefined) clearTimeout(this.#grace);
    this.#scratch = null; // a cancelled receive may still be writing: never reuse
    this.#ac?.abort(e);
    this.#onFail?.(e);
  }

  /** Ends the call with a `TimeoutError` naming the ranks it still waits for. */
  expire(): void {
    const who = [...this.waiting.keys()];
    this.fail(
      new TimeoutError(
        `${this.what}: no result within ${this.timeoutMs} ms` +
          (who.length ? ` (still waiting for rank(s) ${who.join(", ")})` : ""),
      ),
    );
  }

  /** Returns the scratch memory after success. */
  finish(): void {
    const list = this.#scratch;
    if (this.#failure || list === null) return;
    for (let i = 0; i < list.length; i++) this.#link.giveScratch(list[i]);
    this.#scratch = null;
  }
}

/** Whether `e` says a message was longer than its receive buffer. */
function truncated(e: unknown): boolean {
  return !!e && typeof e === "object" && "code" in e && (e.code === "EMSGSIZE" || e.code === "E90");
}

/** Marks `p` handled (it is awaited later; a failure in between is no unhandled rejection). */
function handled<T>(p: Promise<T>): Promise<T> {
  p.catch(() => {});
  return p;
}

/** Element-aligned block `i` of `p` over `n` elements, as byte offsets. */
export function blockBytes(n: number, p: number, i: number, bytes: number): [number, number] {
  return [Math.floor(i * n / p) * bytes, Math.floor((i + 1) * n / p) * bytes];
}

/** All `p` blocks of {@link blockBytes}. */
export function blocks(n: number, p: number, bytes: number): [number, number][] {
  const out: [number, number][] = [];
  for (let i = 0; i < p; i++) out.push(blockBytes(n, p, i, bytes));
  return out;
}

/** `x mod p` in `0..p-1`. */
export function mod(x: number, p: number): number {
  return ((x % p) + p) % p;
}
