//! Posted receives of Active Messages (`AmReceiver` in TypeScript): the caller posts
//! buffers, and each message of the id goes into the oldest posted one straight from
//! the AM callback. An eager payload is copied there; a rendezvous payload is pulled
//! into it from the callback itself, as `ucx_perftest` does, so no JavaScript turn sits
//! between a message's arrival and the start of its transfer. Messages that arrive
//! while no buffer is posted are held (eager bytes copied, rendezvous descriptors kept)
//! and matched by the next post, in order.

use super::layout::{Event, MISFIT};
use super::request::{complete, recv_am_param, submitted_with, ReqInfo};
use super::sys::*;
use super::worker::{with, worker, WorkerState};
use super::{einval, status_code, ucs_err};
use crate::error::{guard, Error};
use std::collections::VecDeque;
use std::os::raw::c_void;

/// A buffer pair posted by JavaScript for op `op`; both stay alive (referenced by the
/// op) until its completion event.
struct Post {
    op: u32,
    data: *mut u8,
    cap: u64,
    hdr: *mut u8,
    hdr_cap: usize,
}

/// The payload of a held message.
pub enum Body {
    /// An eager payload, copied.
    Eager(Vec<u8>),
    /// A rendezvous descriptor, kept by returning `UCS_INPROGRESS` from the callback.
    Rndv(*mut c_void),
}

/// A message that arrived while no buffer was posted (or no receiver was open).
pub struct Held {
    /// The header bytes.
    pub hdr: Vec<u8>,
    /// The payload length.
    pub len: u64,
    /// The payload.
    pub body: Body,
    /// The reply endpoint id, or -1.
    pub reply: i32,
}

/// The posted buffers and held messages of one AM id.
#[derive(Default)]
pub struct Receiver {
    posts: VecDeque<Post>,
    held: VecDeque<Held>,
    /// Messages dropped before the receiver opened, reported once the first `lost_after`
    /// held messages were taken.
    lost: u64,
    lost_after: usize,
}

impl Receiver {
    /// Takes over what the worker held for this id before the receiver opened.
    pub fn adopt(&mut self, held: VecDeque<Held>, dropped: u64) {
        self.lost_after = held.len();
        self.lost = dropped;
        self.held = held;
    }
}

/// What a completion reports besides the length: header length | reply endpoint << 32.
fn extra(hdr_len: usize, reply: i32) -> u64 {
    hdr_len as u64 | (u64::from(reply as u32) << 32)
}

fn fits(p: &Post, hdr_len: usize, len: u64) -> bool {
    hdr_len <= p.hdr_cap && len <= p.cap
}

/// Copies a header into a post's header buffer.
fn land_header(p: &Post, hdr: &[u8]) {
    // SAFETY: the post's header buffer holds hdr_cap >= hdr.len() bytes (checked by
    // `fits`) and stays alive until the op's completion; UCX's bytes do not overlap it.
    unsafe { std::ptr::copy_nonoverlapping(hdr.as_ptr(), p.hdr, hdr.len()) };
}

/// Copies an eager payload into a post's data buffer.
fn land_data(p: &Post, payload: &[u8]) {
    // SAFETY: as for land_header, with cap >= payload.len().
    unsafe { std::ptr::copy_nonoverlapping(payload.as_ptr(), p.data, payload.len()) };
}

unsafe extern "C" fn pull_cb(request: *mut c_void, st: ucs_status_t, len: u64, _u: *mut c_void) {
    // SAFETY: UCX passes the request we submitted through submitted_with, whose user
    // area is a ReqInfo.
    let extra = unsafe { (*(request as *const ReqInfo)).extra };
    // SAFETY: as above; completed once.
    unsafe { complete(request, st, len, extra) };
}

/// Starts pulling rendezvous payload `desc` (`len` bytes) into `buf` for op `op`.
/// 1 = done at once (length in the worker's imm), 0 = a completion event follows, or the
/// status UCX refused it with.
fn start_pull(
    w: *mut WorkerState,
    op: u32,
    desc: *mut c_void,
    buf: *mut u8,
    len: u64,
    ext: u64,
) -> Result<i32, ucs_status_t> {
    let mut got: u64 = 0;
    let p = recv_am_param(Some(pull_cb), &mut got);
    // SAFETY: w is live and not borrowed by the caller (start_pull's contract); a read.
    let h = unsafe { with(w, |s| s.handle) };
    // SAFETY: desc is a held rendezvous descriptor (UCX owns it from now on); `buf`
    // holds `len` bytes and stays referenced by the op until its completion event.
    let r = unsafe { ucp_am_recv_data_nbx(h, desc, buf as *mut c_void, len as _, &p) };
    if UCS_PTR_IS_ERR(r) {
        return Err(UCS_PTR_RAW_STATUS(r));
    }
    let rc = submitted_with(w, r, op, ext);
    if rc == 1 {
        // SAFETY: as above, after the UCX call.
        unsafe { with(w, |s| s.imm = [got, ext]) };
    }
    Ok(rc)
}

/// Handles an arrived message of a receiver's id inside the AM callback; returns what
/// the callback returns to UCX.
///
/// # Safety
/// `w` is the live worker running the callback, with no other borrow of it active;
/// `data` is UCX's payload pointer (`len` bytes when eager, a descriptor when `rndv`).
pub unsafe fn arrived(
    w: *mut WorkerState,
    r: &mut Receiver,
    hdr: &[u8],
    data: *mut c_void,
    len: u64,
    rndv: bool,
    reply: i32,
) -> ucs_status_t {
    let ext = extra(hdr.len(), reply);
    let push = |ev: Event| {
        // SAFETY: guaranteed by the caller (live, not otherwise borrowed).
        unsafe { with(w, |s| s.ring.push(ev)) }
    };
    if r.held.is_empty() {
        while let Some(p) = r.posts.pop_front() {
            if !fits(&p, hdr.len(), len) {
                // This post ends with an error; the message tries the next one.
                push(Event::op(p.op, 0, 0, len, extra(hdr.len(), MISFIT)));
                continue;
            }
            land_header(&p, hdr);
            if !rndv {
                // SAFETY: UCX passes `len` bytes of eager payload.
                land_data(&p, unsafe { super::bytes(data as *const u8, len as usize) });
                push(Event::op(p.op, 0, 0, len, ext));
                return ucs_status_t::UCS_OK;
            }
            return match start_pull(w, p.op, data, p.data, len, ext) {
                Ok(0) => ucs_status_t::UCS_INPROGRESS,
                Ok(_) => {
                    // SAFETY: guaranteed by the caller; imm was just written.
                    let got = unsafe { with(w, |s| s.imm[0]) };
                    push(Event::op(p.op, 0, 0, got, ext));
                    ucs_status_t::UCS_INPROGRESS
                }
                Err(st) => {
                    // UCX refused the pull: report it on this post; UCX drops the payload.
                    push(Event::op(p.op, status_code(st), st as i32, 0, 0));
                    ucs_status_t::UCS_OK
                }
            };
        }
    }
    let (body, st) = if rndv {
        (Body::Rndv(data), ucs_status_t::UCS_INPROGRESS)
    } else {
        // SAFETY: UCX passes `len` bytes of eager payload, valid during the callback.
        let v = unsafe { super::bytes(data as *const u8, len as usize) }.to_vec();
        (Body::Eager(v), ucs_status_t::UCS_OK)
    };
    r.held.push_back(Held {
        hdr: hdr.to_vec(),
        len,
        body,
        reply,
    });
    st
}

/// Releases the held rendezvous descriptors of `r` (its id is being unregistered, or
/// its worker destroyed).
pub fn release_held(h: ucp_worker_h, r: &mut Receiver) {
    for m in r.held.drain(..) {
        if let Body::Rndv(desc) = m.body {
            // SAFETY: a descriptor we kept by returning UCS_INPROGRESS, released once.
            unsafe { ucp_am_data_release(h, desc) };
        }
    }
    r.posts.clear();
}

fn receiver(ws: &mut WorkerState, id: u32) -> Result<&mut Receiver, Error> {
    ws.am_handlers
        .get_mut(&id)
        .and_then(|c| c.receiver.as_mut())
        .ok_or_else(|| einval(format!("AM id {id} has no receiver")))
}

/// Starts receiving Active Messages `id` into posted buffers.
#[no_mangle]
pub extern "C" fn pluvio_ucx_am_receiver_open(w: *mut WorkerState, id: u32) -> i32 {
    guard(|| super::am::register(w, id, Some(Receiver::default())))
}

/// Posts `data` (`cap` bytes) and `hdr` (`hdr_cap` bytes) for the next message of
/// receiver `id` not yet matched, for op `op`. 1 = a held message landed at once
/// (imm = [payload length, header length | reply endpoint << 32]); 0 = posted, or a
/// held rendezvous payload is being pulled: a completion event follows. A held message
/// that does not fit fails the call and stays held.
#[no_mangle]
#[allow(clippy::too_many_arguments)]
pub extern "C" fn pluvio_ucx_am_post(
    w: *mut WorkerState,
    id: u32,
    data: *mut u8,
    cap: u32,
    hdr: *mut u8,
    hdr_cap: u32,
    op: u32,
) -> i32 {
    guard(|| {
        // SAFETY: JS passes a live worker.
        let r = receiver(unsafe { worker(w) }?, id)?;
        let p = Post {
            op,
            data,
            cap: u64::from(cap),
            hdr,
            hdr_cap: hdr_cap as usize,
        };
        if r.lost > 0 && r.lost_after == 0 {
            // The gap of dropped messages is reached: this post fails, saying how many.
            let n = r.lost;
            r.lost = 0;
            // SAFETY: w is live; the receiver borrow `r` is not used again.
            unsafe { with(w, |s| s.imm = [n, 0]) };
            return Err(Error::errno(
                libc::ENOBUFS,
                format!("AM id {id}: {n} message(s) were dropped before the receiver opened"),
            ));
        }
        let Some(m) = r.held.front() else {
            r.posts.push_back(p);
            return Ok(0);
        };
        if !fits(&p, m.hdr.len(), m.len) {
            return Err(einval(format!(
                "the next message of AM {id} has a {}-byte header and a {}-byte payload; \
                 the buffers hold {} and {} bytes (the message stays for the next receive)",
                m.hdr.len(),
                m.len,
                p.hdr_cap,
                p.cap
            )));
        }
        let m = r.held.pop_front().expect("front checked above");
        r.lost_after = r.lost_after.saturating_sub(1);
        land_header(&p, &m.hdr);
        let ext = extra(m.hdr.len(), m.reply);
        match m.body {
            Body::Eager(v) => {
                land_data(&p, &v);
                // SAFETY: w is live; the receiver borrow `r` is no longer used.
                unsafe { with(w, |s| s.imm = [m.len, ext]) };
                Ok(1)
            }
            Body::Rndv(desc) => start_pull(w, op, desc, p.data, m.len, ext)
                .map_err(|st| ucs_err("ucp_am_recv_data_nbx", st)),
        }
    })
}

/// Withdraws the post of op `op` from receiver `id` if no message was matched to it
/// yet: 1 = withdrawn (no event follows), 0 = matched already (its completion follows).
#[no_mangle]
pub extern "C" fn pluvio_ucx_am_unpost(w: *mut WorkerState, id: u32, op: u32) -> i32 {
    guard(|| {
        // SAFETY: JS passes a live worker.
        let r = receiver(unsafe { worker(w) }?, id)?;
        Ok(match r.posts.iter().position(|p| p.op == op) {
            Some(i) => {
                r.posts.remove(i);
                1
            }
            None => 0,
        })
    })
}

/// Messages held by receiver `id` (arrived while nothing was posted).
#[no_mangle]
pub extern "C" fn pluvio_ucx_am_held(w: *mut WorkerState, id: u32) -> i32 {
    guard(|| {
        // SAFETY: JS passes a live worker.
        let r = receiver(unsafe { worker(w) }?, id)?;
        Ok(r.held.len() as i32)
    })
}
