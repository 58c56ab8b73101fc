//! Batched Active Message sends (`Endpoint.amSendMany` in TypeScript): a list of
//! payloads sent with one id and header, at most `window` of them in flight. Sends are
//! refilled natively after each progress call, so a stream of large messages costs no
//! JavaScript turn per message (on loopback TCP that turn was a few per cent of a 1 MiB
//! stream); one completion event reports the whole batch.

use super::endpoint::ep_handle;
use super::layout::Event;
use super::request::ReqInfo;
use super::sys::*;
use super::worker::{worker, WorkerState};
use super::{bytes, einval, status_code, status_text, ucs_err};
use crate::error::{guard, Error};
use std::os::raw::c_void;

/// Marks the `op` of a batch's own requests in their [`ReqInfo`] (JS op ids stay far
/// below it): their completions go to [`sent_cb`]'s bookkeeping, not to the ring.
pub const BATCH_BIT: u32 = 1 << 31;

/// The most sends one batch keeps in flight.
pub const MAX_WINDOW: u32 = 4096;

/// One batch: what to send and how far it got.
pub struct Batch {
    ep: u32,
    id: u32,
    flags: u32,
    hdr: Vec<u8>,
    /// (address, length) of each payload; JavaScript keeps them alive until the event.
    items: Vec<(usize, u32)>,
    next: usize,
    window: usize,
    /// Requests in flight (to cancel them if the worker is destroyed).
    pub reqs: Vec<*mut c_void>,
    /// Sends completed successfully.
    sent: u64,
    /// The first failure: (code, UCS status or 0, what happened).
    fail: Option<(i32, i32, String)>,
    /// No more submissions (aborted, or the worker is going away).
    stopped: bool,
}

impl Batch {
    fn over(&self) -> bool {
        self.stopped || self.fail.is_some() || self.next == self.items.len()
    }
}

/// Completion of one send of a batch.
unsafe extern "C" fn sent_cb(request: *mut c_void, st: ucs_status_t, _user: *mut c_void) {
    // SAFETY: UCX passes a request submitted by `pump`, whose user area is a ReqInfo.
    let info = unsafe { &*(request as *const ReqInfo) };
    if info.op == super::request::DETACHED {
        return; // released by the worker's destroy, which UCX frees itself
    }
    let op = info.op & !BATCH_BIT;
    // SAFETY: workers cancel their batches' requests before they are destroyed, and no
    // other borrow of the worker is held across the UCX call that runs this callback.
    let w = unsafe { &mut *info.worker };
    if let Some(b) = w.batches.get_mut(&op) {
        if let Some(i) = b.reqs.iter().position(|r| *r == request) {
            b.reqs.swap_remove(i);
        }
        if st == ucs_status_t::UCS_OK {
            b.sent += 1;
        } else if b.fail.is_none() {
            b.fail = Some((status_code(st), st as i32, status_text(st)));
        }
        w.batch_room = true;
    }
    // SAFETY: the request is complete and ours to free, once.
    unsafe { ucp_request_free(request) };
}

/// Submits sends of batch `op` until its window is full or it is over; then, if nothing
/// is in flight, finishes it: with `event`, pushes its completion event; without, sets
/// imm[0] to the sends done, or returns its failure. Returns whether it finished.
///
/// # Safety
/// `w` is a live worker with no other borrow active (callbacks do not run inside
/// `ucp_am_send_nbx`, so borrows around it are short).
unsafe fn pump(w: *mut WorkerState, op: u32, event: bool) -> Result<bool, Error> {
    loop {
        // SAFETY: guaranteed by the caller; borrows end before the UCX call.
        let ws = unsafe { &mut *w };
        let Some(b) = ws.batches.get(&op) else {
            return Ok(true);
        };
        if b.over() || b.reqs.len() >= b.window {
            if !b.reqs.is_empty() {
                return Ok(false);
            }
            let b = ws.batches.remove(&op).expect("looked up above");
            if event {
                let (code, ucs) = b.fail.map_or((0, 0), |f| (f.0, f.1));
                ws.ring.push(Event::op(op, code, ucs, b.sent, 0));
            } else if let Some((code, _, what)) = b.fail {
                return Err(Error::code(
                    code,
                    format!("{what} after {} of {} sends", b.sent, b.items.len()),
                ));
            } else {
                ws.imm = [b.sent, 0];
            }
            return Ok(true);
        }
        let h = match ep_handle(ws, b.ep) {
            Ok(h) => h,
            Err(e) => {
                let b = ws.batches.get_mut(&op).expect("looked up above");
                b.fail = Some((e.code, 0, e.message));
                continue;
            }
        };
        let (ptr, len) = b.items[b.next];
        let mut p = super::request::send_param(b.flags);
        p.cb = ucp_request_param_t__bindgen_ty_1 {
            send: Some(sent_cb),
        };
        let hp = if b.hdr.is_empty() {
            std::ptr::null()
        } else {
            b.hdr.as_ptr() as *const c_void
        };
        // SAFETY: a live, healthy endpoint; the header lives in the batch and the payload
        // is kept alive by JavaScript until the batch's event.
        let r = unsafe {
            ucp_am_send_nbx(
                h,
                b.id,
                hp,
                b.hdr.len() as _,
                ptr as *const c_void,
                len as _,
                &p,
            )
        };
        let b = ws.batches.get_mut(&op).expect("looked up above");
        b.next += 1;
        if r.is_null() {
            b.sent += 1;
        } else if UCS_PTR_IS_ERR(r) {
            let st = UCS_PTR_RAW_STATUS(r);
            b.fail = Some((
                status_code(st),
                st as i32,
                ucs_err("ucp_am_send_nbx", st).message,
            ));
        } else {
            // SAFETY: a live request whose user area is a ReqInfo; its callback cannot
            // run before the next progress call.
            unsafe {
                (r as *mut ReqInfo).write(ReqInfo {
                    worker: w,
                    op: op | BATCH_BIT,
                    extra: 0,
                })
            };
            b.reqs.push(r);
        }
    }
}

/// Refills every batch a completion made room in (called after each progress call).
///
/// # Safety
/// As for [`pump`].
pub unsafe fn pump_all(w: *mut WorkerState) {
    // SAFETY: guaranteed by the caller; the closure runs no UCX call.
    let ops: Vec<u32> = unsafe {
        super::worker::with(w, |s| {
            if !s.batch_room {
                return Vec::new();
            }
            s.batch_room = false;
            s.batches.keys().copied().collect()
        })
    };
    for op in ops {
        // SAFETY: guaranteed by the caller. With `event`, pump reports through the ring
        // and never returns an error.
        let _ = unsafe { pump(w, op, true) };
    }
}

/// Stops batch `op` (no more sends are submitted; those in flight finish and then its
/// event follows). 1 = it was a batch.
pub fn stop(ws: &mut WorkerState, op: u32) -> bool {
    match ws.batches.get_mut(&op) {
        Some(b) => {
            b.stopped = true;
            ws.batch_room = true;
            true
        }
        None => false,
    }
}

/// Stops every batch and returns their requests in flight (the worker is being
/// destroyed: the caller cancels them).
pub fn stop_all(ws: &mut WorkerState) -> Vec<*mut c_void> {
    let mut reqs = Vec::new();
    for b in ws.batches.values_mut() {
        b.stopped = true;
        reqs.extend_from_slice(&b.reqs);
    }
    reqs
}

/// Sends `n` Active Messages `id` with header `hdr` (`hdr_len` bytes, copied) on endpoint
/// `ep`, payload `i` at `items[2i]` (address) with `items[2i + 1]` bytes, keeping at
/// most `window` in flight, for op `op`. 1 = every send finished at once (imm[0] = sent);
/// 0 = an event for `op` follows once all are done or one failed (length = sends done).
#[no_mangle]
#[allow(clippy::too_many_arguments)]
pub extern "C" fn pluvio_ucx_am_send_many(
    w: *mut WorkerState,
    ep: u32,
    id: u32,
    hdr: *const u8,
    hdr_len: u32,
    items: *const u64,
    n: u32,
    window: u32,
    flags: u32,
    op: u32,
) -> i32 {
    guard(|| {
        // SAFETY: JS passes a live worker.
        let ws = unsafe { worker(w) }?;
        ep_handle(ws, ep)?;
        if id > super::am::AM_ID_MAX {
            return Err(einval(format!(
                "AM id {id} is out of range 0..={}",
                super::am::AM_ID_MAX
            )));
        }
        if window == 0 || window > MAX_WINDOW {
            return Err(einval(format!(
                "window {window} is out of range 1..={MAX_WINDOW}"
            )));
        }
        if op & BATCH_BIT != 0 || ws.batches.contains_key(&op) {
            return Err(einval(format!("op {op} cannot carry a batch")));
        }
        if n > 0 && (items.is_null() || !items.is_aligned()) {
            return Err(einval(
                "the payload table must be 8-byte aligned".to_string(),
            ));
        }
        // SAFETY: JS passes 2n u64 words (checked non-null and aligned above).
        let t = unsafe { std::slice::from_raw_parts(items, 2 * n as usize) };
        let mut list = Vec::with_capacity(n as usize);
        for pair in t.chunks_exact(2) {
            let len = u32::try_from(pair[1])
                .map_err(|_| einval(format!("payload of {} bytes is too long", pair[1])))?;
            list.push((pair[0] as usize, len));
        }
        ws.batches.insert(
            op,
            Batch {
                ep,
                id,
                flags: super::am::send_flags(flags),
                // SAFETY: JS passes `hdr_len` readable bytes (or none).
                hdr: unsafe { bytes(hdr, hdr_len as usize) }.to_vec(),
                items: list,
                next: 0,
                window: window as usize,
                reqs: Vec::new(),
                sent: 0,
                fail: None,
                stopped: false,
            },
        );
        // SAFETY: w is live; the borrow `ws` is not used after this point.
        Ok(i32::from(unsafe { pump(w, op, false) }?))
    })
}
