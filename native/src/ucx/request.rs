//! In-flight UCX requests: every request carries a [`ReqInfo`] (the context reserves
//! room for it), so completion callbacks know which worker and which JS operation
//! they finish.

use super::layout::Event;
use super::sys::*;
use super::worker::WorkerState;
use super::{status_code, ucs_err};
use crate::error::Error;
use std::os::raw::c_void;

/// Per-request user area (the context's `request_size`).
#[repr(C)]
pub struct ReqInfo {
    pub worker: *mut WorkerState,
    pub op: u32,
    /// Reported in the completion's tag field by callbacks that use it (posted AM
    /// receives: header length and reply endpoint).
    pub extra: u64,
}

/// The op of a request that its worker released while being destroyed: UCX may still
/// finish it inside `ucp_worker_destroy`, and its callback must then do nothing.
pub const DETACHED: u32 = u32::MAX;

/// What a submission did: 1 = finished at once (no event will follow), 0 = in flight
/// (an [`Event`] with the op id follows), or an error.
pub fn submitted(
    w: *mut WorkerState,
    what: &str,
    ptr: ucs_status_ptr_t,
    op: u32,
) -> Result<i32, Error> {
    if ptr.is_null() {
        return Ok(1);
    }
    if UCS_PTR_IS_ERR(ptr) {
        return Err(ucs_err(what, UCS_PTR_RAW_STATUS(ptr)));
    }
    Ok(submitted_with(w, ptr, op, 0))
}

/// [`submitted`] for a result already known not to be an error, recording `extra` in
/// the request's [`ReqInfo`].
pub fn submitted_with(w: *mut WorkerState, ptr: ucs_status_ptr_t, op: u32, extra: u64) -> i32 {
    if ptr.is_null() {
        return 1;
    }
    // SAFETY: a non-error pointer is a live request whose user area is a ReqInfo; no
    // callback can run before the next progress/cancel call, so writing it now is safe.
    unsafe {
        (ptr as *mut ReqInfo).write(ReqInfo {
            worker: w,
            op,
            extra,
        })
    };
    // SAFETY: w is the live worker the request was submitted on; callers hold no borrow
    // of it across a submission.
    unsafe { super::worker::with(w, |s| s.track(op, ptr as *mut c_void)) };
    0
}

/// Finishes a request from its callback: records the event and frees the request.
///
/// # Safety
/// `request` must be a request submitted through [`submitted`], not yet freed.
pub unsafe fn complete(request: *mut c_void, st: ucs_status_t, len: u64, tag: u64) {
    // SAFETY: guaranteed by the caller; the ReqInfo was written by `submitted`.
    let info = unsafe { &*(request as *const ReqInfo) };
    if info.op == DETACHED {
        return; // released by the worker's destroy, which UCX frees itself
    }
    let ev = Event::op(info.op, status_code(st), st as i32, len, tag);
    // SAFETY: workers are destroyed only after their requests are cancelled, and no
    // other borrow of the worker is held across the UCX call that runs this callback.
    unsafe {
        super::worker::with(info.worker, |w| {
            w.untrack(info.op);
            w.ring.push(ev);
        })
    };
    // SAFETY: the request is complete and ours to free, once.
    unsafe { ucp_request_free(request) };
}

/// Completion callback for sends, flushes and closes.
pub unsafe extern "C" fn send_cb(request: *mut c_void, st: ucs_status_t, _user: *mut c_void) {
    // SAFETY: UCX passes the request we submitted with this callback.
    unsafe { complete(request, st, 0, 0) };
}

/// Parameters with a send-type callback and nothing else.
pub fn send_param(flags: u32) -> ucp_request_param_t {
    // SAFETY: plain data; zero is "no fields", UCX reads only what op_attr_mask names.
    let mut p: ucp_request_param_t = unsafe { std::mem::zeroed() };
    p.op_attr_mask = ucp_op_attr_t::UCP_OP_ATTR_FIELD_CALLBACK as u32;
    if flags != 0 {
        p.op_attr_mask |= ucp_op_attr_t::UCP_OP_ATTR_FIELD_FLAGS as u32;
        p.flags = flags;
    }
    p.cb = ucp_request_param_t__bindgen_ty_1 {
        send: Some(send_cb),
    };
    p
}

/// Parameters of `ucp_am_recv_data_nbx`: completion callback `cb`, and `got` receiving
/// the length when the receive finishes at once.
pub fn recv_am_param(cb: ucp_am_recv_data_nbx_callback_t, got: &mut u64) -> ucp_request_param_t {
    // SAFETY: plain data; UCX reads the fields named in op_attr_mask.
    let mut p: ucp_request_param_t = unsafe { std::mem::zeroed() };
    p.op_attr_mask = ucp_op_attr_t::UCP_OP_ATTR_FIELD_CALLBACK as u32
        | ucp_op_attr_t::UCP_OP_ATTR_FIELD_RECV_INFO as u32;
    p.cb = ucp_request_param_t__bindgen_ty_1 { recv_am: cb };
    p.recv_info = ucp_request_param_t__bindgen_ty_2 {
        length: got as *mut u64 as *mut _,
    };
    p
}
