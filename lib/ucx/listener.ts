/**
 * {@link Listener}s and their {@link ConnectionRequest}s.
 *
 * @module
 */
import { ClosedError } from "../errors.ts";
import type { WorkerCore } from "./core.ts";
import type { SignalOptions } from "./options.ts";
import { Mailbox } from "./mailbox.ts";
import { checkUcx, readText } from "./native.ts";

/** A client asking to connect; accept it with `worker.accept(req)` or {@link ConnectionRequest.reject} it. */
export class ConnectionRequest {
  #w: WorkerCore;
  #answered = false;
  /** @internal The native request id. */
  readonly conn: number;

  /** @internal Requests come from {@link Listener}. */
  constructor(w: WorkerCore, conn: number) {
    this.#w = w;
    this.conn = conn;
  }

  /** The client's "ip:port". */
  get clientAddress(): string {
    return readText(
      (b) => this.#w.sym.pluvio_ucx_conn_addr(this.#w.ptr, this.conn, b, BigInt(b.length)),
      "querying a connection request",
    );
  }

  /** @internal Marks the request answered (accepted); throws if it already was. */
  take(): number {
    if (this.#answered) throw new ClosedError("this connection request was already answered");
    this.#answered = true;
    return this.conn;
  }

  /** Refuses the connection. */
  reject(): void {
    checkUcx(
      this.#w.sym.pluvio_ucx_conn_reject(this.#w.ptr, this.take()),
      "rejecting a connection",
    );
  }
}

/**
 * Listens for connections on a socket address; iterate it (or call
 * {@link Listener.next}) for {@link ConnectionRequest}s.
 */
export class Listener implements AsyncIterable<ConnectionRequest>, Disposable {
  #w: WorkerCore;
  #id: number;
  #box: Mailbox<ConnectionRequest>;
  #drop: (id: number) => void;
  /** The bound "ip:port" (with the port the system picked for port 0). */
  readonly address: string;

  /** @internal Use `Worker.createListener`; `drop` forgets it once closed. */
  constructor(w: WorkerCore, id: number, drop: (id: number) => void) {
    this.#w = w;
    this.#id = id;
    this.#drop = drop;
    this.#box = new Mailbox(w.reactor, "UCX listener", (r) => {
      try {
        r.reject();
      } catch { /* worker closed */ }
    }, false);
    this.address = readText(
      (b) => w.sym.pluvio_ucx_listener_addr(w.ptr, id, b, BigInt(b.length)),
      "querying the listener address",
    );
  }

  /** The bound port. */
  get port(): number {
    return Number(this.address.slice(this.address.lastIndexOf(":") + 1));
  }

  /** @internal Hands a connection request over. */
  deliver(r: ConnectionRequest): void {
    this.#box.push(r);
  }

  /** The next connection request (rejects with `ClosedError` once closed). */
  next(options: SignalOptions = {}): Promise<ConnectionRequest> {
    return this.#box.next(options.signal);
  }

  /** Iterates connection requests until the listener closes. */
  async *[Symbol.asyncIterator](): AsyncIterator<ConnectionRequest> {
    for (;;) {
      let r: ConnectionRequest;
      try {
        r = await this.#box.next();
      } catch (e) {
        if (e instanceof ClosedError) return;
        throw e;
      }
      yield r;
    }
  }

  /** @internal Ends the listener (the worker closed). */
  shut(): void {
    this.#box.close();
  }

  /** Stops listening; unanswered requests are rejected. */
  close(): void {
    if (this.#box.closed) return;
    this.#box.close();
    try {
      this.#w.sym.pluvio_ucx_listener_destroy(this.#w.ptr, this.#id);
    } catch { /* worker closed */ }
    this.#drop(this.#id);
  }

  /** Same as {@link Listener.close}. */
  [Symbol.dispose](): void {
    this.close();
  }
}
