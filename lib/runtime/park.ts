/**
 * Parking: the executor sleeps at ~zero CPU until a reactor's fd is readable, a
 * deadline passes, or JavaScript wakes it.
 *
 * One native notifier per JS thread (created on first park, kept for the thread's
 * lifetime, so no native thread ever has to be joined). In doorbell mode its thread
 * calls a thread-safe callback that is `ref()`ed only while parked, so an idle
 * process can still exit.
 *
 * @module
 */
import { check, checkPtr, coreLib } from "../ffi/library.ts";
import type { ParkMode } from "./idle.ts";

/** Wake-up statistics of a parker. */
export interface ParkStats {
  /** Times the executor parked (including blocking waits). */
  parks: number;
  /** Of those, short timer waits spent blocked in the kernel on the JS thread itself. */
  blocks: number;
  /** Parks ended by the native notifier (fd or deadline). */
  nativeWakes: number;
  /** Median native wake latency (fire → JS callback), in microseconds, recent parks. */
  wakeLatencyP50Us: number;
  /**
   * Median lateness (µs) of recent deadline wake-ups: armed deadline → JS callback, so
   * the kernel timer's own delay and the notifier thread's wake-up are included.
   */
  deadlineLateP50Us: number;
  /** Total time spent parked, in milliseconds. */
  parkedMs: number;
  /** Parks the watchdog had to end because a native wake-up never came. */
  watchdogWakes: number;
}

const RING = 256;

/** A native-notifier-backed parker shared by all runtimes of this thread. */
export class Parker {
  readonly mode: Exclude<ParkMode, "off">;
  #lib = coreLib();
  #handle: Deno.PointerObject;
  #bell:
    | Deno.UnsafeCallback<{ readonly parameters: readonly ["u32"]; readonly result: "void" }>
    | null = null;
  #gen = 0;
  #resolve: (() => void) | null = null;
  #fds = new Map<number, number>(); // fd -> users
  #lat = new Float64Array(RING);
  #latN = 0;
  #late = new Float64Array(RING);
  #lateN = 0;
  parks = 0;
  /** Blocking waits ({@link block}). */
  blocks = 0;
  nativeWakes = 0;
  parkedMs = 0;
  /** Parks ended by the watchdog: a native wake-up that never came (should stay 0). */
  watchdogWakes = 0;
  /**
   * How late (µs) the last park's deadline wake-up reached JavaScript, measured from the
   * deadline it was armed with; -1 when that park did not end by its deadline.
   */
  lastLateUs = -1;
  #parkStart = 0;
  #parkDue = Infinity;
  #watchdog: ReturnType<typeof setInterval> | null = null;

  /** Creates the notifier in `mode`. */
  constructor(mode: Exclude<ParkMode, "off">) {
    this.mode = mode;
    if (mode === "doorbell") {
      this.#bell = Deno.UnsafeCallback.threadSafe(
        { parameters: ["u32"], result: "void" } as const,
        (gen: number) => this.#onBell(gen),
      );
      this.#bell.unref();
      this.#handle = checkPtr(
        this.#lib.pluvio_notifier_create(this.#bell.pointer),
        "creating the parking notifier",
      );
    } else {
      this.#handle = checkPtr(this.#lib.pluvio_notifier_create(null), "creating the notifier");
    }
  }

  /** Adds a reactor fd (reference-counted, so reactors may share one). */
  addFd(fd: number, drain: boolean): void {
    const users = this.#fds.get(fd) ?? 0;
    if (users === 0) {
      check(this.#lib.pluvio_notifier_add_fd(this.#handle, fd, drain ? 1 : 0), `watching fd ${fd}`);
    }
    this.#fds.set(fd, users + 1);
  }

  /** Removes a reactor fd added with {@link addFd}. */
  removeFd(fd: number): void {
    const users = this.#fds.get(fd) ?? 0;
    if (users <= 1) {
      this.#fds.delete(fd);
      if (users === 1) this.#lib.pluvio_notifier_remove_fd(this.#handle, fd);
    } else this.#fds.set(fd, users - 1);
  }

  /** Whether a park is in progress. */
  get parked(): boolean {
    return this.#resolve !== null;
  }

  /**
   * Sleeps until a watched fd is readable, `timeoutNs` passes (`Infinity`: no deadline)
   * or {@link wake} is called.
   */
  async park(timeoutNs: number): Promise<void> {
    const gen = this.#gen = this.#gen >= 0xfffffffe ? 1 : this.#gen + 1;
    const t = timeoutNs === Infinity ? -1n : BigInt(Math.max(1, Math.ceil(timeoutNs)));
    // Read before arming: the native deadline is then never earlier than #parkDue, so a
    // measured lateness is never smaller than the real one.
    const started = performance.now();
    this.lastLateUs = -1;
    check(this.#lib.pluvio_notifier_arm(this.#handle, gen, t), "arming the notifier");
    this.#parkStart = started;
    this.#parkDue = started + timeoutNs / 1e6;
    this.#watchdog ??= this.#startWatchdog();
    this.parks++;
    try {
      if (this.#bell) {
        this.#bell.ref();
        try {
          await new Promise<void>((resolve) => this.#resolve = resolve);
        } finally {
          this.#bell.unref();
        }
      } else {
        const waiting = new Promise<void>((resolve) => this.#resolve = resolve);
        const waiter = (async () => {
          // A wait may return with nothing fired (a stale kick): wait again while parked.
          while (this.#resolve !== null && this.#gen === gen) {
            const g = await this.#lib.pluvio_notifier_wait(this.#handle, -1);
            if (Number(g) === gen && this.#resolve !== null) this.#onFire();
          }
        })();
        await waiting;
        await waiter; // returns promptly: a JS wake kicks the pool thread
      }
    } finally {
      this.#resolve = null;
      this.#lib.pluvio_notifier_disarm(this.#handle);
      this.parkedMs += performance.now() - started;
    }
  }

  /**
   * Blocks the JS thread itself in the kernel until a watched fd is readable or
   * `timeoutNs` passes: one wake-up (the kernel timer wakes the thread that runs next)
   * instead of the doorbell's two, so a short timer wait stays on time when other
   * processes compete for the cores. Nothing else runs on the thread meanwhile, so the
   * executor uses it only for waits of at most a millisecond right after a macrotask turn.
   * The first one gives the thread a 100 µs scheduler slice (`sched_setattr`): its
   * wake-ups then preempt busy processes on a contended core (same CPU share).
   * Sets {@link lastLateUs} like a park.
   */
  block(timeoutNs: number): void {
    const t = BigInt(Math.max(1, Math.ceil(timeoutNs)));
    // Read before the native call arms its timer: the measured lateness is never smaller
    // than the real one.
    const started = performance.now();
    const due = started + timeoutNs / 1e6;
    const why = this.#lib.pluvio_notifier_block(this.#handle, t);
    check(why, "blocking on the notifier");
    const now = performance.now();
    this.parks++;
    this.blocks++;
    this.parkedMs += now - started;
    if ((why & 1) !== 0 && now >= due) {
      this.lastLateUs = (now - due) * 1000;
      this.#late[this.#lateN++ % RING] = this.lastLateUs;
    } else this.lastLateUs = -1;
  }

  /**
   * A last line of defence against a lost native wake-up: an unref'ed 50 ms interval
   * (it never keeps the process alive) ends a park that overran its deadline by more
   * than 50 ms, or any park after 1 s, and counts it in `watchdogWakes`.
   */
  #startWatchdog(): ReturnType<typeof setInterval> {
    const id = setInterval(() => {
      if (this.#resolve === null) return;
      const now = performance.now();
      if (now - this.#parkDue > 50 || now - this.#parkStart > 1000) {
        if (now - this.#parkDue > 50) this.watchdogWakes++;
        this.wake();
      }
    }, 50);
    Deno.unrefTimer(id as unknown as number);
    return id;
  }

  /** Ends a park in progress from JavaScript. */
  wake(): void {
    const r = this.#resolve;
    if (r === null) return;
    this.#resolve = null;
    if (!this.#bell) this.#lib.pluvio_notifier_kick(this.#handle);
    r();
  }

  #onBell(gen: number): void {
    if (gen === this.#gen && this.#resolve) this.#onFire();
  }

  #onFire(): void {
    const t = performance.now();
    if (t >= this.#parkDue) {
      this.lastLateUs = (t - this.#parkDue) * 1000;
      this.#late[this.#lateN++ % RING] = this.lastLateUs;
    }
    const fired = this.#lib.pluvio_notifier_fired_ns(this.#handle);
    const now = this.#lib.pluvio_now_ns();
    this.#lat[this.#latN++ % RING] = Number(now - fired) / 1000;
    this.nativeWakes++;
    const r = this.#resolve!;
    this.#resolve = null;
    r();
  }

  /** Statistics so far. */
  stats(): ParkStats {
    return {
      parks: this.parks,
      blocks: this.blocks,
      nativeWakes: this.nativeWakes,
      wakeLatencyP50Us: median(this.#lat, this.#latN),
      deadlineLateP50Us: median(this.#late, this.#lateN),
      parkedMs: this.parkedMs,
      watchdogWakes: this.watchdogWakes,
    };
  }
}

function median(ring: Float64Array, count: number): number {
  const n = Math.min(count, RING);
  if (n === 0) return 0;
  return ring.slice(0, n).sort()[n >> 1];
}

const parkers = new Map<string, Parker>();

/** The thread's parker for `mode`, created on first use. */
export function parkerFor(mode: Exclude<ParkMode, "off">): Parker {
  let p = parkers.get(mode);
  if (!p) {
    p = new Parker(mode);
    parkers.set(mode, p);
  }
  return p;
}
