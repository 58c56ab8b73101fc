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

/** Arrivals and the receivers waiting for them. */
export class Mailbox<T> {
  #items: T[] = [];
  #head = 0;
  #waiters: Waiter<T>[] = [];
  #closed: Error | null = null;
  #reactor: UcxReactor;
  #what: string;
  #drop: (item: T) => void;

  /** A mailbox for `what`; `drop` disposes of items left when it closes. */
  constructor(reactor: UcxReactor, what: string, drop: (item: T) => void) {
    this.#reactor = reactor;
    this.#what = what;
    this.#drop = drop;
  }

  /** Whether the mailbox was closed. */
  get closed(): boolean {
    return this.#closed !== null;
  }

  /** Items queued (arrived while nobody waited). */
  get queued(): number {
    return this.#items.length - this.#head;
  }

  /** Hands `item` to the oldest waiter, or queues it. */
  push(item: T): void {
    const w = this.#waiters.shift();
    if (w !== undefined) {
      this.#reactor.end();
      w.unlisten?.();
      w.resolve(item);
      return;
    }
    this.#items.push(item);
  }

  /** The next arrival: at once when one is queued, else when it comes. */
  next(signal?: AbortSignal): Promise<T> {
    if (this.#head < this.#items.length) {
      const item = this.#items[this.#head];
      this.#items[this.#head++] = undefined as T;
      if (this.#head > 1024 && this.#head * 2 > this.#items.length) {
        this.#items = this.#items.slice(this.#head);
        this.#head = 0;
      }
      return Promise.resolve(item);
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
          this.#reactor.end();
          reject(abortError(signal, this.#what));
        };
        signal.addEventListener("abort", onAbort, { once: true });
        w.unlisten = () => signal.removeEventListener("abort", onAbort);
      }
      this.#waiters.push(w);
      this.#reactor.begin();
    });
  }

  /** Closes: waiters reject with `reason` (a `ClosedError` by default), queued items are dropped. */
  close(reason?: Error): void {
    if (this.#closed) return;
    this.#closed = reason ?? new ClosedError(`${this.#what} is closed`);
    for (const w of this.#waiters.splice(0)) {
      this.#reactor.end();
      w.unlisten?.();
      w.reject(this.#closed);
    }
    for (let i = this.#head; i < this.#items.length; i++) this.#drop(this.#items[i]);
    this.#items = [];
    this.#head = 0;
  }
}

/** The error an aborted wait rejects with: the signal's reason when it is an Error. */
export function abortError(signal: AbortSignal, what: string): Error {
  const r = signal.reason;
  if (r instanceof CancelledError) return r;
  return new CancelledError(`${what}: aborted`, { cause: r });
}
