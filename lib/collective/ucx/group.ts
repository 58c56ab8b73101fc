/**
 * What the communicators sharing one worker share: endpoints (connected on first use),
 * scratch memory, communicator ids, and the liveness of the ranks.
 *
 * Liveness: UCX reports a dead peer on our endpoint to it (keep-alive), for endpoints
 * with peer-failure handling. Under `"auto"`, a peer on this host (same boot id and PID
 * namespace) is connected without it, so UCX may use shared memory, and its process is
 * watched through a pidfd instead (opened when the endpoint is first connected: the
 * ranks we exchange messages with are the ones we say goodbye to). A rank that leaves
 * normally sends a goodbye first, so its endpoint's later error, or its exit, is not
 * taken for a crash. A rank that notices a crash tells every other rank (a control
 * message), so ranks that never talked to the dead one fail too instead of waiting for a
 * timeout. Control messages use the last communicator id; while calls are in flight a
 * receive for them stays posted (withdrawn by the watchdog once idle), so a notice of a
 * failed call (`notice.ts`) is acted on within microseconds, and the watchdog probes
 * for them as well.
 *
 * Timers are shared, not per call (a Node-compatible timer costs ~1.5 µs to create and
 * clear, more than a small collective's own work): one deadline timer armed for the
 * earliest deadline, and one watchdog interval that stops itself once idle.
 *
 * @module
 */
import { PeerError, type PluvioError } from "../../errors.ts";
import { Pidfd } from "../../ffi/process.ts";
import type { Context, Endpoint, Worker } from "../../ucx/mod.ts";
import { progress } from "../../ucx/lowlevel.ts";
import { type Call, MAX_COMMS, SEQ_SPAN, SIG_SPAN } from "./call.ts";
import {
  CONTROL_BYTES,
  decodeNotice,
  encodeNotice,
  MISMATCH,
  NOTICE,
  type Notice,
} from "./notice.ts";
import type { Signature } from "../signature.ts";
import { type PeerRecord, sameHost } from "./peer.ts";
import { type Topology, topologyOf } from "./topology.ts";

/** How endpoints handle a dead peer (see `UcxCommunicatorOptions.errorHandling`). */
export type UcxErrorHandling = "auto" | "peer" | "none";

/** How often in-flight calls look for dead peers and control messages. */
const WATCH_MS = 50;
/** After how long a waiting call tells the other ranks what it is (`Call.beacon`). */
const BEACON_MS = 200;
/** Finished calls whose signatures are kept, to answer a beacon. */
const RECENT = 64;
const CTL = BigInt((MAX_COMMS - 1) * SEQ_SPAN * SIG_SPAN) << 32n;
const CTL_MASK = 0xffff_ffff_ffff_0000n;
const GOODBYE = 0, DEAD = 1;

/** Scratch buffers kept per size class (powers of two from 64 B). */
class ScratchPool {
  #free: ArrayBuffer[][] = [];
  take(bytes: number): ArrayBuffer {
    const k = bytes <= 64
      ? 6
      : bytes > 2 ** 31
      ? Math.ceil(Math.log2(bytes))
      : 32 - Math.clz32(bytes - 1);
    return this.#free[k]?.pop() ?? new ArrayBuffer(2 ** k);
  }
  give(b: ArrayBuffer): void {
    const k = Math.round(Math.log2(b.byteLength));
    const list = this.#free[k] ??= [];
    if (list.length < 4) list.push(b);
  }
}

/** Shared state of the communicators over one worker. */
export class Group {
  readonly worker: Worker;
  readonly rank: number;
  /** Every rank's worker address. */
  readonly table: Uint8Array[];
  readonly eps: (Endpoint | undefined)[];
  readonly pool: ScratchPool = new ScratchPool();
  readonly calls: Set<Call> = new Set();
  /** The tracked calls by `comm * SEQ_SPAN + seq`, for notices. */
  readonly #byKey = new Map<number, Call>();
  /** Notices of calls this rank has not started yet, by `comm * SEQ_SPAN + seq`. */
  readonly pending: Map<number, Notice[]> = new Map();
  /** The next sequence number of each communicator, by id. */
  readonly seq: number[] = [];
  /** Keys and signatures of the last finished calls (a ring of {@link RECENT}). */
  readonly #recentKey: number[] = new Array(RECENT).fill(-1);
  readonly #recentSig: (Signature | null)[] = new Array(RECENT).fill(null);
  readonly #recentRank: number[] = new Array(RECENT).fill(-1);
  /** The posted control receive (while calls are in flight), or null. */
  #ctl: AbortController | null = null;
  readonly owned: { ctx: Context; worker: Worker };
  /** Which ranks share a host (from the bootstrap records). */
  readonly topology: Topology;
  /** How endpoints handle a dead peer (see `UcxCommunicatorOptions.errorHandling`). */
  readonly errorHandling: UcxErrorHandling;
  nextComm = 1;
  /** How long small calls spin on the worker before waiting asynchronously (ns). */
  readonly spinNs: number;
  /**
   * Whether that spin gives the CPU away: ranks on this host share its cores, and with
   * more of them than cores a spin would starve the very peer it waits for.
   */
  readonly yieldCpu: boolean;
  /** Why the group is broken (a rank died), or null. */
  dead: PluvioError | null = null;
  readonly #peers: PeerRecord[];
  readonly #host: Uint8Array;
  /** Pidfds of the peers connected without UCX peer-failure handling under "auto". */
  readonly #pidfds: (Pidfd | undefined)[];
  readonly #departed = new Set<number>();
  /** Ranks known to have died (noticed here or reported by another rank). */
  readonly #lost = new Set<number>();
  #timer: ReturnType<typeof setInterval> | undefined;
  #watching = false;
  /** The deadline timer (see {@link Group.track}) and the time it fires at. */
  #deadline: ReturnType<typeof setTimeout> | undefined;
  #deadlineAt = Infinity;

  /**
   * `peers` are every rank's bootstrap records and `host` this rank's host identity
   * (empty when unknown: then no peer counts as local for the error handling, and every
   * rank counts as local for the CPU sharing of the spin).
   */
  constructor(
    worker: Worker,
    rank: number,
    peers: PeerRecord[],
    owned: { ctx: Context; worker: Worker },
    errorHandling: UcxErrorHandling = "peer",
    host: Uint8Array = new Uint8Array(0),
    spinNs = 50_000,
  ) {
    this.spinNs = spinNs;
    const local = host.length === 0
      ? peers.length
      : peers.filter((p) => sameHost(p.host, host)).length;
    this.yieldCpu = local > navigator.hardwareConcurrency;
    this.errorHandling = errorHandling;
    this.worker = worker;
    this.rank = rank;
    this.#peers = peers;
    this.#host = host;
    this.table = peers.map((p) => p.address);
    this.eps = new Array(peers.length);
    this.#pidfds = new Array(peers.length);
    this.owned = owned;
    this.topology = topologyOf(peers.map((p) => p.host));
  }

  endpoint(rank: number): Endpoint {
    return this.eps[rank] ?? this.#connect(rank);
  }

  #connect(rank: number): Endpoint {
    const errorHandling = this.#mode(rank);
    try {
      return this.eps[rank] = this.worker.connectAddr(this.table[rank], { errorHandling });
    } catch (e) {
      this.#pidfds[rank]?.close();
      this.#pidfds[rank] = undefined;
      throw e;
    }
  }

  /** The UCX error handling of a new endpoint to `rank` (opening its pidfd under "auto"). */
  #mode(rank: number): "peer" | "none" {
    if (this.errorHandling !== "auto") return this.errorHandling;
    if (rank === this.rank) return "none"; // ourselves: nothing to watch
    const p = this.#peers[rank];
    if (!sameHost(this.#host, p.host)) return "peer";
    if (this.#pidfds[rank] === undefined) {
      try {
        this.#pidfds[rank] = Pidfd.open(p.pid);
      } catch {
        return "peer"; // gone already (ESRCH), not allowed (EPERM), no pidfds (ENOSYS)
      }
    }
    return "none";
  }

  /** Closes the pidfds (the communicators are closed). */
  closePidfds(): void {
    this.#pidfds.forEach((f, r) => {
      this.#pidfds[r] = undefined;
      try {
        f?.close();
      } catch { /* already closed */ }
    });
  }

  /**
   * Counts `call` in flight and makes sure its deadline is enforced. The deadline timer
   * is re-armed only for an earlier deadline; calls in a row with the same timeout
   * share it (when it fires early for them, it re-arms for the earliest left). It keeps
   * the process alive only while calls are in flight.
   */
  track(call: Call): void {
    const t = this.#deadline;
    if (this.calls.size === 0 && t !== undefined) Deno.refTimer(t as unknown as number);
    this.calls.add(call);
    this.#byKey.set(call.comm * SEQ_SPAN + call.seq, call);
    if (call.deadline < this.#deadlineAt) this.#armDeadline(call.deadline);
  }

  untrack(call: Call): void {
    this.calls.delete(call);
    this.#byKey.delete(call.comm * SEQ_SPAN + call.seq);
    const t = this.#deadline;
    if (this.calls.size === 0 && t !== undefined) Deno.unrefTimer(t as unknown as number);
  }

  #armDeadline(at: number): void {
    if (this.#deadline !== undefined) clearTimeout(this.#deadline);
    this.#deadlineAt = at;
    this.#deadline = setTimeout(this.#onDeadline, Math.max(0, at - performance.now()));
    if (this.calls.size === 0) Deno.unrefTimer(this.#deadline as unknown as number);
  }

  readonly #onDeadline = (): void => {
    this.#deadline = undefined;
    this.#deadlineAt = Infinity;
    const now = performance.now();
    let next = Infinity;
    for (const c of [...this.calls]) {
      if (c.deadline <= now) c.expire();
      else if (c.deadline < next) next = c.deadline;
    }
    if (next !== Infinity) this.#armDeadline(next);
  };

  /** Sends control message `msg` to group rank `q` (failures ignored: it may be gone). */
  sendControl(q: number, msg: Uint8Array): void {
    if (q === this.rank || this.#lost.has(q)) return;
    try {
      this.endpoint(q).tagSend(CTL | BigInt(this.rank), msg).catch(() => {});
    } catch { /* that peer is gone */ }
  }

  /** Whether the control receive is posted (it counts in the worker's `inflight`). */
  get controlPosted(): boolean {
    return this.#ctl !== null;
  }

  /**
   * Applies the notices that arrived for `call` before this rank started it (the
   * communicator calls this for every new call while any are pending).
   */
  applyPending(call: Call): void {
    const key = call.comm * SEQ_SPAN + call.seq;
    const list = this.pending.get(key);
    if (list === undefined) return;
    this.pending.delete(key);
    for (const n of list) call.notice(n);
  }

  /** Remembers what a finished call was (to answer a beacon about it). */
  remember(call: Call): void {
    const i = call.seq % RECENT;
    this.#recentKey[i] = call.comm * SEQ_SPAN + call.seq;
    this.#recentSig[i] = call.sig;
    this.#recentRank[i] = call.rank;
  }

  /**
   * Routes a notice to its call: in flight, not started yet (kept), or finished here
   * (then a sender whose call differs from the finished one gets this rank's signature).
   */
  #onNotice(n: Notice): void {
    if (n.comm >= MAX_COMMS || n.seq >= SEQ_SPAN) return;
    const key = n.comm * SEQ_SPAN + n.seq;
    const call = this.#byKey.get(key);
    if (call !== undefined) return call.notice(n);
    const next = this.seq[n.comm] ?? 0;
    if ((n.seq - next + SEQ_SPAN) % SEQ_SPAN >= SEQ_SPAN / 2) {
      const i = n.seq % RECENT;
      const sig = this.#recentSig[i];
      if (this.#recentKey[i] === key && sig && n.sig && !sig.equals(n.sig)) {
        const rank = this.#recentRank[i];
        this.sendControl(
          n.who,
          encodeNotice({
            ...n,
            who: this.rank,
            rank,
            reason: MISMATCH,
            suspect: -1,
            sig,
            text: "",
          }),
        );
      }
      return;
    }
    const list = this.pending.get(key);
    if (list) list.push(n);
    else this.pending.set(key, [n]);
  }

  /** Handles one control message (`length` 0: unknown, UCX 1.12's immediate completion). */
  #onControl(buf: Uint8Array, length: number): void {
    const v = new DataView(buf.buffer, buf.byteOffset, buf.byteLength);
    const kind = v.getUint32(0, true), who = v.getUint32(4, true);
    if (kind === GOODBYE) this.#departed.add(who);
    else if (kind === DEAD && !this.dead && who !== this.rank && who < this.table.length) {
      this.#declareDead(who, new PeerError(`rank ${who} failed (reported by another rank)`), false);
    } else if (kind === NOTICE) {
      const n = decodeNotice(buf, length || buf.length);
      if (n) this.#onNotice(n);
    }
  }

  /** Keeps a control receive posted (while calls are in flight: see {@link Group.startWatch}). */
  #postControl(): void {
    if (this.#ctl !== null) return;
    const ac = new AbortController();
    const buf = new Uint8Array(CONTROL_BYTES);
    let p: Promise<{ length: number }>;
    try {
      p = this.worker.tagRecv(CTL, buf, { mask: CTL_MASK, signal: ac.signal });
    } catch {
      return; // the worker is closed
    }
    this.#ctl = ac;
    p.then((r) => {
      if (this.#ctl === ac) this.#ctl = null;
      this.#onControl(buf, r.length);
      if (this.calls.size > 0 && !ac.signal.aborted) this.#postControl();
    }, () => {
      if (this.#ctl === ac) this.#ctl = null;
    });
  }

  /** Withdraws the control receive (a message that raced in is still handled). */
  stopControl(): void {
    const ac = this.#ctl;
    this.#ctl = null;
    ac?.abort();
  }

  /** Runs the watchdog while calls are in flight (it stops itself once none are). */
  startWatch(): void {
    if (this.#ctl === null) this.#postControl();
    if (this.#timer !== undefined) return;
    const t = setInterval(() => this.#watch(), WATCH_MS);
    Deno.unrefTimer(t as unknown as number);
    this.#timer = t;
  }

  /** Stops the timers (the communicators are closed). */
  stopTimers(): void {
    if (this.#timer !== undefined) clearInterval(this.#timer);
    if (this.#deadline !== undefined) clearTimeout(this.#deadline);
    this.#timer = this.#deadline = undefined;
    this.stopControl();
    this.#deadlineAt = Infinity;
  }

  async #watch(): Promise<void> {
    if (this.calls.size === 0) {
      // Idle since the last tick: stop (a per-call start/stop would cost more than it saves).
      clearInterval(this.#timer);
      this.#timer = undefined;
      this.stopControl();
      return;
    }
    if (this.#watching) return;
    this.#watching = true;
    const old = performance.now() - BEACON_MS;
    for (const c of this.calls) if (!c.told && c.since < old) c.beacon();
    try {
      // Control messages first: a goodbye explains an endpoint error that follows it.
      for (let k = 0; k < 64 && await this.#probe(); k++);
      for (let r = 0; r < this.eps.length; r++) {
        const e = this.eps[r]?.error;
        if (!e || this.#departed.has(r) || this.dead) continue;
        const err = new PeerError(`rank ${r} failed or became unreachable: ${e.message}`, {
          cause: e,
        });
        this.#declareDead(r, err, true);
      }
      await this.#checkPidfds();
    } finally {
      this.#watching = false;
    }
  }

  /**
   * Declares dead a watched peer whose process exited without its goodbye. Before that,
   * progresses the worker and takes the control messages once more: a goodbye sent just
   * before the exit may still sit in the shared-memory queue.
   */
  async #checkPidfds(): Promise<void> {
    const exited = (r: number): boolean => {
      const f = this.#pidfds[r];
      if (!f || this.#departed.has(r)) return false;
      try {
        return f.exited();
      } catch {
        return false; // closed meanwhile
      }
    };
    if (this.dead || !this.#pidfds.some((_, r) => exited(r))) return;
    try {
      progress(this.worker);
    } catch { /* the worker is closed */ }
    for (let k = 0; k < 64 && await this.#probe(); k++);
    for (let r = 0; r < this.#pidfds.length; r++) {
      if (this.dead || !exited(r)) continue;
      const pid = this.#peers[r].pid;
      this.#declareDead(
        r,
        new PeerError(`rank ${r} (pid ${pid}, this host) exited without leaving the group`),
        true,
      );
    }
  }

  /** Takes one control message if one has arrived; false when there is none. */
  async #probe(): Promise<boolean> {
    const ac = new AbortController();
    const buf = new Uint8Array(CONTROL_BYTES);
    let p: Promise<{ length: number }>;
    try {
      p = this.worker.tagRecv(CTL, buf, { mask: CTL_MASK, signal: ac.signal });
    } catch {
      return false; // the worker is closed
    }
    ac.abort(); // nothing there: withdraw the receive (a message that raced in still lands)
    let length: number;
    try {
      length = (await p).length;
    } catch {
      return false;
    }
    // (UCX 1.12 leaves tag/length unset on immediate completion: the payload says all.)
    this.#onControl(buf, length);
    return true;
  }

  #declareDead(r: number, e: PluvioError, tell: boolean): void {
    this.dead ??= e;
    this.#lost.add(r);
    for (const c of [...this.calls]) c.fail(new PeerError(`${c.what}: ${e.message}`, { cause: e }));
    if (!tell) return;
    const msg = new Uint8Array(8);
    new DataView(msg.buffer).setUint32(0, DEAD, true);
    new DataView(msg.buffer).setUint32(4, r, true);
    for (let q = 0; q < this.table.length; q++) {
      if (q === this.rank || q === r) continue;
      try {
        this.endpoint(q).tagSend(CTL | BigInt(this.rank), msg).catch(() => {});
      } catch { /* that peer is gone too */ }
    }
  }

  /**
   * Consumes the control messages (goodbyes, failure notices) that have arrived, so a
   * worker closed after its peers left holds no unmatched messages (UCX warns about them).
   */
  async drainControl(): Promise<void> {
    for (let k = 0; k < 256 && await this.#probe(); k++);
  }

  /**
   * Drains control messages until every rank in `peers` has said goodbye or `ms` passed
   * (peers that close later would otherwise leave their goodbye unmatched at UCX).
   */
  async awaitGoodbyes(peers: number[], ms: number): Promise<void> {
    const until = performance.now() + ms;
    for (;;) {
      await this.drainControl();
      if (peers.every((p) => this.#departed.has(p)) || performance.now() >= until) return;
      await new Promise((r) => setTimeout(r, 1));
    }
  }

  /**
   * Tells the peers we talked to that we leave on purpose (before closing endpoints).
   * Skips the ranks known to be dead (a send to a dead process over shared memory may
   * never complete) and gives up on the others after `ms`.
   */
  async sayGoodbye(ms: number): Promise<void> {
    const msg = new Uint8Array(8);
    new DataView(msg.buffer).setUint32(0, GOODBYE, true);
    new DataView(msg.buffer).setUint32(4, this.rank, true);
    const sends: Promise<void>[] = [];
    this.eps.forEach((ep, q) => {
      if (!ep || ep.error || q === this.rank || this.#lost.has(q)) return;
      try {
        if (this.#pidfds[q]?.exited()) return;
      } catch { /* closed: say goodbye anyway */ }
      sends.push(ep.tagSend(CTL | BigInt(this.rank), msg).catch(() => {}));
    });
    if (sends.length === 0) return;
    let t: ReturnType<typeof setTimeout> | undefined;
    await Promise.race([
      Promise.all(sends),
      new Promise((r) => t = setTimeout(r, ms)),
    ]);
    clearTimeout(t);
  }
}
