/**
 * The Runtime: the TypeScript counterpart of Pluvio's executor.
 *
 * Tasks are async functions; the executor is the loop that polls reactors with work
 * (resolving the promises tasks await) and backs off when idle by one adaptive policy
 * (`idle_policy.ts`): it spins for as long as recent completions suggest, then yields to
 * the macrotask queue, then parks at ~zero CPU on the reactors' fds and the next timer
 * deadline, waking early by the recent wake latency so that timers fire on time. A timer
 * deadline at most 1 ms away is waited for blocked on the JS thread itself (one kernel
 * wake-up instead of the notifier thread's two, which keeps timers on time when other
 * processes compete for the cores), also early by its learnt lead. While busy it still
 * yields to the event loop at least every millisecond (a spin to a timer deadline ends
 * first), so other timers and I/O in the process keep running.
 *
 * @module
 */
import { setImmediate } from "node:timers";
import { InvalidArgumentError, QueueFullError, RuntimeStateError } from "../errors.ts";
import { check, coreLib } from "../ffi/library.ts";
import { TimerReactor } from "../timer/reactor.ts";
import { nowMs } from "./clock.ts";
import { maybeCurrentRuntime, setCurrentRuntime } from "./current.ts";
import { type IdleConfig, idleConfigFromEnv } from "./idle.ts";
import { SpinBudget } from "./idle_policy.ts";
import { type Parker, parkerFor } from "./park.ts";
import type { Reactor } from "./reactor.ts";
import { type JoinHandle, type SpawnOptions, type TaskFn, type TaskOwner, tasks } from "./task.ts";

/** Options of `new Runtime()`. */
export interface RuntimeOptions {
  /**
   * The most tasks that may be alive at once (Pluvio's task queue size). Spawning past
   * it throws {@link QueueFullError}; nothing waits silently. Default 1 << 20.
   */
  queueSize?: number;
  /** Overrides the `PLUVIO_IDLE_*` environment settings. */
  idle?: Partial<IdleConfig>;
  /**
   * Called for a task that failed while nobody awaited its handle, when the run ends.
   * Default: prints the error with the task's name to stderr.
   */
  onUnobservedError?: (error: unknown, task: { id: number; name: string }) => void;
}

/** Options of `runtime.run()`. */
export interface RunOptions {
  /** The main task's name (default `"main"`). */
  name?: string;
}

/** Per-reactor counters in {@link RuntimeStats}. */
export interface ReactorStats {
  /** Times the executor polled it. */
  polls: number;
  /** Completions it dispatched. */
  completions: number;
  /** Operations in flight now. */
  inFlight: number;
}

/** A snapshot of the runtime's counters. */
export interface RuntimeStats {
  /** Task counters. */
  tasks: { spawned: number; running: number; completed: number; failed: number; cancelled: number };
  /** Per-reactor counters, by registered name. */
  reactors: Record<string, ReactorStats>;
  /** Executor counters. */
  executor: {
    /** Executor loop turns. */
    turns: number;
    /** Yields to the macrotask queue. */
    yields: number;
    /** Parks (native, with reactor fds / deadlines, or JS-only when nothing is in flight). */
    parks: number;
    /** Parks ended by the native notifier. */
    nativeWakes: number;
    /** Median park→wake latency of recent native wakes (notifier fire → JS), µs. */
    wakeLatencyP50Us: number;
    /** Median lateness of recent deadline wake-ups (armed deadline → JS), µs. */
    deadlineLateP50Us: number;
    /** Time spent parked, ms. */
    parkedMs: number;
    /** Parks ended by the watchdog because a native wake-up never came (should be 0). */
    watchdogWakes: number;
    /** Idle periods in which the executor busy-polled for a reactor's spin budget. */
    spins: number;
    /** Of those, spins that ran out of budget without the awaited completion. */
    spinMisses: number;
    /** Executor turns spent busy-polling (spin budgets and timer deadlines). */
    spinTurns: number;
    /** How early (µs) a park now wakes before a timer deadline (the timer's budget). */
    timerLeadUs: number;
    /** Parks spent blocked on the JS thread itself: timer waits of at most 1 ms. */
    blockingWaits: number;
    /** How early (µs) a blocking wait now ends before a timer deadline. */
    blockLeadUs: number;
  };
}

interface Entry {
  name: string;
  reactor: Reactor;
  active: boolean;
  polls: number;
  completions: number;
  /** Its `beforePark()` gives exact deadlines and it has a spin budget. */
  deadline: boolean;
  /** It wanted a spin when this idle period began: its next completion is a `hit`. */
  waiting: boolean;
  /** The executor is spinning on its behalf (a fruitless end is a `miss`). */
  spun: boolean;
}

const DEFAULT_QUEUE = 1 << 20;
/** Poll interval for reactors that have neither a park fd nor `beforePark`. */
const FALLBACK_POLL_NS = 100_000;

const yieldMacrotask = () => new Promise<void>((r) => setImmediate(r));

/**
 * The longest timer wait (ns) the executor spends blocked on the JS thread instead of
 * parking: the event loop's turn comes at least this often anyway (see `#drive`).
 */
const BLOCK_MAX_NS = 1_000_000;

/** How {@link Runtime} `#park` ended: not parked (a reactor must be polled now), parked, blocked. */
const NOT_PARKED = 0, PARKED = 1, BLOCKED = 2;
type ParkResult = typeof NOT_PARKED | typeof PARKED | typeof BLOCKED;

let blockLeadBudget: SpinBudget | null = null;

/**
 * The thread's lead for blocking waits: how late the kernel wakes this thread from one
 * (the thread's own wake-up only, so it is learnt apart from the doorbell park's lead).
 */
function blockLead(): SpinBudget {
  return blockLeadBudget ??= new SpinBudget({ deadline: true });
}

/** The executor: runs tasks and drives registered reactors. */
export class Runtime {
  /** The timer reactor, registered as `"timer"`. */
  readonly timer: TimerReactor = new TimerReactor();
  readonly #queueSize: number;
  readonly #idle: IdleConfig;
  readonly #onUnobserved: (error: unknown, task: { id: number; name: string }) => void;
  #entries = new Map<string, Entry>();
  #active: Entry[] = [];
  #live = 0;
  #nextId = 1;
  #running = false;
  #closed = false;
  /** Created at the first native park, which also registers the reactors' park fds. */
  #parker: Parker | null = null;
  #jsPark: (() => void) | null = null;
  #unobserved: JoinHandle<unknown>[] = [];
  /** Live tasks with an abort controller (a cancel-all aborts them; the rest lazily). */
  #watched = new Set<JoinHandle<unknown>>();
  #main: JoinHandle<unknown> | null = null;
  #counts = { spawned: 0, completed: 0, failed: 0, cancelled: 0 };
  #turns = 0;
  #yields = 0;
  #jsParks = 0;
  #activeDeadlines = 0;
  /** When the current idle period began (`nowMs()` ms). */
  #idleStart = 0;
  #spins = 0;
  #spinMisses = 0;
  #spinTurns = 0;

  /** Creates a runtime; see {@link RuntimeOptions}. */
  constructor(options: RuntimeOptions = {}) {
    const q = options.queueSize ?? DEFAULT_QUEUE;
    if (!Number.isInteger(q) || q < 1) {
      throw new InvalidArgumentError(`queueSize must be a positive integer, got ${q}`);
    }
    this.#queueSize = q;
    this.#idle = { ...idleConfigFromEnv(), ...options.idle };
    this.#onUnobserved = options.onUnobservedError ?? ((error, t) => {
      console.error(`pluvio: task "${t.name}" (#${t.id}) failed and nobody awaited it:`, error);
    });
    this.registerReactor("timer", this.timer);
  }

  /** The live-task bound. */
  get queueSize(): number {
    return this.#queueSize;
  }

  /** Whether `run()` is in progress. */
  get running(): boolean {
    return this.#running;
  }

  /** Pins the JS thread to `cpu` (`sched_setaffinity`); throws for a CPU that is not there. */
  setAffinity(cpu: number): void {
    if (!Number.isInteger(cpu) || cpu < 0) {
      throw new InvalidArgumentError(`cpu must be a non-negative integer, got ${cpu}`);
    }
    check(coreLib().pluvio_set_affinity(cpu), `pinning the thread to cpu ${cpu}`);
  }

  /** Registers `reactor` under `name`; a duplicate name throws. */
  registerReactor(name: string, reactor: Reactor): void {
    this.#assertOpen();
    if (this.#entries.has(name)) {
      throw new InvalidArgumentError(`a reactor named "${name}" is already registered`);
    }
    for (const e of this.#entries.values()) {
      if (e.reactor === reactor) {
        throw new InvalidArgumentError(`this reactor is already registered as "${e.name}"`);
      }
    }
    const entry: Entry = {
      name,
      reactor,
      active: false,
      polls: 0,
      completions: 0,
      deadline: reactor.deadlines === true && !!reactor.spin && !!reactor.beforePark,
      waiting: false,
      spun: false,
    };
    this.#entries.set(name, entry);
    reactor.attach?.({
      wake: () => this.#wake(entry),
      unregister: () => {
        if (this.#entries.get(name) === entry) this.#drop(entry);
      },
    });
    if (this.#parker && reactor.parkFd) this.#parker.addFd(reactor.parkFd.fd, reactor.parkFd.drain);
    if (reactor.status() > 0) this.#wake(entry);
  }

  /** Removes the reactor registered as `name` (it must have nothing in flight). */
  unregisterReactor(name: string): void {
    const e = this.#entries.get(name);
    if (!e) throw new InvalidArgumentError(`no reactor named "${name}" is registered`);
    if (e.reactor.status() > 0) {
      throw new RuntimeStateError(`reactor "${name}" still has operations in flight`);
    }
    this.#drop(e);
  }

  /** The reactor registered as `name`, if any. */
  reactor<R extends Reactor = Reactor>(name: string): R | undefined {
    return this.#entries.get(name)?.reactor as R | undefined;
  }

  #drop(e: Entry): void {
    this.#entries.delete(e.name);
    const i = this.#active.indexOf(e);
    if (i >= 0) {
      this.#active.splice(i, 1);
      if (e.deadline) this.#activeDeadlines--;
    }
    e.active = false;
    e.waiting = e.spun = false;
    if (this.#parker && e.reactor.parkFd) this.#parker.removeFd(e.reactor.parkFd.fd);
    e.reactor.detach?.();
  }

  #wake(e: Entry): void {
    if (!e.active) {
      e.active = true;
      this.#active.push(e);
      if (e.deadline) this.#activeDeadlines++;
    }
    this.#unpark();
  }

  #unpark(): void {
    const j = this.#jsPark;
    if (j !== null) {
      this.#jsPark = null;
      j();
    } else if (this.#parker?.parked) this.#parker.wake();
  }

  #assertOpen(): void {
    if (this.#closed) throw new RuntimeStateError("the runtime is closed");
  }

  /**
   * Spawns `fn` as a task (started on a microtask) and returns its {@link JoinHandle}.
   * Only while `run()` is in progress; throws {@link QueueFullError} past `queueSize`.
   */
  spawn<T>(fn: TaskFn<T>, options?: SpawnOptions): JoinHandle<T> {
    this.#assertOpen();
    if (!this.#running) {
      throw new RuntimeStateError("spawn() needs a running runtime: call it inside runtime.run()");
    }
    return this.#spawn(fn, options);
  }

  #spawn<T>(fn: TaskFn<T>, options: SpawnOptions | undefined): JoinHandle<T> {
    if (typeof fn !== "function") throw new InvalidArgumentError("spawn() takes a function");
    if (this.#live >= this.#queueSize) {
      throw new QueueFullError(
        `cannot spawn "${options?.name ?? "task"}": ${this.#live} tasks are alive and ` +
          `queueSize is ${this.#queueSize}`,
      );
    }
    const id = this.#nextId++;
    const task = tasks.create<T>(id, options?.name, this.#owner, fn);
    this.#live++;
    const t = task as JoinHandle<unknown>;
    this.#counts.spawned++;
    if (options?.signal) tasks.link(t, options.signal);
    // Started on a microtask, one per batch of spawns (each costs a closure otherwise).
    if (this.#starting.push(t) === 1) queueMicrotask(this.#startAll);
    return task;
  }

  #starting: JoinHandle<unknown>[] = [];
  readonly #startAll = () => {
    const q = this.#starting;
    // Tasks spawned by a starting task join this batch, after it (still not inline).
    for (let i = 0; i < q.length; i++) tasks.start(q[i]);
    q.length = 0;
  };

  readonly #owner: TaskOwner = {
    taskSettled: (t) => this.#taskSettled(t),
    watch: (t) => this.#watched.add(t),
    cancelBelow: 0,
    cancelReason: undefined,
  };

  #taskSettled(task: JoinHandle<unknown>): void {
    this.#live--;
    if (this.#watched.size !== 0) this.#watched.delete(task);
    const c = this.#counts;
    if (task.state === "completed") c.completed++;
    else if (task.state === "cancelled") c.cancelled++;
    else {
      c.failed++;
      if (task === this.#main) this.#cancelAll();
      else this.#unobserved.push(task);
    }
    if (this.#live === 0) this.#unpark();
  }

  #cancelAll(): void {
    // Main failed: the run is over, so ask every other task to stop.
    // Tasks without an abort controller see it lazily (TaskOwner.cancelBelow).
    const reason = new RuntimeStateError("the main task failed");
    this.#owner.cancelBelow = this.#nextId;
    this.#owner.cancelReason = reason;
    for (const t of [...this.#watched]) t.cancel(reason);
  }

  /**
   * Runs `main` as the first task and drives the executor until it and every task it
   * spawned have finished. Resolves with `main`'s result; rejects with its error (the
   * other tasks are then cancelled and awaited first).
   */
  async run<T>(main: TaskFn<T>, options: RunOptions = {}): Promise<T> {
    this.#assertOpen();
    if (maybeCurrentRuntime() !== null) {
      throw new RuntimeStateError("a pluvio runtime is already running on this thread");
    }
    setCurrentRuntime(this);
    this.#running = true;
    try {
      const task = this.#spawn(main, { name: options.name ?? "main" });
      this.#main = task as JoinHandle<unknown>;
      const result = tasks.promise(task);
      result.catch(() => {}); // observed below, after every task has finished
      await this.#drive();
      return await result;
    } finally {
      this.#running = false;
      this.#main = null;
      setCurrentRuntime(null);
      const un = this.#unobserved;
      this.#unobserved = [];
      for (const t of un) {
        if (!tasks.observed(t)) this.#onUnobserved(tasks.error(t), { id: t.id, name: t.name });
      }
    }
  }

  /**
   * Polls the reactors with work; returns whether the turn was busy: something completed,
   * or a reactor moved data without completing anything yet (`Reactor.active`).
   */
  #pollActive(): boolean {
    const act = this.#active;
    let busy = false;
    for (let i = 0; i < act.length;) {
      const e = act[i];
      const r = e.reactor;
      const c = r.poll();
      e.polls++;
      e.completions += c;
      if (c > 0) {
        busy = true;
        if (e.waiting) {
          e.waiting = e.spun = false;
          r.spin!.hit((nowMs() - this.#idleStart) * 1000);
        }
      } else if (r.active) busy = true;
      if (r.status() === 0) {
        e.active = false;
        e.waiting = e.spun = false;
        if (e.deadline) this.#activeDeadlines--;
        act[i] = act[act.length - 1];
        act.pop();
      } else i++;
    }
    return busy;
  }

  async #drive(): Promise<void> {
    const cfg = this.#idle;
    let idle = 0;
    let idlePeriod = false;
    let spinUntil = 0;
    let sleepAfter = cfg.sleepAfter;
    let spun = 0;
    let lastYield = nowMs();
    while (this.#live > 0) {
      this.#turns++;
      // A turn that moved data is busy too: backing off and parking mid-transfer would
      // stall a transfer that needs this side's progress.
      const busy = this.#active.length > 0 && this.#pollActive();
      if (busy) {
        idle = 0;
        idlePeriod = false;
        spinUntil = 0;
        if (nowMs() - lastYield >= 1) {
          // Event-loop citizenship: let timers and I/O of other code run.
          this.#yields++;
          await yieldMacrotask();
          lastYield = nowMs();
        } else await null;
        continue;
      }
      if (this.#active.length === 0) {
        // Nothing in flight: tasks wait on plain JS promises; sleep until one of them
        // submits work, spawns, or finishes.
        idlePeriod = false;
        spinUntil = 0;
        await this.#parkJs();
        idle = 0;
        continue;
      }
      if (!idlePeriod) {
        idlePeriod = true;
        spinUntil = this.#beginIdle();
        sleepAfter = this.#sleepAfter();
        spun = 0;
      }
      idle++;
      let spinning = false;
      if (spinUntil !== 0 && (++spun & 3) !== 0) {
        // Within a reactor's spin budget the clock is read on every 4th turn only: a read
        // is a third of a busy-poll turn, on the latency path of the awaited completion.
        spinning = true;
      } else if (spinUntil !== 0 || this.#activeDeadlines > 0) {
        const now = nowMs();
        // Spinning the last lead to a timer deadline is not interrupted: the event loop's
        // turn comes right after the timer fired.
        const toDeadline = this.#activeDeadlines > 0 && this.#deadlineWithinLead();
        if (!toDeadline && now - lastYield >= 1) {
          this.#yields++;
          await yieldMacrotask();
          lastYield = nowMs();
          continue;
        }
        if (spinUntil !== 0) {
          if (now < spinUntil) spinning = true;
          else {
            this.#endSpin();
            spinUntil = 0;
          }
        }
        if (toDeadline) spinning = true;
        // Reading the clock costs ~50 ns: on other idle turns (which are short) only every 16th.
      } else if ((this.#turns & 15) === 0 && nowMs() - lastYield >= 1) {
        this.#yields++;
        await yieldMacrotask();
        lastYield = nowMs();
        continue;
      }
      if (spinning) {
        this.#spinTurns++;
        idle = 0;
        await null;
      } else if (idle <= cfg.yieldAfter && idle <= sleepAfter) {
        await null;
      } else if (idle <= sleepAfter || cfg.park === "off") {
        this.#yields++;
        await yieldMacrotask();
        lastYield = nowMs();
      } else {
        const t = nowMs();
        // A park is a macrotask wait; a blocking wait (≤ 1 ms) gave the event loop no turn
        // (the one before it counts); a reactor that refused to park (beforePark 0) neither.
        const how = await this.#park();
        if (how === PARKED) lastYield = nowMs();
        else if (how === BLOCKED) lastYield = t;
        idle = 0;
      }
    }
  }

  /** The spin cap of this runtime (µs). */
  #cap(budget: number): number {
    const c = this.#idle.spinUs;
    return budget < c ? budget : c;
  }

  /**
   * Starts an idle period: marks the reactors that want a spin and returns until when
   * (`nowMs()` ms) to busy-poll for them, 0 for not at all.
   */
  #beginIdle(): number {
    let until = 0;
    let now = 0;
    for (const e of this.#active) {
      const r = e.reactor;
      e.waiting = e.spun = false;
      if (r.spin && r.wantsSpin?.()) {
        if (now === 0) now = nowMs();
        r.spin.settle();
        e.waiting = true;
        const b = this.#cap(r.spin.budgetUs());
        if (b > 0) {
          e.spun = true;
          const u = now + b / 1000;
          if (u > until) until = u;
        }
      }
    }
    if (now !== 0) this.#idleStart = now;
    if (until !== 0) this.#spins++;
    return until;
  }

  /**
   * Idle turns before parking in this idle period: the largest `Reactor.parkAfter` of the
   * reactors with work (deadline reactors wake early on their own), a reactor without
   * one counting as `sleepAfter`, which also caps it.
   */
  #sleepAfter(): number {
    const cap = this.#idle.sleepAfter;
    let turns = -1;
    for (const e of this.#active) {
      if (e.deadline) continue;
      const t = e.reactor.parkAfter;
      if (t === undefined || !(t < cap)) return cap;
      if (t > turns) turns = t;
    }
    return turns < 0 ? cap : turns;
  }

  /** The spin ran out: a `miss` for every reactor it was for. */
  #endSpin(): void {
    let missed = false;
    for (const e of this.#active) {
      if (e.spun) {
        e.spun = false;
        e.reactor.spin!.miss();
        missed = true;
      }
    }
    if (missed) this.#spinMisses++;
  }

  /**
   * Whether a deadline reactor's next deadline is within its wake lead (spin to it): the
   * larger of its park lead and the blocking-wait lead, since either may have ended the
   * wait early.
   */
  #deadlineWithinLead(): boolean {
    const b = blockLead().budgetUs();
    for (const e of this.#active) {
      if (!e.deadline) continue;
      const t = e.reactor.beforePark!();
      const l = e.reactor.spin!.budgetUs();
      if (t <= this.#cap(l > b ? l : b) * 1000) return true;
    }
    return false;
  }

  #parkJs(): Promise<void> {
    this.#jsParks++;
    return new Promise<void>((r) => this.#jsPark = r);
  }

  /**
   * Parks until a reactor fd, the next deadline (early by the wake lead) or a JS wake-up,
   * unless a reactor must be polled now ({@link NOT_PARKED}). A timer deadline within
   * {@link BLOCK_MAX_NS} is waited for blocked on the JS thread instead (see
   * `Parker.block`, {@link BLOCKED}).
   */
  async #park(): Promise<ParkResult> {
    let timeout = Infinity;
    let leader: Entry | null = null;
    /** The leader's deadline (ns from now), and the earliest wake-up of the others. */
    let due = Infinity;
    let other = Infinity;
    for (const e of this.#active) {
      const r = e.reactor;
      const raw = r.beforePark ? r.beforePark() : (r.parkFd ? Infinity : FALLBACK_POLL_NS);
      if (raw <= 0) return NOT_PARKED;
      const timed = e.deadline && raw !== Infinity;
      // Wake early by the recent wake lateness; the executor spins the rest.
      const t = timed ? raw - this.#cap(r.spin!.budgetUs()) * 1000 : raw;
      if (t <= 0) return NOT_PARKED;
      if (t < timeout) {
        if (timeout < other) other = timeout;
        timeout = t;
        leader = timed ? e : null;
        due = raw;
      } else if (t < other) other = t;
    }
    if (this.#active.length === 0) return NOT_PARKED;
    let p = this.#parker;
    if (p === null) {
      p = this.#parker = parkerFor(this.#idle.park === "wait" ? "wait" : "doorbell");
      for (const e of this.#entries.values()) {
        if (e.reactor.parkFd) p.addFd(e.reactor.parkFd.fd, e.reactor.parkFd.drain);
      }
    }
    if (leader !== null && due <= BLOCK_MAX_NS) {
      const lead = blockLead();
      const t = due - this.#cap(lead.budgetUs()) * 1000;
      if (t <= 0) return NOT_PARKED; // within the lead: spin
      const timed = t <= other;
      p.block(timed ? t : other);
      if (timed && p.lastLateUs >= 0) lead.hit(p.lastLateUs);
      return BLOCKED;
    }
    await p.park(timeout);
    if (leader !== null && p.lastLateUs >= 0) leader.reactor.spin!.hit(p.lastLateUs);
    return PARKED;
  }

  /** A snapshot of counters (tasks, reactors, executor). */
  stats(): RuntimeStats {
    const reactors: Record<string, ReactorStats> = {};
    for (const e of this.#entries.values()) {
      reactors[e.name] = {
        polls: e.polls,
        completions: e.completions,
        inFlight: e.reactor.status(),
      };
    }
    const ps = this.#parker?.stats();
    return {
      tasks: { ...this.#counts, running: this.#live },
      reactors,
      executor: {
        turns: this.#turns,
        yields: this.#yields,
        parks: this.#jsParks + (ps?.parks ?? 0),
        nativeWakes: ps?.nativeWakes ?? 0,
        wakeLatencyP50Us: ps?.wakeLatencyP50Us ?? 0,
        deadlineLateP50Us: ps?.deadlineLateP50Us ?? 0,
        parkedMs: ps?.parkedMs ?? 0,
        watchdogWakes: ps?.watchdogWakes ?? 0,
        spins: this.#spins,
        spinMisses: this.#spinMisses,
        spinTurns: this.#spinTurns,
        timerLeadUs: this.#cap(this.timer.spin.budgetUs()),
        blockingWaits: ps?.blocks ?? 0,
        blockLeadUs: this.#cap(blockLead().budgetUs()),
      },
    };
  }

  /** Detaches every reactor. The runtime cannot be used afterwards. */
  close(): void {
    if (this.#closed) return;
    if (this.#running) throw new RuntimeStateError("cannot close a running runtime");
    for (const e of [...this.#entries.values()]) this.#drop(e);
    this.#closed = true;
  }

  /** Same as {@link close}. */
  [Symbol.dispose](): void {
    this.close();
  }
}
