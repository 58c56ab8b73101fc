//! The completion ring and message arena shared with TypeScript.
//!
//! Callbacks (run inside `ucp_worker_progress`) append [`Event`]s to a backlog; each poll
//! copies up to [`RING_CAP`] of them into `ring`, which TypeScript reads through one
//! `Int32Array` built once. Headers and eager payloads of arrived Active Messages are
//! copied into `arena` (read through one `Uint8Array`); the arena is rewound only when
//! every event that points into it has been handed over, so offsets stay valid until
//! TypeScript has copied them out during its dispatch.

use std::collections::VecDeque;

/// Events delivered per poll.
pub const RING_CAP: usize = 1024;
/// Bytes of arena for AM headers and eager payloads; larger ones are spilled.
pub const ARENA_SIZE: usize = 4 << 20;
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

/// AM flag: rendezvous payload still at the sender; fetch with `am_recv_data`.
pub const AM_RNDV: i32 = 1;
/// AM flag: header and payload were spilled out of the arena; fetch with `am_take`.
pub const AM_SPILLED: i32 = 2;
/// AM flag: `reply_ep` holds the endpoint id to reply on.
pub const AM_REPLY: i32 = 4;

/// One event; the layout is mirrored in `lib/ucx/ring.ts`.
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

/// Ring, backlog and arena of one worker.
pub struct Ring {
    pub ring: Box<[Event]>,
    backlog: VecDeque<Event>,
    pub arena: Box<[u8]>,
    arena_used: usize,
}

impl Ring {
    pub fn new() -> Self {
        Ring {
            ring: vec![Event::default(); RING_CAP].into_boxed_slice(),
            backlog: VecDeque::with_capacity(RING_CAP),
            arena: vec![0u8; ARENA_SIZE].into_boxed_slice(),
            arena_used: 0,
        }
    }

    /// Queues an event for the next poll.
    pub fn push(&mut self, ev: Event) {
        self.backlog.push_back(ev);
    }

    /// Events waiting to be handed over.
    pub fn pending(&self) -> usize {
        self.backlog.len()
    }

    /// Called at the start of a poll: TypeScript has copied everything out of the arena
    /// once no handed-over-later event can still point into it.
    pub fn begin_poll(&mut self) {
        if self.backlog.is_empty() {
            self.arena_used = 0;
        }
    }

    /// Copies `parts` contiguously into the arena; returns their offsets or `None` when
    /// they do not fit (the caller spills).
    pub fn arena_put(&mut self, parts: [&[u8]; 2]) -> Option<[i32; 2]> {
        let total = parts[0].len() + parts[1].len();
        // 8-byte alignment keeps typed views over payloads possible.
        let start = (self.arena_used + 7) & !7;
        if start + total > self.arena.len() {
            return None;
        }
        let mut off = start;
        let mut offs = [0i32; 2];
        for (i, p) in parts.iter().enumerate() {
            self.arena[off..off + p.len()].copy_from_slice(p);
            offs[i] = off as i32;
            off += p.len();
        }
        self.arena_used = off;
        Some(offs)
    }

    /// Moves up to [`RING_CAP`] events into the shared ring; returns how many.
    pub fn flush(&mut self) -> usize {
        let n = self.backlog.len().min(self.ring.len());
        for slot in self.ring.iter_mut().take(n) {
            // n <= backlog.len(), so pop_front always yields.
            *slot = self.backlog.pop_front().unwrap_or_default();
        }
        n
    }
}
