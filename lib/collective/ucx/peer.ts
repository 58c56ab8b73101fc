/**
 * What each rank tells the others through the bootstrap (which carries opaque bytes):
 * its host identity, its pid and its UCX worker address, so that ranks on one host can
 * use shared memory and watch each other's process instead of relying on UCX's
 * peer-failure handling.
 *
 * Record layout (little-endian u32s): `hostLen, host[hostLen], pid, address[rest]`.
 * `hostLen` 0 means "no host identity" (the rank is then never treated as local).
 *
 * @module
 */
import { PeerError } from "../../errors.ts";

/** One rank's bootstrap record. */
export interface PeerRecord {
  /** Host identity (boot id and PID namespace), empty when unknown. */
  host: Uint8Array;
  /** Process id within that PID namespace. */
  pid: number;
  /** UCX worker address. */
  address: Uint8Array;
}

/** Longest host identity accepted. */
const MAX_HOST = 256;

/** Encodes `r` for the bootstrap. */
export function encodePeerRecord(r: PeerRecord): Uint8Array {
  if (r.host.length > MAX_HOST) throw new RangeError(`host identity of ${r.host.length} bytes`);
  const out = new Uint8Array(8 + r.host.length + r.address.length);
  const v = new DataView(out.buffer);
  v.setUint32(0, r.host.length, true);
  out.set(r.host, 4);
  v.setUint32(4 + r.host.length, r.pid >>> 0, true);
  out.set(r.address, 8 + r.host.length);
  return out;
}

/** Parses rank `rank`'s record, throwing a `PeerError` that says what is wrong with it. */
export function parsePeerRecord(b: Uint8Array, rank: number): PeerRecord {
  const bad = (why: string) =>
    new PeerError(
      `rank ${rank} sent a malformed bootstrap record (${b.length} bytes): ${why} ` +
        `(a rank running another pluvio version?)`,
    );
  if (b.length < 8) throw bad("shorter than its header");
  const v = new DataView(b.buffer, b.byteOffset, b.byteLength);
  const hostLen = v.getUint32(0, true);
  if (hostLen > MAX_HOST) throw bad(`host identity length ${hostLen} exceeds ${MAX_HOST}`);
  if (8 + hostLen >= b.length) {
    throw bad(`no worker address after ${hostLen} bytes of host identity`);
  }
  const pid = v.getUint32(4 + hostLen, true);
  if (pid === 0 || pid > 0x7fff_ffff) throw bad(`pid ${pid} is not a process id`);
  return {
    host: b.subarray(4, 4 + hostLen),
    pid,
    address: b.subarray(8 + hostLen),
  };
}

export { sameHost } from "../../ffi/process.ts";
