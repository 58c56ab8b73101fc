/**
 * The timer reactor: a min-heap of deadlines polled by the executor. Registered
 * automatically by every `Runtime` under the name `"timer"`. Parking honours the next
 * deadline through the native notifier's timerfd, armed early by the recent wake latency
 * (its `spin` budget) with the rest busy-polled, so timers fire on time rather than on
 * Deno's 1 ms `setTimeout` grid or late by a slow wake-up; a deadline at most 1 ms away
 * is waited for blocked on the JS thread (see `Runtime`), early by that wait's own lead.
 *
 * @module
 */
import { deadlineLead, type SpinBudget } from "../runtime/idle_policy.ts";
import type { Reactor, ReactorHooks } from "../runtime/reactor.ts";
import { type TimerEntry, TimerHeap } from "./heap.ts";

/** Min-heap timer reactor. */
export class TimerReactor implements Reactor {
  /**
   * How early to wake before a deadline: the thread's recent native wake lateness
   * (shared by the thread's timer reactors, see `deadlineLead`).
   */
  readonly spin: SpinBudget = deadlineLead();
  /** `beforePark()` returns exact deadlines: wake early and spin to them. */
  readonly deadlines = true;
  #heap = new TimerHeap();
  #live = 0;
  #seq = 0;
  #hooks: ReactorHooks | null = null;

  /** Receives the runtime's hooks. */
  attach(hooks: ReactorHooks): void {
    this.#hooks = hooks;
  }

  /** Forgets the runtime's hooks. */
  detach(): void {
    this.#hooks = null;
  }

  /** Schedules `fire` at `deadline` (`performance.now()` ms). */
  add(deadline: number, fire: () => void): TimerEntry {
    const e: TimerEntry = { deadline, seq: this.#seq++, fire };
    this.#heap.push(e);
    this.#live++;
    this.#hooks?.wake();
    return e;
  }

  /** Cancels `e` if it has not fired; returns whether it was pending. */
  cancel(e: TimerEntry): boolean {
    if (e.fire === null) return false;
    e.fire = null; // removed lazily when it reaches the top
    if (--this.#live === 0) this.#heap.clear();
    return true;
  }

  /** Fires every timer whose deadline has passed; returns how many fired. */
  poll(): number {
    const heap = this.#heap;
    let top = heap.peek();
    if (top === undefined) return 0;
    const now = performance.now();
    let n = 0;
    while (top !== undefined && top.deadline <= now) {
      heap.pop();
      const f = top.fire;
      if (f !== null) {
        top.fire = null;
        this.#live--;
        n++;
        f();
      }
      top = heap.peek();
    }
    return n;
  }

  /** Pending timers. */
  status(): number {
    return this.#live;
  }

  /** Nanoseconds until the next deadline (0: due now). */
  beforePark(): number {
    const heap = this.#heap;
    let top = heap.peek();
    while (top !== undefined && top.fire === null) {
      heap.pop();
      top = heap.peek();
    }
    if (top === undefined) return Infinity;
    return Math.max(0, (top.deadline - performance.now()) * 1e6);
  }
}
