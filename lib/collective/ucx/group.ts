/**
 * What the communicators sharing one worker share: endpoints (connected on first use),
 * scratch memory, communicator ids, and the liveness of the ranks.
 *
 * Liveness: UCX reports a dead peer on our endpoint to it (keep-alive). A rank that
 * leaves normally sends a goodbye first, so its endpoint's later error is not taken for
 * a crash. A rank that notices a crash tells every other rank (a control message), so
 * ranks that never talked to the dead one fail too instead of waiting for a timeout.
 * Control messages use the last communicator id; they are picked up by the watchdog
 * that runs while calls are in flight.
 *
 * Timers are shared, not per call (a Node-compatible timer costs ~1.5 µs to create and
 * clear, more than a small collective's own work): one deadline timer armed for the
 * earliest deadline, and one watchdog interval that stops itself once idle.
 *
 * @module
 */
import { PeerError, type PluvioError } from "../../errors.ts";
import type { Context, Endpoint, Worker } from "../../ucx/mod.ts";
import { type Call, MAX_COMMS, SEQ_SPAN } from "./call.ts";

/** How often in-flight calls look for dead peers and control messages. */
const WATCH_MS = 50;
const CTL = BigInt((MAX_COMMS - 1) * SEQ_SPAN) << 32n;
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
  readonly table: Uint8Array[];
  readonly eps: (Endpoint | undefined)[];
  readonly pool: ScratchPool = new ScratchPool();
  readonly calls: Set<Call> = new Set();
  readonly owned: { ctx: Context; worker: Worker };
  /** UCX peer-failure handling of the endpoints (see `UcxCommunicatorOptions`). */
  readonly errorHandling: "peer" | "none";
  nextComm = 1;
  /** How long small calls spin on the worker before waiting asynchronously (ns). */
  spinNs = 50_000;
  /** Whether that spin gives the CPU away (more ranks than cores). */
  yieldCpu = false;
  /** Why the group is broken (a rank died), or null. */
  dead: PluvioError | null = null;
  readonly #departed = new Set<number>();
  #timer: ReturnType<typeof setInterval> | undefined;
  #watching = false;
  /** The deadline timer (see {@link Group.track}) and the time it fires at. */
  #deadline: ReturnType<typeof setTimeout> | undefined;
  #deadlineAt = Infinity;

  constructor(
    worker: Worker,
    rank: number,
    table: Uint8Array[],
    owned: { ctx: Context; worker: Worker },
    errorHandling: "peer" | "none" = "peer",
  ) {
    this.errorHandling = errorHandling;
    this.worker = worker;
    this.rank = rank;
    this.table = table;
    this.eps = new Array(table.length);
    this.owned = owned;
  }

  endpoint(rank: number): Endpoint {
    return this.eps[rank] ??= this.worker.connectAddr(this.table[rank], {
      errorHandling: this.errorHandling,
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
    if (call.deadline < this.#deadlineAt) this.#armDeadline(call.deadline);
  }

  untrack(call: Call): void {
    this.calls.delete(call);
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

  /** Runs the watchdog while calls are in flight (it stops itself once none are). */
  startWatch(): void {
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
    this.#deadlineAt = Infinity;
  }

  async #watch(): Promise<void> {
    if (this.calls.size === 0) {
      // Idle since the last tick: stop (a per-call start/stop would cost more than it saves).
      clearInterval(this.#timer);
      this.#timer = undefined;
      return;
    }
    if (this.#watching) return;
    this.#watching = true;
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
    } finally {
      this.#watching = false;
    }
  }

  /** Takes one control message if one has arrived; false when there is none. */
  async #probe(): Promise<boolean> {
    const ac = new AbortController();
    const buf = new Uint8Array(8);
    let p: Promise<unknown>;
    try {
      p = this.worker.tagRecv(CTL, buf, { mask: CTL_MASK, signal: ac.signal });
    } catch {
      return false; // the worker is closed
    }
    ac.abort(); // nothing there: withdraw the receive (a message that raced in still lands)
    try {
      await p;
    } catch {
      return false;
    }
    // (UCX 1.12 leaves tag/length unset on immediate completion: the payload says all.)
    const v = new DataView(buf.buffer);
    const kind = v.getUint32(0, true), who = v.getUint32(4, true);
    if (kind === GOODBYE) this.#departed.add(who);
    else if (kind === DEAD && !this.dead && who !== this.rank && who < this.table.length) {
      this.#declareDead(who, new PeerError(`rank ${who} failed (reported by another rank)`), false);
    }
    return true;
  }

  #declareDead(r: number, e: PluvioError, tell: boolean): void {
    this.dead ??= e;
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

  /** Tells the peers we talked to that we leave on purpose (before closing endpoints). */
  async sayGoodbye(): Promise<void> {
    const msg = new Uint8Array(8);
    new DataView(msg.buffer).setUint32(0, GOODBYE, true);
    new DataView(msg.buffer).setUint32(4, this.rank, true);
    const sends: Promise<void>[] = [];
    this.eps.forEach((ep, q) => {
      if (ep && !ep.error && q !== this.rank) {
        sends.push(ep.tagSend(CTL | BigInt(this.rank), msg).catch(() => {}));
      }
    });
    await Promise.all(sends);
  }
}
