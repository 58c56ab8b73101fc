/**
 * Notices: the control message a rank sends to the other members of a communicator when
 * one of its calls fails there in a way the others must know of at once, so that no rank
 * waits for a timeout or runs into the next call: it rejected the call locally (bad
 * arguments), or a message of the call does not match its own (another signature or
 * length). A notice names the call by communicator id and sequence number and carries the
 * sender's {@link Signature}, so the receivers can name both sides of a mismatch.
 *
 * @module
 */
import { Signature, SIGNATURE_BYTES } from "../signature.ts";

/** Control message kind of a notice (after the group's GOODBYE 0 and DEAD 1). */
export const NOTICE = 2;
/** The most bytes of one control message. */
export const CONTROL_BYTES = 256;

/**
 * Why a notice was sent: a message of the call did not match (`MISMATCH`), the call was
 * rejected locally (`REJECTED`), or the call has waited long (`WAITING`, the beacon that
 * turns a mismatch no message reveals, such as two ranks waiting for each other as the
 * root of a gather, into an error).
 */
export const MISMATCH = 1, REJECTED = 2, WAITING = 3;

const HEAD = 32;
const TEXT_MAX = CONTROL_BYTES - HEAD - SIGNATURE_BYTES;
const enc = new TextEncoder(), dec = new TextDecoder();

/** A decoded notice. */
export interface Notice {
  /** The sender's rank in the group (the control tag's source). */
  who: number;
  /** Communicator id and sequence number of the call. */
  comm: number;
  seq: number;
  /** The sender's rank in that communicator. */
  rank: number;
  /** {@link MISMATCH}, {@link REJECTED} or {@link WAITING}. */
  reason: number;
  /** The rank whose message the sender found mismatching (-1: none). */
  suspect: number;
  /** The sender's call (null when it was rejected before it was known). */
  sig: Signature | null;
  /** The rejection's reason, or the sender's view of the mismatch. */
  text: string;
}

/** Encodes a notice. */
export function encodeNotice(n: Notice): Uint8Array {
  const buf = new Uint8Array(CONTROL_BYTES);
  const v = new DataView(buf.buffer);
  v.setUint32(0, NOTICE, true);
  v.setUint32(4, n.who, true);
  v.setUint32(8, n.comm, true);
  v.setUint32(12, n.seq, true);
  v.setUint32(16, n.rank, true);
  v.setUint32(20, n.reason, true);
  v.setInt32(24, n.suspect, true);
  n.sig?.encode(v, HEAD);
  let t = enc.encode(n.text);
  if (t.length > TEXT_MAX) t = t.subarray(0, TEXT_MAX);
  v.setUint32(28, t.length, true);
  buf.set(t, HEAD + SIGNATURE_BYTES);
  return buf.subarray(0, HEAD + SIGNATURE_BYTES + t.length);
}

/** Decodes a notice received into `buf` (`length` bytes); null if malformed. */
export function decodeNotice(buf: Uint8Array, length: number): Notice | null {
  if (length < HEAD + SIGNATURE_BYTES) return null;
  const v = new DataView(buf.buffer, buf.byteOffset, buf.byteLength);
  const n = Math.min(v.getUint32(28, true), length - HEAD - SIGNATURE_BYTES);
  return {
    who: v.getUint32(4, true),
    comm: v.getUint32(8, true),
    seq: v.getUint32(12, true),
    rank: v.getUint32(16, true),
    reason: v.getUint32(20, true),
    suspect: v.getInt32(24, true),
    sig: Signature.decode(v, HEAD),
    text: dec.decode(buf.subarray(HEAD + SIGNATURE_BYTES, HEAD + SIGNATURE_BYTES + n)),
  };
}
