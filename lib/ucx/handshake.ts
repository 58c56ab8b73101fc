/**
 * The connection handshake of `errorHandling: "auto"` and the control messages of the
 * endpoints it moves onto shared memory.
 *
 * UCX cannot watch a shared-memory peer (peer-failure handling rules shared memory out),
 * so `"auto"` connects over the socket with peer-failure handling first and then, when
 * both processes turn out to share a host (same boot id and PID namespace) and can open
 * pidfds on each other, moves the endpoint onto a worker-address connection without it
 * (shared memory) whose peer is watched through the pidfd instead:
 *
 * 1. client → server, on the socket connection: `HELLO` (its pid, host, worker address
 *    and a nonce);
 * 2. server, when both share a host and it can open a pidfd on the client: connects to
 *    the client's worker address without peer-failure handling (shared memory), sends
 *    `MOVED` (the nonce, its pid) on that connection and takes it over;
 * 3. server → client, on the socket connection: `WELCOME` (whether it moved);
 * 4. client: takes over the endpoint UCX made for the server's new connection (the
 *    reply endpoint of `MOVED`, as it is dispatched, so nothing the server sends after
 *    it finds the old one), watches the server's pid, and closes the socket connection.
 *
 * Control messages travel as Active Messages with id {@link CONTROL_AM} (reserved: the
 * application's ids are 0..65534). `BYE`, sent by `close()` of a moved endpoint, tells
 * the peer the connection ended, as UCX's disconnect does for socket connections.
 *
 * Message layout (little-endian): `kind u8, local u8, 0 u16, pid u32, nonce u32 × 2,
 * hostLen u32, host[hostLen], address[rest]`.
 *
 * @module
 */

/** The Active Message id of pluvio's control messages. */
export const CONTROL_AM = 0xffff;
/** The largest Active Message id an application may use. */
export const MAX_USER_AM = CONTROL_AM - 1;

/** How long each side waits for the other's handshake message before it keeps the socket. */
export const HANDSHAKE_MS = 1000;

/** Kinds of control messages. */
export const Control = { HELLO: 1, WELCOME: 2, MOVED: 3, BYE: 4 } as const;
/** A kind of control message. */
export type Control = typeof Control[keyof typeof Control];

/** A decoded control message. */
export interface ControlMessage {
  /** Its kind. */
  kind: Control;
  /** WELCOME: whether the server moves to shared memory; MOVED: whether the client did. */
  local: boolean;
  /** The sender's process id. */
  pid: number;
  /** The nonce naming a server's pending accept (WELCOME, MOVED). */
  nonce: [number, number];
  /** The sender's host identity (empty when unknown). */
  host: Uint8Array;
  /** The sender's worker address (HELLO, WELCOME). */
  address: Uint8Array;
}

const HEAD = 20;

/** Encodes a control message. */
export function encodeControl(m: ControlMessage): Uint8Array<ArrayBuffer> {
  const out = new Uint8Array(HEAD + m.host.length + m.address.length);
  const v = new DataView(out.buffer);
  out[0] = m.kind;
  out[1] = m.local ? 1 : 0;
  v.setUint32(4, m.pid >>> 0, true);
  v.setUint32(8, m.nonce[0] >>> 0, true);
  v.setUint32(12, m.nonce[1] >>> 0, true);
  v.setUint32(16, m.host.length, true);
  out.set(m.host, HEAD);
  out.set(m.address, HEAD + m.host.length);
  return out;
}

/** Decodes a control message; null for bytes that are not one. */
export function decodeControl(b: Uint8Array): ControlMessage | null {
  if (b.length < HEAD || b[0] < Control.HELLO || b[0] > Control.BYE) return null;
  const v = new DataView(b.buffer, b.byteOffset, b.byteLength);
  const hostLen = v.getUint32(16, true);
  if (HEAD + hostLen > b.length) return null;
  return {
    kind: b[0] as Control,
    local: b[1] === 1,
    pid: v.getUint32(4, true),
    nonce: [v.getUint32(8, true), v.getUint32(12, true)],
    host: b.slice(HEAD, HEAD + hostLen),
    address: b.slice(HEAD + hostLen),
  };
}

/** A control message that arrived, with the endpoint id to answer on (-1: none). */
export interface Arrived {
  /** The message. */
  msg: ControlMessage;
  /** The native id of the endpoint it came from (its reply endpoint). */
  from: number;
}

/**
 * The handshakes of one worker in progress: what each waits for (by endpoint id, or by
 * nonce for `MOVED`), and the handler of control messages nobody waits for.
 */
export class Handshakes {
  #byEp = new Map<number, (a: Arrived | null) => void>();
  #byNonce = new Map<string, (a: Arrived | null) => void>();
  /** What to do with a message no handshake waits for (answers, `BYE`). */
  #other: (a: Arrived) => void;

  /** Counts each wait as an operation in flight, so that something polls the worker. */
  #reactor: { begin(): void; end(): void };

  /** `other` gets the messages no handshake waits for; `reactor` counts the waits. */
  constructor(other: (a: Arrived) => void, reactor: { begin(): void; end(): void }) {
    this.#other = other;
    this.#reactor = reactor;
  }

  /**
   * The next control message from endpoint `ep` (or, with `nonce`, the `MOVED` naming
   * it), or null after `ms` or an abort of `signal`. Register before the peer can send.
   * `now` runs as the message is dispatched, before any later event of the same poll.
   */
  expect(
    key: { ep: number } | { nonce: [number, number] },
    ms: number,
    signal?: AbortSignal,
    now?: (a: Arrived) => void,
  ): Promise<Arrived | null> {
    const { promise, resolve } = Promise.withResolvers<Arrived | null>();
    const map: Map<number | string, (a: Arrived | null) => void> = "ep" in key
      ? this.#byEp
      : this.#byNonce;
    const k = "ep" in key ? key.ep : `${key.nonce[0]}:${key.nonce[1]}`;
    const done = (a: Arrived | null) => {
      if (map.get(k) !== done) return;
      this.#reactor.end();
      map.delete(k);
      if (a !== null) now?.(a);
      clearTimeout(timer);
      signal?.removeEventListener("abort", onAbort);
      resolve(a);
    };
    const onAbort = () => done(null);
    const timer = setTimeout(onAbort, ms);
    signal?.addEventListener("abort", onAbort, { once: true });
    map.set(k, done);
    this.#reactor.begin();
    return promise;
  }

  /** Stops waiting on endpoint `ep`. */
  forget(ep: number): void {
    this.#byEp.get(ep)?.(null);
  }

  /** Stops waiting for the MOVED naming `n`. */
  forgetNonce(n: [number, number]): void {
    this.#byNonce.get(`${n[0]}:${n[1]}`)?.(null);
  }

  /** Hands a control message that arrived to what waits for it. */
  deliver(a: Arrived): void {
    const m = a.msg;
    const w = m.kind === Control.MOVED
      ? this.#byNonce.get(`${m.nonce[0]}:${m.nonce[1]}`)
      : m.kind === Control.BYE
      ? undefined
      : this.#byEp.get(a.from);
    if (w !== undefined) w(a);
    else this.#other(a);
  }
}

/** A random nonce. */
export function nonce(): [number, number] {
  const n = crypto.getRandomValues(new Uint32Array(2));
  return [n[0], n[1]];
}
