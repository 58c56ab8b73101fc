/**
 * A queue of arrivals (messages, connection requests) with waiting receivers. Each
 * waiting receiver counts as one operation in flight for the reactor, so the executor
 * keeps polling (and parks on the worker fd) exactly while someone waits.
 *
 * @module
 */
import { CancelledError, ClosedError } from "../errors.ts";
import type { UcxReactor } from "./reactor.ts";

interface Waiter<T> {
  resolve: (v: T) => void;
  reject: (e: unknown) => void;
  unlisten?: () => void;
}

/** A failure queued among the arrivals: the receive that reaches it rejects with it. */
class Fault {
  constructor(readonly error: Error) {}
}

/** The last step of an iteration. */
const END: IteratorReturnResult<undefined> = { done: true, value: undefined };

/** Arrivals and the receivers waiting for them. */
export class Mailbox<T> {
  // A ring of queued items (power-of-two capacity): a drained queue costs nothing,
  // where resetting an array's length is a runtime call.
  #items: (T | Fault | undefined)[] = new Array(8).fill(undefined);
  #head = 0;
  #count = 0;
  #waiters: Waiter<T>[] = [];
  #closed: Error | null = null;
  #reactor: UcxReactor;
  #what: string;
  #drop: (item: T) => void;
  #spin: boolean;

  /**
   * A mailbox for `what`; `drop` disposes of items left when it closes. `spin`: whether
   * a waiting receiver is worth a busy-poll of the executor (see `UcxReactor.wantsSpin`).
   */
  constructor(reactor: UcxReactor, what: string, drop: (item: T) => void, spin = true) {
    this.#reactor = reactor;
    this.#what = what;
    this.#drop = drop;
    this.#spin = spin;
  }

  /** Whether the mailbox was closed. */
  get closed(): boolean {
    return this.#closed !== null;
  }

  /** Items queued (arrived while nobody waited). */
  get queued(): number {
    return this.#count;
  }

  /** Queues `error` among the arrivals: the receive that reaches it rejects with it. */
  fault(error: Error): void {
    if (this.#waiters.length > 0) {
      const w = this.#waiters.shift()!;
      this.#reactor.end(this.#spin);
      w.unlisten?.();
      w.reject(error);
      return;
    }
    this.#enqueue(new Fault(error));
  }

  /** Hands `item` to the oldest waiter, or queues it. */
  push(item: T): void {
    if (this.#waiters.length > 0) {
      const w = this.#waiters.shift()!;
      this.#reactor.end(this.#spin);
      w.unlisten?.();
      w.resolve(item);
      return;
    }
    this.#enqueue(item);
  }

  #enqueue(item: T | Fault): void {
    let items = this.#items;
    if (this.#count === items.length) items = this.#grow();
    items[(this.#head + this.#count++) & (items.length - 1)] = item;
  }

  #grow(): (T | Fault | undefined)[] {
    const old = this.#items;
    const items = new Array<T | Fault | undefined>(old.length * 2).fill(undefined);
    for (let i = 0; i < this.#count; i++) items[i] = old[(this.#head + i) & (old.length - 1)];
    this.#head = 0;
    return this.#items = items;
  }

  /**
   * The oldest queued arrival (left queued), or undefined when none is queued; a queued
   * fault is taken and thrown.
   */
  peek(): T | undefined {
    if (this.#count === 0) return undefined;
    const item = this.#items[this.#head];
    if (item instanceof Fault) {
      this.#shift();
      throw item.error;
    }
    return item;
  }

  /**
   * The oldest queued arrival, taken off the queue, or undefined when none is queued; a
   * queued fault is taken and thrown.
   */
  take(): T | undefined {
    if (this.#count === 0) return undefined;
    const item = this.#shift();
    if (item instanceof Fault) throw item.error;
    return item;
  }

  #shift(): T | Fault | undefined {
    const items = this.#items;
    const item = items[this.#head];
    items[this.#head] = undefined;
    this.#head = (this.#head + 1) & (items.length - 1);
    this.#count--;
    return item;
  }

  /** The next arrival: at once when one is queued, else when it comes. */
  next(signal?: AbortSignal): Promise<T> {
    if (this.#count > 0) {
      const item = this.#shift();
      if (item instanceof Fault) return Promise.reject(item.error);
      return Promise.resolve(item!);
    }
    if (this.#closed) return Promise.reject(this.#closed);
    if (signal?.aborted) return Promise.reject(abortError(signal, this.#what));
    return new Promise<T>((resolve, reject) => {
      const w: Waiter<T> = { resolve, reject };
      if (signal) {
        const onAbort = () => {
          const i = this.#waiters.indexOf(w);
          if (i < 0) return;
          this.#waiters.splice(i, 1);
          this.#reactor.end(this.#spin);
          reject(abortError(signal, this.#what));
        };
        signal.addEventListener("abort", onAbort, { once: true });
        w.unlisten = () => signal.removeEventListener("abort", onAbort);
      }
      this.#waiters.push(w);
      this.#reactor.begin(this.#spin);
    });
  }

  /**
   * {@link Mailbox.next} as an iterator step: `{ done: true }` once the mailbox is
   * closed (instead of rejecting with `ClosedError`).
   */
  nextResult(): Promise<IteratorResult<T, undefined>> {
    if (this.#count > 0) {
      const item = this.#shift();
      if (item instanceof Fault) return Promise.reject(item.error);
      return Promise.resolve({ value: item!, done: false });
    }
    if (this.#closed) {
      if (this.#closed instanceof ClosedError) return Promise.resolve(END);
      return Promise.reject(this.#closed);
    }
    return new Promise((resolve, reject) => {
      this.#waiters.push({
        resolve: (value: T) => resolve({ value, done: false }),
        reject: (e: unknown) => e instanceof ClosedError ? resolve(END) : reject(e),
      });
      this.#reactor.begin(this.#spin);
    });
  }

  /** Closes: waiters reject with `reason` (a `ClosedError` by default), queued items are dropped. */
  close(reason?: Error): void {
    if (this.#closed) return;
    this.#closed = reason ?? new ClosedError(`${this.#what} is closed`);
    for (const w of this.#waiters.splice(0)) {
      this.#reactor.end(this.#spin);
      w.unlisten?.();
      w.reject(this.#closed);
    }
    while (this.#count > 0) {
      const item = this.#shift();
      if (!(item instanceof Fault)) this.#drop(item!);
    }
  }
}

/** The error an aborted wait rejects with: the signal's reason when it is an Error. */
export function abortError(signal: AbortSignal, what: string): Error {
  const r = signal.reason;
  if (r instanceof CancelledError) return r;
  return new CancelledError(`${what}: aborted`, { cause: r });
}
