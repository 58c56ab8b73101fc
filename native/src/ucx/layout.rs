//! Everything the UCX backend shares with TypeScript by layout or value, in one place
//! (mirrored in `lib/ucx/layout.ts`): the completion-ring [`Event`], the event kinds and
//! flags, the flags of the native calls and their special results.
//! [`pluvio_ucx_layout`] reports every value by name, so a test checks both sides agree.

use crate::error::guard;
use std::mem::offset_of;

/// i32 words per event.
pub const EVENT_WORDS: usize = 16;

/// An operation finished: id = op id, a/b = length, c/d = sender tag.
pub const EV_OP: i32 = 1;
/// An Active Message arrived: id = AM id, see [`Event::am`].
pub const EV_AM: i32 = 2;
/// An endpoint failed: id = endpoint id.
pub const EV_EP_ERROR: i32 = 3;
/// A listener got a connection request: id = listener id, msg = request id.
pub const EV_CONN: i32 = 4;
/// Messages of AM id `id` were dropped while held for a stream not yet open: len = how
/// many.
pub const EV_AM_LOST: i32 = 5;

/// AM flag: rendezvous payload still at the sender; fetch with `am_recv_data`.
pub const AM_RNDV: i32 = 1;
/// AM flag: header and payload were spilled out of the arena; fetch with `am_take`.
pub const AM_SPILLED: i32 = 2;
/// AM flag: `reply_ep` holds the endpoint id to reply on.
pub const AM_REPLY: i32 = 4;

/// One event; the layout is mirrored in `lib/ucx/layout.ts` (`EV`).
#[repr(C)]
#[derive(Clone, Copy, Default, Debug)]
pub struct Event {
    pub kind: i32,
    pub id: i32,
    /// 0, or the negative code of the failure (see `status_code`).
    pub code: i32,
    /// The raw UCS status (for the message).
    pub ucs: i32,
    pub len_lo: u32,
    pub len_hi: u32,
    pub tag_lo: u32,
    pub tag_hi: u32,
    pub msg: i32,
    pub hdr_off: i32,
    pub hdr_len: i32,
    pub data_off: i32,
    pub flags: i32,
    pub reply_ep: i32,
    pub _pad: [i32; 2],
}

const _: () = assert!(std::mem::size_of::<Event>() == EVENT_WORDS * 4);

impl Event {
    /// A finished operation.
    pub fn op(op: u32, code: i32, ucs: i32, len: u64, tag: u64) -> Self {
        Event {
            kind: EV_OP,
            id: op as i32,
            code,
            ucs,
            len_lo: len as u32,
            len_hi: (len >> 32) as u32,
            tag_lo: tag as u32,
            tag_hi: (tag >> 32) as u32,
            ..Default::default()
        }
    }
}

/// Send flag: ask UCX to pass a reply endpoint to the receiver.
pub const SEND_REPLY: u32 = 1;
/// Send flag: force the eager protocol.
pub const SEND_EAGER: u32 = 2;
/// Send flag: force the rendezvous protocol.
pub const SEND_RNDV: u32 = 4;
/// Send flag of `pluvio_ucx_am_send`: copy header and data into worker-owned memory
/// before sending (small sends of buffers JavaScript could detach), kept until the send
/// completes when UCX does not finish it at once.
pub const SEND_STAGE: u32 = 8;

/// Flag of `pluvio_ucx_worker_wait`: give the CPU away between progress calls (for
/// more ranks than cores, where spinning would starve the peer being waited for).
pub const WAIT_YIELD: u32 = 1;
/// Flag of `pluvio_ucx_worker_wait`: ignore `spin_ns` and spin until the deadline of
/// the previous wait without this flag (a spin resumed after another stream's event).
pub const WAIT_RESUME: u32 = 2;
/// `op` of `pluvio_ucx_worker_wait` that waits for any event instead of one operation.
pub const WAIT_ANY: u32 = u32::MAX;

/// What `pluvio_ucx_worker_poll` returns when UCX made progress (bytes of a transfer
/// moved, a protocol step ran) but nothing finished: the executor treats the turn as busy
/// instead of idle, so it keeps polling rather than parking in the middle of a transfer
/// whose next step needs this side's progress (a TCP rendezvous, a shared-memory pull).
pub const POLL_MOVED: i32 = 1 << 30;

/// Flag in the result of `pluvio_ucx_am_wait_into`: a message landed in the buffers.
pub const LANDED: i32 = 1 << 16;

/// `tag_hi` of a completion whose message did not fit the posted buffers: the post is
/// over (the caller gets an error) and the message goes to the next post.
pub const MISFIT: i32 = -2;

/// Connect flag: peer-failure handling (UCX error mode PEER). Without it a dead peer can
/// hang operations, but UCX 1.12 then may use shared memory, which it cannot watch.
pub const CONNECT_PEER: u32 = 1;

/// u32 words of the immediate-result area (`WorkerState::imm`: two u64).
pub const IMM_WORDS: usize = 4;

/// i32 word offset of an [`Event`] field.
macro_rules! word {
    ($f:ident) => {
        (offset_of!(Event, $f) / 4) as i64
    };
}

/// Every shared value, by the name `lib/ucx/layout.ts` gives it.
fn table() -> Vec<(&'static str, i64)> {
    vec![
        ("EVENT_WORDS", EVENT_WORDS as i64),
        ("EV.kind", word!(kind)),
        ("EV.id", word!(id)),
        ("EV.code", word!(code)),
        ("EV.ucs", word!(ucs)),
        ("EV.lenLo", word!(len_lo)),
        ("EV.lenHi", word!(len_hi)),
        ("EV.tagLo", word!(tag_lo)),
        ("EV.tagHi", word!(tag_hi)),
        ("EV.msg", word!(msg)),
        ("EV.hdrOff", word!(hdr_off)),
        ("EV.hdrLen", word!(hdr_len)),
        ("EV.dataOff", word!(data_off)),
        ("EV.flags", word!(flags)),
        ("EV.replyEp", word!(reply_ep)),
        ("Kind.OP", EV_OP.into()),
        ("Kind.AM", EV_AM.into()),
        ("Kind.EP_ERROR", EV_EP_ERROR.into()),
        ("Kind.CONN", EV_CONN.into()),
        ("Kind.AM_LOST", EV_AM_LOST.into()),
        ("AmFlag.RNDV", AM_RNDV.into()),
        ("AmFlag.SPILLED", AM_SPILLED.into()),
        ("AmFlag.REPLY", AM_REPLY.into()),
        ("SendFlag.REPLY", SEND_REPLY.into()),
        ("SendFlag.EAGER", SEND_EAGER.into()),
        ("SendFlag.RNDV", SEND_RNDV.into()),
        ("SendFlag.STAGE", SEND_STAGE.into()),
        ("Wait.YIELD", WAIT_YIELD.into()),
        ("Wait.RESUME", WAIT_RESUME.into()),
        ("Wait.ANY", WAIT_ANY.into()),
        ("POLL_MOVED", POLL_MOVED.into()),
        ("LANDED", LANDED.into()),
        ("MISFIT", MISFIT.into()),
        ("CONNECT_PEER", CONNECT_PEER.into()),
        ("IMM_WORDS", IMM_WORDS as i64),
    ]
}

/// Writes every shared value as `name=value` lines into `buf` (`cap` bytes); returns
/// the full length of the text (call again with a larger buffer when it exceeds `cap`).
#[no_mangle]
pub extern "C" fn pluvio_ucx_layout(buf: *mut u8, cap: usize) -> i64 {
    guard(|| {
        let text: String = table().iter().map(|(k, v)| format!("{k}={v}\n")).collect();
        if !buf.is_null() {
            // SAFETY: the caller promises `buf` holds `cap` bytes; at most that is written.
            unsafe { std::ptr::copy_nonoverlapping(text.as_ptr(), buf, text.len().min(cap)) };
        }
        Ok(text.len() as i64)
    })
}
