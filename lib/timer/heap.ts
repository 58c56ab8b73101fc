/**
 * A binary min-heap of timers ordered by deadline, then by insertion order (so timers
 * with equal deadlines fire in the order they were set).
 *
 * @module
 */

/** One pending timer. */
export interface TimerEntry {
  /** Deadline on the `performance.now()` clock, in milliseconds. */
  deadline: number;
  /** Insertion sequence number (tie-breaker). */
  seq: number;
  /** Called when the deadline passes; null once cancelled or fired. */
  fire: (() => void) | null;
}

function less(a: TimerEntry, b: TimerEntry): boolean {
  return a.deadline < b.deadline || (a.deadline === b.deadline && a.seq < b.seq);
}

/** Min-heap of {@link TimerEntry}. */
export class TimerHeap {
  #a: TimerEntry[] = [];

  /** Number of entries (including cancelled ones not yet popped). */
  get size(): number {
    return this.#a.length;
  }

  /** The earliest entry, or undefined. */
  peek(): TimerEntry | undefined {
    return this.#a[0];
  }

  /** Inserts `e`. */
  push(e: TimerEntry): void {
    const a = this.#a;
    let i = a.length;
    a.push(e);
    while (i > 0) {
      const p = (i - 1) >> 1;
      if (!less(e, a[p])) break;
      a[i] = a[p];
      i = p;
    }
    a[i] = e;
  }

  /** Removes and returns the earliest entry. */
  pop(): TimerEntry | undefined {
    const a = this.#a;
    const top = a[0];
    const last = a.pop();
    if (a.length === 0 || last === undefined) return top;
    let i = 0;
    const n = a.length;
    for (;;) {
      const l = 2 * i + 1;
      if (l >= n) break;
      const r = l + 1;
      const c = r < n && less(a[r], a[l]) ? r : l;
      if (!less(a[c], last)) break;
      a[i] = a[c];
      i = c;
    }
    a[i] = last;
    return top;
  }

  /** Drops every entry. */
  clear(): void {
    this.#a.length = 0;
  }
}
