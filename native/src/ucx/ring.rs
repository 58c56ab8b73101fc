//! The completion ring and message arena shared with TypeScript.
//!
//! Callbacks (run inside `ucp_worker_progress`) append [`Event`]s to a backlog; each poll
//! copies up to [`RING_CAP`] of them into `ring`, which TypeScript reads through one
//! `Int32Array` built once. Headers and eager payloads of arrived Active Messages are
//! copied into `arena` (read through one `Uint8Array`); the arena is rewound only when
//! every event that points into it has been handed over, so offsets stay valid until
//! TypeScript has copied them out during its dispatch. The event layout is in
//! [`super::layout`].

use super::layout::Event;
use std::collections::VecDeque;

/// Events delivered per poll.
pub const RING_CAP: usize = 1024;
/// Bytes of arena for AM headers and eager payloads; larger ones are spilled.
pub const ARENA_SIZE: usize = 4 << 20;

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
