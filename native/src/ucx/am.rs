//! Active Messages: handlers per AM id that report arrivals as ring events (header and
//! eager payload copied into the arena), rendezvous payloads fetched on request into the
//! caller's buffer, and sends.

use super::endpoint::{ep_handle, Ep};
use super::hold;
use super::layout::{
    Event, AM_REPLY, AM_RNDV, AM_SPILLED, EV_AM, LANDED, SEND_EAGER, SEND_REPLY, SEND_RNDV,
    SEND_STAGE,
};
use super::receiver::{self, Receiver};
use super::request::{complete, recv_am_param, send_param, submitted};
use super::sys::*;
use super::worker::{with, worker, WorkerState};
use super::{bytes, einval, ucs_check};
use crate::error::{guard, Error};
use std::os::raw::c_void;

/// A held message payload.
pub enum Msg {
    /// A rendezvous descriptor (fetch with `ucp_am_recv_data_nbx` or release).
    Rndv { desc: *mut c_void, len: u64 },
    /// Header then payload, copied out because they did not fit the arena.
    Spill(Vec<u8>),
}

/// Callback argument of an AM handler: boxed so its address is stable.
pub struct AmCtx {
    worker: *mut WorkerState,
    id: u32,
    /// Set for an id received through posted buffers ([`super::receiver`]).
    pub receiver: Option<Receiver>,
}

/// The largest AM id UCX accepts (ids travel as 16 bits).
pub const AM_ID_MAX: u32 = 0xffff;

/// Caller buffers that the next eager Active Message of one id is copied into, straight
/// from UCX, during [`pluvio_ucx_am_wait_into`] (instead of the arena and the ring).
pub struct Landing {
    id: u32,
    data: *mut u8,
    data_cap: usize,
    hdr: *mut u8,
    hdr_cap: usize,
    /// A message of `id` went to the ring first: later ones must not overtake it.
    blocked: bool,
    /// Set once a message landed: [payload length, header length, reply endpoint or -1].
    landed: Option<(u64, u32, i32)>,
}

/// Copies an eager message into the landing buffers when it is the first of its id and
/// fits; returns whether it did.
fn land(w: &mut WorkerState, id: u32, hdr: &[u8], payload: &[u8], reply: i32) -> bool {
    let Some(l) = w.landing.as_mut() else {
        return false;
    };
    if l.id != id || l.landed.is_some() {
        return false;
    }
    if l.blocked || payload.len() > l.data_cap || hdr.len() > l.hdr_cap {
        l.blocked = true;
        return false;
    }
    // SAFETY: the buffers hold data_cap and hdr_cap bytes and stay alive for the whole
    // pluvio_ucx_am_wait_into call (JS passes them as arguments); UCX's bytes do not
    // overlap them.
    unsafe {
        std::ptr::copy_nonoverlapping(payload.as_ptr(), l.data, payload.len());
        std::ptr::copy_nonoverlapping(hdr.as_ptr(), l.hdr, hdr.len());
    }
    l.landed = Some((payload.len() as u64, hdr.len() as u32, reply));
    true
}

/// Clears the worker's landing when dropped.
struct ClearLanding(*mut WorkerState);

impl Drop for ClearLanding {
    fn drop(&mut self) {
        // SAFETY: the worker outlives the pluvio_ucx_am_wait_into call that made this, and
        // no other borrow of it is live when the call returns or unwinds.
        unsafe { super::worker::with(self.0, |s| s.landing = None) };
    }
}

/// Waits like `pluvio_ucx_worker_wait(WAIT_ANY)` and also until the next eager Active
/// Message `id` has landed in `data` (payload) and `hdr` (header), copied straight from
/// UCX; a message of `id` that does not fit, or that follows one that did not, goes to
/// the ring as usual (so order is kept). Returns the events now in the ring, plus
/// [`LANDED`] when a message landed: imm = [payload length, header length | reply
/// endpoint (or -1) << 32].
#[no_mangle]
#[allow(clippy::too_many_arguments)]
pub extern "C" fn pluvio_ucx_am_wait_into(
    w: *mut WorkerState,
    id: u32,
    spin_ns: u32,
    flags: u32,
    data: *mut u8,
    data_cap: u32,
    hdr: *mut u8,
    hdr_cap: u32,
) -> i32 {
    guard(|| {
        // SAFETY: JS passes a live worker (or null, refused here).
        let ws = unsafe { worker(w) }?;
        ws.landing = Some(Landing {
            id,
            data,
            data_cap: data_cap as usize,
            hdr,
            hdr_cap: hdr_cap as usize,
            // Events not yet handed over might be of `id`.
            blocked: ws.ring.pending() != 0,
            landed: None,
        });
        // The landing points into JS buffers valid for this call only: clear it on every
        // way out, unwinding included.
        let _clear = ClearLanding(w);
        // SAFETY: w is live; no borrow is held across the call.
        let n = unsafe {
            super::worker::spin(w, spin_ns, flags, |s| {
                s.ring.pending() != 0 || s.landing.as_ref().is_some_and(|l| l.landed.is_some())
            })
        };
        // SAFETY: w is live and, after the progress calls, not borrowed elsewhere.
        Ok(unsafe {
            super::worker::with(w, |ws| match ws.landing.take().and_then(|l| l.landed) {
                Some((len, hlen, reply)) => {
                    ws.imm = [len, u64::from(hlen) | (u64::from(reply as u32) << 32)];
                    n | LANDED
                }
                None => n,
            })
        })
    })
}

/// The endpoint id to reply to a message on, adopting UCX's reply endpoint `ep`.
pub fn reply_ep(w: &mut WorkerState, ep: ucp_ep_h) -> i32 {
    if let Some(&id) = w.ep_ids.get(&(ep as usize)) {
        return id as i32;
    }
    // An endpoint UCX created for this sender (it connected by our address): adopt it
    // so JavaScript can reply through an id; UCX keeps owning it.
    let id = w.eps.insert(Ep {
        handle: ep,
        code: 0,
        ucs: 0,
        adopted: true,
    });
    w.ep_ids.insert(ep as usize, id);
    id as i32
}

unsafe extern "C" fn am_cb(
    arg: *mut c_void,
    header: *const c_void,
    header_len: u64,
    data: *mut c_void,
    len: u64,
    param: *const ucp_am_recv_param_t,
) -> ucs_status_t {
    // SAFETY: arg is the boxed AmCtx, alive while the handler is registered; nothing
    // else borrows it during the progress call that runs this.
    let ctx = unsafe { &mut *(arg as *mut AmCtx) };
    // SAFETY: the worker outlives its handlers; no other borrow is held across the
    // progress call that runs this.
    let w = unsafe { &mut *ctx.worker };
    // SAFETY: UCX passes a valid param.
    let param = unsafe { &*param };
    // SAFETY: UCX passes `header_len` bytes of header.
    let hdr = unsafe { bytes(header as *const u8, header_len as usize) };
    let mut ev = Event {
        kind: EV_AM,
        id: ctx.id as i32,
        data_off: -1,
        reply_ep: -1,
        ..Default::default()
    };
    ev.len_lo = len as u32;
    ev.len_hi = (len >> 32) as u32;
    ev.hdr_len = header_len as i32;
    if param.recv_attr & ucp_am_recv_attr_t::UCP_AM_RECV_ATTR_FIELD_REPLY_EP as u64 != 0
        && !param.reply_ep.is_null()
    {
        ev.flags |= AM_REPLY;
        ev.reply_ep = reply_ep(w, param.reply_ep);
    }
    let rndv = param.recv_attr & ucp_am_recv_attr_t::UCP_AM_RECV_ATTR_FLAG_RNDV as u64 != 0;
    if let Some(r) = ctx.receiver.as_mut() {
        // SAFETY: the worker runs this callback; `w` is not used again below.
        return unsafe { receiver::arrived(ctx.worker, r, hdr, data, len, rndv, ev.reply_ep) };
    }
    let status;
    if rndv {
        // The payload is still at the sender: keep the descriptor for recv_data.
        ev.flags |= AM_RNDV;
        if let Some(l) = w
            .landing
            .as_mut()
            .filter(|l| l.id == ctx.id && l.landed.is_none())
        {
            l.blocked = true; // eager messages after it must not overtake it
        }
        ev.msg = w.msgs.insert(Msg::Rndv { desc: data, len }) as i32;
        if let Some([h, _]) = w.ring.arena_put([hdr, &[]]) {
            ev.hdr_off = h;
        } else {
            ev.flags |= AM_SPILLED;
            // Header goes to a spill next to the descriptor: a second message slot.
            ev.hdr_off = w.msgs.insert(Msg::Spill(hdr.to_vec())) as i32;
        }
        status = ucs_status_t::UCS_INPROGRESS;
    } else {
        // Eager: the payload is valid only during this callback; copy it now so no
        // UCX receive buffer stays held by a slow consumer.
        // SAFETY: UCX passes `len` bytes of payload.
        let payload = unsafe { bytes(data as *const u8, len as usize) };
        if land(w, ctx.id, hdr, payload, ev.reply_ep) {
            return ucs_status_t::UCS_OK;
        }
        if let Some([h, d]) = w.ring.arena_put([hdr, payload]) {
            ev.hdr_off = h;
            ev.data_off = d;
        } else {
            ev.flags |= AM_SPILLED;
            let mut v = Vec::with_capacity(hdr.len() + payload.len());
            v.extend_from_slice(hdr);
            v.extend_from_slice(payload);
            ev.msg = w.msgs.insert(Msg::Spill(v)) as i32;
        }
        status = ucs_status_t::UCS_OK;
    }
    w.ring.push(ev);
    status
}

fn set_handler(
    w: &WorkerState,
    id: u32,
    cb: ucp_am_recv_callback_t,
    arg: *mut c_void,
) -> Result<(), Error> {
    // SAFETY: plain data; UCX reads the fields named in field_mask.
    let mut p: ucp_am_handler_param_t = unsafe { std::mem::zeroed() };
    p.field_mask = (ucp_am_handler_param_field::UCP_AM_HANDLER_PARAM_FIELD_ID
        | ucp_am_handler_param_field::UCP_AM_HANDLER_PARAM_FIELD_FLAGS
        | ucp_am_handler_param_field::UCP_AM_HANDLER_PARAM_FIELD_CB
        | ucp_am_handler_param_field::UCP_AM_HANDLER_PARAM_FIELD_ARG)
        .0 as u64;
    p.id = id;
    p.flags = ucp_am_cb_flags::UCP_AM_FLAG_WHOLE_MSG.0;
    p.cb = cb;
    p.arg = arg;
    // SAFETY: a live worker and initialised params; arg outlives the registration.
    ucs_check("ucp_worker_set_am_recv_handler", unsafe {
        ucp_worker_set_am_recv_handler(w.handle, &p)
    })
}

/// Registers the holding handler ([`super::hold`]) for every possible id.
///
/// UCX 1.12 reads `worker->am.cbs[id]` before checking `id` against the table's length,
/// and growing the table initialises only the registered entry: a message for an id
/// this worker never registered reads freed or uninitialised memory, or segfaults when
/// no id was ever registered. Registering id 0xffff first, then every id, makes each
/// lookup valid (24 B x 65536 = 1.5 MiB per worker), and a message for an id without a
/// stream or receiver is held for the one opened later instead of dropped.
pub fn init_handler_table(w: &mut WorkerState) -> Result<(), Error> {
    for id in std::iter::once(AM_ID_MAX).chain(0..=AM_ID_MAX) {
        let arg = w.hold.arg(id);
        set_handler(w, id, Some(hold::hold_cb), arg)?;
    }
    Ok(())
}

/// Starts delivering Active Messages with `id` as events.
#[no_mangle]
pub extern "C" fn pluvio_ucx_am_register(w: *mut WorkerState, id: u32) -> i32 {
    guard(|| register(w, id, None))
}

/// Registers the handler of `id`: ring events, or posted receives with `receiver`.
pub fn register(w: *mut WorkerState, id: u32, receiver: Option<Receiver>) -> Result<i32, Error> {
    // SAFETY: JS passes a live worker.
    let ws = unsafe { worker(w) }?;
    if id > AM_ID_MAX {
        return Err(einval(format!(
            "AM id {id} is out of range 0..={AM_ID_MAX}"
        )));
    }
    if ws.am_handlers.contains_key(&id) {
        return Err(Error::errno(
            libc::EEXIST,
            format!("AM id {id} already has a stream or receiver"),
        ));
    }
    let mut ctx = Box::new(AmCtx {
        worker: w,
        id,
        receiver,
    });
    set_handler(ws, id, Some(am_cb), &mut *ctx as *mut AmCtx as *mut c_void)?;
    // What arrived before, in order, ahead of what arrives from now on.
    match ctx.receiver.as_mut() {
        Some(r) => hold::to_receiver(ws, id, r),
        None => hold::to_stream(ws, id),
    }
    ws.am_handlers.insert(id, ctx);
    Ok(0)
}

/// Stops delivering Active Messages with `id`: they are held again, for a stream or
/// receiver opened later.
#[no_mangle]
pub extern "C" fn pluvio_ucx_am_unregister(w: *mut WorkerState, id: u32) -> i32 {
    guard(|| {
        // SAFETY: JS passes a live worker.
        let ws = unsafe { worker(w) }?;
        if !ws.am_handlers.contains_key(&id) {
            return Err(einval(format!("AM id {id} has no stream or receiver")));
        }
        let arg = ws.hold.arg(id);
        set_handler(ws, id, Some(hold::hold_cb), arg)?;
        if let Some(mut ctx) = ws.am_handlers.remove(&id) {
            if let Some(r) = ctx.receiver.as_mut() {
                receiver::release_held(ws.handle, r);
            }
        }
        Ok(0)
    })
}

/// Sends an Active Message `id` with `header` and `data` on endpoint `ep` (lengths are
/// 32-bit: a synchronous FFI call passes them without a bigint). Both buffers
/// must stay untouched until completion. 1 = done (buffers free), 0 = an event for `op`
/// follows.
#[no_mangle]
#[allow(clippy::too_many_arguments)]
pub extern "C" fn pluvio_ucx_am_send(
    w: *mut WorkerState,
    ep: u32,
    id: u32,
    header: *const u8,
    header_len: u32,
    data: *const u8,
    data_len: u32,
    flags: u32,
    op: u32,
) -> i32 {
    guard(|| {
        // SAFETY: JS passes a live worker.
        let h = ep_handle(unsafe { worker(w) }?, ep)?;
        if id > AM_ID_MAX {
            return Err(einval(format!(
                "AM id {id} is out of range 0..={AM_ID_MAX}"
            )));
        }
        let p = send_param(send_flags(flags));
        let stage = flags & SEND_STAGE != 0;
        let (mut hp, mut dp) = (header, data);
        if stage {
            // SAFETY: JS passes buffers of the given lengths, valid for this call.
            let (hs, ds) = unsafe {
                (
                    bytes(header, header_len as usize),
                    bytes(data, data_len as usize),
                )
            };
            // SAFETY: w is live and not borrowed here; the closure copies into the state.
            (hp, dp) = unsafe { with(w, |s| s.stage(hs, ds)) };
        }
        let hp = if header_len == 0 {
            std::ptr::null()
        } else {
            hp as *const c_void
        };
        // SAFETY: a live endpoint; JS keeps both buffers alive until completion, and a
        // staged copy lives in the worker until then (`keep_stage`, freed by `untrack`).
        let r = unsafe {
            ucp_am_send_nbx(
                h,
                id,
                hp,
                header_len as _,
                dp as *const c_void,
                data_len as _,
                &p,
            )
        };
        let rc = submitted(w, "ucp_am_send_nbx", r, op)?;
        if stage && rc == 0 {
            // SAFETY: w is live and not borrowed here; moves the copy into a table.
            unsafe { with(w, |s| s.keep_stage(op)) };
        }
        Ok(rc)
    })
}

/// UCX's AM send flags for pluvio's `SEND_*` bits.
pub fn send_flags(flags: u32) -> u32 {
    let mut f = 0;
    if flags & SEND_REPLY != 0 {
        f |= ucp_send_am_flags::UCP_AM_SEND_FLAG_REPLY.0;
    }
    if flags & SEND_EAGER != 0 {
        f |= ucp_send_am_flags::UCP_AM_SEND_FLAG_EAGER.0;
    }
    if flags & SEND_RNDV != 0 {
        f |= ucp_send_am_flags::UCP_AM_SEND_FLAG_RNDV.0;
    }
    f
}

unsafe extern "C" fn recv_data_cb(
    request: *mut c_void,
    st: ucs_status_t,
    len: u64,
    _user: *mut c_void,
) {
    // SAFETY: UCX passes the request we submitted with this callback.
    unsafe { complete(request, st, len, 0) };
}

/// Receives the rendezvous payload of message `msg` into `buf` (`cap` bytes, at least
/// the message's length). 1 = done (length in imm[0]), 0 = an event for `op` follows.
#[no_mangle]
pub extern "C" fn pluvio_ucx_am_recv_data(
    w: *mut WorkerState,
    msg: u32,
    buf: *mut u8,
    cap: u32,
    op: u32,
) -> i32 {
    guard(|| {
        // SAFETY: JS passes a live worker.
        let ws = unsafe { worker(w) }?;
        let (desc, len) = match ws.msgs.get(msg) {
            Some(Msg::Rndv { desc, len }) => (*desc, *len),
            _ => {
                return Err(einval(format!(
                    "message {msg} has no pending payload (already received or released)"
                )))
            }
        };
        if (cap as u64) < len {
            return Err(Error::errno(
                libc::EMSGSIZE,
                format!("buffer of {cap} bytes is too small for the {len}-byte message payload"),
            ));
        }
        ws.msgs.remove(msg);
        let mut got: u64 = 0;
        let p = recv_am_param(Some(recv_data_cb), &mut got);
        let h = ws.handle;
        // SAFETY: desc is a held descriptor (UCX takes ownership now); JS keeps `buf`
        // alive until completion.
        let r = unsafe { ucp_am_recv_data_nbx(h, desc, buf as *mut c_void, len as _, &p) };
        let rc = submitted(w, "ucp_am_recv_data_nbx", r, op)?;
        if rc == 1 {
            // SAFETY: w is live; the borrow `ws` ended before the UCX call.
            unsafe { super::worker::with(w, |s| s.imm = [got, 0]) };
        }
        Ok(rc)
    })
}

/// Releases the held payload of message `msg` without receiving it.
#[no_mangle]
pub extern "C" fn pluvio_ucx_am_release(w: *mut WorkerState, msg: u32) -> i32 {
    guard(|| {
        // SAFETY: JS passes a live worker.
        let ws = unsafe { worker(w) }?;
        match ws.msgs.remove(msg) {
            Some(Msg::Rndv { desc, .. }) => {
                // SAFETY: a descriptor we held, released once.
                unsafe { ucp_am_data_release(ws.handle, desc) };
                Ok(0)
            }
            Some(Msg::Spill(_)) => Ok(0),
            None => Err(einval(format!(
                "message {msg} is unknown or already released"
            ))),
        }
    })
}

/// Copies a spilled message (header then payload) into `buf` and frees it; returns
/// its length.
#[no_mangle]
pub extern "C" fn pluvio_ucx_am_take(
    w: *mut WorkerState,
    msg: u32,
    buf: *mut u8,
    cap: usize,
) -> i64 {
    guard(|| {
        // SAFETY: JS passes a live worker.
        let ws = unsafe { worker(w) }?;
        let v = match ws.msgs.get(msg) {
            Some(Msg::Spill(v)) => v,
            _ => return Err(einval(format!("message {msg} has no spilled bytes"))),
        };
        if v.len() > cap {
            return Err(Error::errno(
                libc::EMSGSIZE,
                format!("{cap}-byte buffer for {} spilled bytes", v.len()),
            ));
        }
        // SAFETY: `buf` holds `cap` >= v.len() bytes (caller's promise, checked size).
        unsafe { std::ptr::copy_nonoverlapping(v.as_ptr(), buf, v.len()) };
        let n = v.len() as i64;
        ws.msgs.remove(msg);
        Ok(n)
    })
}
