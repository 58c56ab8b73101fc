/**
 * Layout of what the UCX backend shares with its native half (mirrors
 * `native/src/ucx/layout.rs`): the completion-ring event, the immediate-result area and
 * the flag values of the native calls. `tests/ucx/layout_test.ts` checks every value
 * against what the native library reports (`pluvio_ucx_layout`).
 *
 * @module
 */

/** i32 words per ring event. */
export const EVENT_WORDS = 16;

/** i32 word offsets of an event's fields (native `layout::Event`). */
export const EV = {
  kind: 0,
  id: 1,
  code: 2,
  ucs: 3,
  lenLo: 4,
  lenHi: 5,
  tagLo: 6,
  tagHi: 7,
  msg: 8,
  hdrOff: 9,
  hdrLen: 10,
  dataOff: 11,
  flags: 12,
  replyEp: 13,
} as const;

/** Event kinds (`EV.kind`). */
export const Kind = {
  /** An operation finished: id = op id, code/ucs = failure, len, tag. */
  OP: 1,
  /** An Active Message arrived: id = AM id, see {@link AmFlag}. */
  AM: 2,
  /** An endpoint failed: id = endpoint id, code/ucs = why. */
  EP_ERROR: 3,
  /** A connection request: id = listener id, msg = request id. */
  CONN: 4,
  /** Messages of AM id `id` were dropped while held (len = how many). */
  AM_LOST: 5,
} as const;

/** Flags of an arrived Active Message (`EV.flags`). */
export const AmFlag = {
  /** Rendezvous: the payload is still at the sender (`msg` is its descriptor). */
  RNDV: 1,
  /** Header and payload were spilled out of the arena (`msg` holds them). */
  SPILLED: 2,
  /** `replyEp` is the endpoint to reply on. */
  REPLY: 4,
} as const;

/**
 * Flags of `pluvio_ucx_am_send` / `_send_many`. `STAGE` (`am_send` only): native code
 * copies header and data into memory of its own before sending, kept until the send
 * completes (small sends of detachable buffers).
 */
export const SendFlag = { REPLY: 1, EAGER: 2, RNDV: 4, STAGE: 8 } as const;

/** Sends of at most this many bytes (header and data) are staged by native code. */
export const NATIVE_STAGE_MAX = 8192;

/** Flags of `pluvio_ucx_worker_wait`, and its "any event" op. */
export const Wait = {
  /** Give the CPU away between progress calls. */
  YIELD: 1,
  /** Spin until the deadline of the previous wait without this flag. */
  RESUME: 2,
  /** `op` meaning "any event". */
  ANY: 0xffff_ffff,
} as const;

/** What `pluvio_ucx_worker_poll` returns when UCX made progress but nothing finished. */
export const POLL_MOVED = 1 << 30;
/** Flag in the result of `pluvio_ucx_am_wait_into`: a message landed in the buffers. */
export const LANDED = 1 << 16;
/** `tagHi` of a posted AM receive whose message did not fit (native `MISFIT`). */
export const MISFIT = -2;
/** Connect flag: UCX peer-failure handling on the endpoint. */
export const CONNECT_PEER = 1;
/** u32 words of the immediate-result area: [len lo, len hi, tag lo, tag hi]. */
export const IMM_WORDS = 4;

/** Every value above by the name `pluvio_ucx_layout` reports it under. */
export const LAYOUT: Readonly<Record<string, number>> = {
  EVENT_WORDS,
  ...Object.fromEntries(Object.entries(EV).map(([k, v]) => [`EV.${k}`, v])),
  ...Object.fromEntries(Object.entries(Kind).map(([k, v]) => [`Kind.${k}`, v])),
  ...Object.fromEntries(Object.entries(AmFlag).map(([k, v]) => [`AmFlag.${k}`, v])),
  ...Object.fromEntries(Object.entries(SendFlag).map(([k, v]) => [`SendFlag.${k}`, v])),
  ...Object.fromEntries(Object.entries(Wait).map(([k, v]) => [`Wait.${k}`, v])),
  POLL_MOVED,
  LANDED,
  MISFIT,
  CONNECT_PEER,
  IMM_WORDS,
};
