/**
 * The UCX backend's native symbols and error translation.
 *
 * @module
 */
import { errorFromCode } from "../ffi/errno.ts";
import { lastError, openBackend } from "../ffi/library.ts";
import { UCX_SYMBOLS } from "../ffi/symbols/ucx.ts";
import { PeerError, type PluvioError } from "../errors.ts";

/** The bound UCX symbols. */
export type UcxSymbols = Deno.DynamicLibrary<typeof UCX_SYMBOLS>["symbols"];

let syms: UcxSymbols | undefined;

/** The UCX symbols, bound on first use (throws `BackendUnavailableError` without UCX). */
export function ucx(): UcxSymbols {
  return syms ??= openBackend("ucx", UCX_SYMBOLS);
}

/** errno values that mean the peer died, refused or cannot be reached. */
const PEER_ERRNOS = new Set([32, 103, 104, 107, 110, 111, 113]);

/** The typed error for a negative native code: peer failures become `PeerError`. */
export function ucxError(code: number, what: string, detail: string): PluvioError {
  const e = errorFromCode(code, what, detail);
  if (PEER_ERRNOS.has(-code)) return new PeerError(e.message, { errno: -code, cause: e });
  return e;
}

/** Returns `rc` when `>= 0`, else throws the typed error (with the native message). */
export function checkUcx(rc: number, what: string): number {
  if (rc >= 0) return rc;
  throw ucxError(rc, what, lastError());
}

const textBuf = new Uint8Array(256);
const decoder = new TextDecoder();

/** UCX's description of a raw UCS status. */
export function statusText(ucs: number): string {
  const n = Number(ucx().pluvio_ucx_status_text(ucs, textBuf, BigInt(textBuf.length)));
  if (n < 0) return `UCS status ${ucs}`;
  return `${decoder.decode(textBuf.subarray(0, Math.min(n, textBuf.length)))} (UCS ${ucs})`;
}

/** Which UCX the native library was built against and which one it runs with. */
export interface UcxVersion {
  /** `"system 1.13.1"` (the site's installation) or `"bundled 1.12.1"`. */
  builtAgainst: string;
  /** The version string of the UCX library loaded in this process, e.g. `"1.13.1"`. */
  loaded: string;
}

/** The UCX the library uses (see {@link UcxVersion}). */
export function ucxVersion(): UcxVersion {
  const n = checkUcx(
    Number(ucx().pluvio_ucx_version(textBuf, BigInt(textBuf.length))),
    "UCX version",
  );
  const [builtAgainst, loaded] = decoder.decode(textBuf.subarray(0, Math.min(n, textBuf.length)))
    .split(" / ");
  return { builtAgainst, loaded };
}

/** ECANCELED, as UCX's UCS_ERR_CANCELED is reported. */
const ECANCELED = 125;
/** EIO, and UCX's UCS_ERR_IO_ERROR (a transfer that could not reach its peer's memory). */
const EIO = 5, UCS_ERR_IO_ERROR = -3;

/**
 * The error for a failed asynchronous operation reported through the ring. A caller's
 * abort never gets here (it settles the operation first), so ECANCELED means that UCX
 * cancelled it because its endpoint went down (UCX 1.13 cancels a flush whose peer closed
 * the connection): that is the peer's doing, a `PeerError`, not the caller's cancel.
 */
export function eventError(code: number, ucs: number, what: string): PluvioError {
  const e = ucxError(code, what, statusText(ucs));
  if (ucs === UCS_ERR_IO_ERROR) {
    // A shared-memory transfer (CMA) whose peer process is gone.
    return new PeerError(`${e.message}: the peer's memory could not be reached (did it exit?)`, {
      errno: EIO,
      cause: e,
    });
  }
  if (code !== -ECANCELED) return e;
  return new PeerError(`${e.message}: the connection was closed or its peer went away`, {
    errno: ECANCELED,
    cause: e,
  });
}

/** Reads a native string result: `fill(buf)` returns the full length or a negative code. */
export function readText(fill: (buf: Uint8Array) => number | bigint, what: string): string {
  let buf = new Uint8Array(128);
  for (;;) {
    const n = checkUcx(Number(fill(buf)), what);
    if (n <= buf.length) return decoder.decode(buf.subarray(0, n));
    buf = new Uint8Array(n);
  }
}

/** UTF-8 bytes of `s`. */
export function utf8(s: string): Uint8Array {
  return new TextEncoder().encode(s);
}
