//! Active Messages for ids nobody receives yet: held by the worker (eager bytes copied,
//! rendezvous descriptors kept) and handed, in arrival order, to the stream or receiver
//! opened for the id later. Holding is bounded per worker (messages and bytes: headers
//! plus eager payloads); past the limit messages are counted as dropped, and the stream
//! or receiver learns how many ([`EV_AM_LOST`], or its next post fails with ENOBUFS).
//!
//! Every id without a stream or receiver has the holding handler registered, with a
//! per-id argument from [`Hold::args`] (UCX does not tell a handler its id).

use super::am::{reply_ep, Msg, AM_ID_MAX};
use super::bytes;
use super::layout::{Event, AM_REPLY, AM_RNDV, AM_SPILLED, EV_AM, EV_AM_LOST};
use super::receiver::{Body, Held, Receiver};
use super::sys::*;
use super::worker::{with, WorkerState};
use std::collections::{HashMap, VecDeque};
use std::os::raw::c_void;

/// Default limit of held messages per worker.
pub const DEFAULT_MAX_MSGS: u64 = 4096;
/// Default limit of held bytes (headers + eager payloads) per worker.
pub const DEFAULT_MAX_BYTES: u64 = 64 << 20;

/// The argument of the holding handler of one id.
pub struct HoldArg {
    pub worker: *mut WorkerState,
    pub id: u32,
}

/// Held messages and counters of one worker.
pub struct Hold {
    /// One argument per AM id (boxed slice: addresses stay put).
    pub args: Box<[HoldArg]>,
    queues: HashMap<u32, VecDeque<Held>>,
    /// Messages dropped per id since its queue was last handed over.
    dropped: HashMap<u32, u64>,
    pub held_msgs: u64,
    pub held_bytes: u64,
    pub dropped_total: u64,
    pub max_msgs: u64,
    pub max_bytes: u64,
}

impl Hold {
    /// The holding state of worker `w` (whose address the handler arguments keep).
    pub fn new(w: *mut WorkerState) -> Self {
        Hold {
            args: (0..=AM_ID_MAX)
                .map(|id| HoldArg { worker: w, id })
                .collect(),
            queues: HashMap::new(),
            dropped: HashMap::new(),
            held_msgs: 0,
            held_bytes: 0,
            dropped_total: 0,
            max_msgs: DEFAULT_MAX_MSGS,
            max_bytes: DEFAULT_MAX_BYTES,
        }
    }

    /// The argument of id `id`'s holding handler.
    pub fn arg(&mut self, id: u32) -> *mut c_void {
        &mut self.args[id as usize] as *mut HoldArg as *mut c_void
    }

    /// Takes the held messages of `id` and how many of its messages were dropped.
    fn take(&mut self, id: u32) -> (VecDeque<Held>, u64) {
        let q = self.queues.remove(&id).unwrap_or_default();
        for m in &q {
            self.held_msgs -= 1;
            self.held_bytes -= size(m);
        }
        (q, self.dropped.remove(&id).unwrap_or(0))
    }
}

/// Bytes a held message counts for: header, plus the payload when it was copied.
fn size(m: &Held) -> u64 {
    let body = match &m.body {
        Body::Eager(v) => v.len() as u64,
        Body::Rndv(_) => 0,
    };
    m.hdr.len() as u64 + body
}

/// The AM handler of ids without a stream or receiver.
///
/// # Safety
/// Called by UCX with `arg` from [`Hold::arg`] of a live worker.
pub unsafe extern "C" fn hold_cb(
    arg: *mut c_void,
    header: *const c_void,
    header_len: u64,
    data: *mut c_void,
    len: u64,
    param: *const ucp_am_recv_param_t,
) -> ucs_status_t {
    // SAFETY: arg is a HoldArg of the worker's boxed slice, alive with the worker.
    let a = unsafe { &*(arg as *const HoldArg) };
    // SAFETY: UCX passes a valid param.
    let param = unsafe { &*param };
    // SAFETY: UCX passes `header_len` bytes of header.
    let hdr = unsafe { bytes(header as *const u8, header_len as usize) };
    let rndv = param.recv_attr & ucp_am_recv_attr_t::UCP_AM_RECV_ATTR_FLAG_RNDV as u64 != 0;
    let has_reply = param.recv_attr & ucp_am_recv_attr_t::UCP_AM_RECV_ATTR_FIELD_REPLY_EP as u64
        != 0
        && !param.reply_ep.is_null();
    let id = a.id;
    let body_len = if rndv { 0 } else { len };
    let hold = |w: &mut WorkerState| {
        let reply = if has_reply {
            reply_ep(w, param.reply_ep)
        } else {
            -1
        };
        let h = &mut w.hold;
        let size = hdr.len() as u64 + body_len;
        if h.held_msgs + 1 > h.max_msgs || h.held_bytes + size > h.max_bytes {
            *h.dropped.entry(id).or_default() += 1;
            h.dropped_total += 1;
            // Eager bytes are let go; a rendezvous payload is released by UCX when the
            // handler does not keep its descriptor.
            return ucs_status_t::UCS_OK;
        }
        let (body, st) = if rndv {
            (Body::Rndv(data), ucs_status_t::UCS_INPROGRESS)
        } else {
            // SAFETY: UCX passes `len` bytes of eager payload, valid during the callback.
            let v = unsafe { bytes(data as *const u8, len as usize) }.to_vec();
            (Body::Eager(v), ucs_status_t::UCS_OK)
        };
        h.held_msgs += 1;
        h.held_bytes += size;
        h.queues.entry(id).or_default().push_back(Held {
            hdr: hdr.to_vec(),
            len,
            body,
            reply,
        });
        st
    };
    // SAFETY: the worker runs this callback inside a progress call, during which nobody
    // else borrows its state; the closure makes no UCX call.
    unsafe { with(a.worker, hold) }
}

/// Hands the held messages of `id` to its new stream: ring events in arrival order
/// (spilled, so they stay valid until JavaScript takes them), then [`EV_AM_LOST`] when
/// some were dropped.
pub fn to_stream(w: &mut WorkerState, id: u32) {
    let (q, dropped) = w.hold.take(id);
    for m in q {
        let mut ev = Event {
            kind: EV_AM,
            id: id as i32,
            data_off: -1,
            reply_ep: m.reply,
            flags: AM_SPILLED,
            hdr_len: m.hdr.len() as i32,
            len_lo: m.len as u32,
            len_hi: (m.len >> 32) as u32,
            ..Default::default()
        };
        if m.reply >= 0 {
            ev.flags |= AM_REPLY;
        }
        match m.body {
            Body::Eager(v) => {
                let mut all = m.hdr;
                all.extend_from_slice(&v);
                ev.msg = w.msgs.insert(Msg::Spill(all)) as i32;
            }
            Body::Rndv(desc) => {
                ev.flags |= AM_RNDV;
                ev.msg = w.msgs.insert(Msg::Rndv { desc, len: m.len }) as i32;
                ev.hdr_off = w.msgs.insert(Msg::Spill(m.hdr)) as i32;
            }
        }
        w.ring.push(ev);
    }
    if dropped > 0 {
        w.ring.push(Event {
            kind: EV_AM_LOST,
            id: id as i32,
            len_lo: dropped.min(u64::from(u32::MAX)) as u32,
            ..Default::default()
        });
    }
}

/// Hands the held messages of `id` to its new receiver (taken by its next posts, in
/// order; then the loss is reported by the post after them).
pub fn to_receiver(w: &mut WorkerState, id: u32, r: &mut Receiver) {
    let (q, dropped) = w.hold.take(id);
    r.adopt(q, dropped);
}

/// Releases every held rendezvous descriptor (the worker is being destroyed).
pub fn release_all(h: ucp_worker_h, hold: &mut Hold) {
    for (_, q) in hold.queues.drain() {
        for m in q {
            if let Body::Rndv(desc) = m.body {
                // SAFETY: a descriptor kept by returning UCS_INPROGRESS, released once.
                unsafe { ucp_am_data_release(h, desc) };
            }
        }
    }
    hold.held_msgs = 0;
    hold.held_bytes = 0;
}
