//! Tag messaging: sends, and receives posted straight into the caller's buffer (what the
//! collective ring algorithms need), with masks and cancellation.

use super::endpoint::ep_handle;
use super::request::{complete, send_param, submitted};
use super::sys::*;
use super::worker::{worker, WorkerState};
use crate::error::{guard, Error, E_UCX};
use std::os::raw::c_void;

/// Sends `len` bytes at `buf` with `tag` on endpoint `ep`. 1 = done, 0 = an event for
/// `op` follows.
#[no_mangle]
pub extern "C" fn pluvio_ucx_tag_send(
    w: *mut WorkerState,
    ep: u32,
    tag: u64,
    buf: *const u8,
    len: u32,
    op: u32,
) -> i32 {
    guard(|| {
        // SAFETY: JS passes a live worker.
        let h = ep_handle(unsafe { worker(w) }?, ep)?;
        let p = send_param(0);
        // SAFETY: a live endpoint; JS keeps `buf` alive until completion.
        let r = unsafe { ucp_tag_send_nbx(h, buf as *const c_void, len as _, tag, &p) };
        submitted(w, "ucp_tag_send_nbx", r, op)
    })
}

unsafe extern "C" fn recv_cb(
    request: *mut c_void,
    st: ucs_status_t,
    info: *const ucp_tag_recv_info_t,
    _u: *mut c_void,
) {
    // SAFETY: UCX passes valid info (or null on some failures).
    let (len, tag) = unsafe { info.as_ref() }.map_or((0, 0), |i| (i.length, i.sender_tag));
    // SAFETY: UCX passes the request we submitted with this callback.
    unsafe { complete(request, st, len, tag) };
}

/// Posts a receive of a message whose tag matches `tag` under `mask` into `buf` (`len`
/// bytes). 1 = done (length and sender tag in imm), 0 = an event for `op` follows.
#[no_mangle]
pub extern "C" fn pluvio_ucx_tag_recv(
    w: *mut WorkerState,
    tag: u64,
    mask: u64,
    buf: *mut u8,
    len: u32,
    op: u32,
) -> i32 {
    guard(|| {
        // SAFETY: JS passes a live worker.
        let h = unsafe { worker(w) }?.handle;
        // UCX 1.12 leaves `recv_info` unwritten when a receive completes at once (it
        // matched an eager message already here), so learn that message's length and
        // tag first: the receive posted right after matches the same, first-queued
        // message (nothing progresses in between).
        // SAFETY: plain data; zero is a valid value for the out-parameter.
        let mut probed: ucp_tag_recv_info_t = unsafe { std::mem::zeroed() };
        // SAFETY: a live worker; remove = 0 leaves the message queued.
        let found = unsafe { ucp_tag_probe_nb(h, tag, mask, 0, &mut probed) };
        // SAFETY: plain data; UCX reads the fields named in op_attr_mask.
        let mut p: ucp_request_param_t = unsafe { std::mem::zeroed() };
        p.op_attr_mask = ucp_op_attr_t::UCP_OP_ATTR_FIELD_CALLBACK as u32;
        p.cb = ucp_request_param_t__bindgen_ty_1 {
            recv: Some(recv_cb),
        };
        // SAFETY: a live worker; JS keeps `buf` alive until completion or cancel.
        let r = unsafe { ucp_tag_recv_nbx(h, buf as *mut c_void, len as _, tag, mask, &p) };
        let rc = submitted(w, "ucp_tag_recv_nbx", r, op)?;
        if rc == 1 {
            if found.is_null() {
                return Err(Error::code(
                    E_UCX,
                    "ucp_tag_recv_nbx completed at once without a probed message".into(),
                ));
            }
            // SAFETY: w is live and not borrowed across the UCX call above.
            unsafe { super::worker::with(w, |s| s.imm = [probed.length, probed.sender_tag]) };
        }
        Ok(rc)
    })
}
