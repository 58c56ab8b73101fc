/**
 * The executor's one adaptive idle policy: spin → yield → park, with the spin budget
 * learnt per reactor from what recently happened.
 *
 * When an executor turn finds nothing to do, the executor
 * 1. **spins**: busy-polls (microtask turns, so tasks woken by plain promises still run)
 *    for the largest {@link SpinBudget.budgetUs} of the reactors that want it
 *    (`Reactor.wantsSpin()`), and up to a timer deadline that its early wake-up reached;
 * 2. **yields**: `PLUVIO_IDLE_YIELD_AFTER` more microtask turns, then macrotask turns up
 *    to `PLUVIO_IDLE_SLEEP_AFTER`, so other code's timers and I/O run;
 * 3. **parks** at ~zero CPU on the reactors' fds and the next deadline, woken early by the
 *    timer's budget (the recent park→wake lateness) so that a timer fires on time.
 *
 * How a budget adapts: it keeps the last {@link SAMPLES} waits it was told about and
 * offers `1.25 × p75 + 1 µs` of those within the cap — a reply that usually comes within
 * X µs earns a spin of about X. A spin that found nothing ({@link SpinBudget.miss}) is a
 * wait "longer than any spin" (replaced by the real wait if the event arrives later in
 * the same idle period), as is a wait longer than the cap; once more than a quarter of
 * the recent waits are such (5 of 16) the budget is 0. So a reactor whose events stop
 * arriving loses its budget after at most 5 fruitless spins, and a reactor that stays
 * quiet never earns one: an idle program spins not at all. A deadline budget (the
 * timer's) learns how late native wake-ups arrive; a deadline always comes, so there
 * every wait counts and a lateness beyond the cap earns the whole cap. Every budget is
 * capped by `PLUVIO_IDLE_SPIN_US` (default 200 µs).
 *
 * @module
 */
import { idleConfigFromEnv } from "./idle.ts";

/** How many recent waits a budget keeps. */
export const SAMPLES = 16;

/** Options of `new SpinBudget()`. */
export interface SpinBudgetOptions {
  /** The largest budget, µs (also capped by `PLUVIO_IDLE_SPIN_US`). */
  maxUs?: number;
  /**
   * The awaited event is certain to come at a known time (a timer deadline, where the
   * samples are how late the native wake-up arrived): a wait longer than the cap still
   * earns the whole cap instead of none.
   */
  deadline?: boolean;
}

/**
 * An adaptive busy-poll budget for one reactor (or one wait source): how long spinning
 * is worth it before yielding and parking, learnt from recent waits. Feed it with
 * {@link hit} and {@link miss}; the executor does so for a registered reactor's `spin`.
 */
export class SpinBudget {
  /** The cap, µs: `min(maxUs, PLUVIO_IDLE_SPIN_US)`. */
  readonly maxUs: number;
  /** Whether this is a deadline budget (see {@link SpinBudgetOptions.deadline}). */
  readonly deadline: boolean;
  /** Events reported with {@link hit}. */
  hits = 0;
  /** Fruitless spins reported with {@link miss}. */
  misses = 0;
  #ring = new Float64Array(SAMPLES);
  #sorted = new Float64Array(SAMPLES);
  #n = 0;
  #pos = 0;
  /** Ring index of the last miss while its idle period may still end in a hit, or -1. */
  #pendingMiss = -1;
  #budget = 0;
  #dirty = false;

  /** Creates an empty budget (0 µs until it has seen events arrive soon enough). */
  constructor(opts: SpinBudgetOptions = {}) {
    const cap = idleConfigFromEnv().spinUs;
    const max = opts.maxUs ?? cap;
    if (typeof max !== "number" || !(max >= 0)) {
      throw new RangeError(`SpinBudget maxUs must be a non-negative number, got ${max}`);
    }
    this.maxUs = Math.min(max, cap);
    this.deadline = opts.deadline === true;
  }

  /** µs to busy-poll now before yielding and parking (0: none). */
  budgetUs(): number {
    if (this.#dirty) this.#recompute();
    return this.#budget;
  }

  /**
   * The awaited event arrived `waitedUs` after idling began (for a deadline budget: the
   * native wake-up arrived that late). After a {@link miss} in the same idle period it
   * replaces that miss with the real wait.
   */
  hit(waitedUs: number): void {
    this.hits++;
    const w = waitedUs > 0 ? waitedUs : 0;
    if (this.#pendingMiss >= 0) {
      this.#ring[this.#pendingMiss] = w;
      this.#pendingMiss = -1;
    } else this.#push(w);
    this.#dirty = true;
  }

  /** A spin of the whole budget found nothing. */
  miss(): void {
    this.misses++;
    this.#pendingMiss = this.#push(Infinity);
    this.#dirty = true;
  }

  /** Ends the idle period of a {@link miss} without a hit (the next hit is a new sample). */
  settle(): void {
    this.#pendingMiss = -1;
  }

  #push(w: number): number {
    const i = this.#pos;
    this.#ring[i] = w;
    this.#pos = (i + 1) % SAMPLES;
    if (this.#n < SAMPLES) this.#n++;
    return i;
  }

  #recompute(): void {
    this.#dirty = false;
    const n = this.#n;
    // An insertion sort into the preallocated array: `subarray` + `sort` allocated and
    // called into a builtin on every idle period (~300 ns, measured on the UCX ping-pong).
    const s = this.#sorted;
    const ring = this.#ring;
    for (let i = 0; i < n; i++) {
      const v = ring[i];
      let j = i;
      for (; j > 0 && s[j - 1] > v; j--) s[j] = s[j - 1];
      s[j] = v;
    }
    if (n === 0 || this.maxUs === 0) {
      this.#budget = 0;
      return;
    }
    let finite = n;
    if (!this.deadline) {
      // Waits longer than the cap (and misses) count against spinning: none of them
      // would have been caught by it.
      while (finite > 0 && s[finite - 1] > this.maxUs) finite--;
      if ((n - finite) * 4 > n) {
        this.#budget = 0;
        return;
      }
    }
    const q = s[Math.ceil(0.75 * finite) - 1];
    this.#budget = Math.min(this.maxUs, q * 1.25 + 1);
  }
}

let lead: SpinBudget | null = null;

/**
 * The thread's deadline budget: how early the executor wakes before a timer deadline,
 * learnt from how late this thread's native wake-ups arrive (one per thread, since the
 * wake path is the thread's, so a new runtime starts with what earlier ones learnt).
 */
export function deadlineLead(): SpinBudget {
  return lead ??= new SpinBudget({ deadline: true });
}
