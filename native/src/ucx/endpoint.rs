//! Endpoints: by worker address, by socket address (client side of a listener), and
//! from an accepted connection request; all with peer-failure handling, so a dead peer
//! fails the endpoint's operations instead of hanging them.

use super::layout::{Event, CONNECT_PEER, EV_EP_ERROR};
use super::request::{send_param, submitted};
use super::sys::*;
use super::worker::{fnv1a, worker, WorkerState, ADDR_MAGIC, ADDR_OVERHEAD, ADDR_VERSION};
use super::{bytes, einval, sockaddr, status_code, status_text, ucs_err};
use crate::error::{guard, Error};
use std::os::raw::c_void;
use std::ptr::null_mut;

/// One endpoint of a worker.
pub struct Ep {
    pub handle: ucp_ep_h,
    /// 0, or the failure code once UCX reported the peer failed.
    pub code: i32,
    /// Raw UCS status of the failure.
    pub ucs: i32,
    /// A reply endpoint UCX created for an incoming message: not ours to close.
    pub adopted: bool,
}

/// The live, healthy endpoint `id` of `w`, or the error saying why not.
pub fn ep_handle(w: &WorkerState, id: u32) -> Result<ucp_ep_h, Error> {
    match w.eps.get(id) {
        None => Err(Error::errno(
            libc::EBADF,
            format!("UCX endpoint {id} is closed"),
        )),
        Some(ep) if ep.code != 0 => Err(Error::code(
            ep.code,
            format!(
                "UCX endpoint {id} failed earlier: {} (UCS status {})",
                ucs_text(ep.ucs),
                ep.ucs
            ),
        )),
        Some(ep) => Ok(ep.handle),
    }
}

fn ucs_text(raw: i32) -> String {
    // Statuses stored here came from UCX as ucs_status_t; find the variant again.
    [
        ucs_status_t::UCS_ERR_CONNECTION_RESET,
        ucs_status_t::UCS_ERR_UNREACHABLE,
        ucs_status_t::UCS_ERR_ENDPOINT_TIMEOUT,
        ucs_status_t::UCS_ERR_NOT_CONNECTED,
        ucs_status_t::UCS_ERR_REJECTED,
        ucs_status_t::UCS_ERR_IO_ERROR,
        ucs_status_t::UCS_ERR_CANCELED,
    ]
    .into_iter()
    .find(|s| *s as i32 == raw)
    .map(status_text)
    .unwrap_or_else(|| "peer failure".into())
}

/// Called by UCX when an endpoint's peer fails (error handling mode PEER).
unsafe extern "C" fn err_cb(arg: *mut c_void, ep: ucp_ep_h, st: ucs_status_t) {
    // SAFETY: arg is the worker state, alive while it has endpoints; no other borrow of
    // it is held across the progress call that runs this.
    let w = unsafe { &mut *(arg as *mut WorkerState) };
    w.peer_failed = true;
    let Some(&id) = w.ep_ids.get(&(ep as usize)) else {
        return;
    };
    if let Some(e) = w.eps.get_mut(id) {
        e.code = status_code(st);
        e.ucs = st as i32;
    }
    w.ring.push(Event {
        kind: EV_EP_ERROR,
        id: id as i32,
        code: status_code(st),
        ucs: st as i32,
        ..Default::default()
    });
}

/// Creates an endpoint from `params` (with peer-failure handling when `flags` asks) and
/// registers it.
fn create(w: *mut WorkerState, mut params: ucp_ep_params_t, flags: u32) -> Result<u32, Error> {
    params.field_mask |= ucp_ep_params_field::UCP_EP_PARAM_FIELD_ERR_HANDLER.0 as u64;
    if flags & CONNECT_PEER != 0 {
        params.field_mask |= ucp_ep_params_field::UCP_EP_PARAM_FIELD_ERR_HANDLING_MODE.0 as u64;
        params.err_mode = ucp_err_handling_mode_t::UCP_ERR_HANDLING_MODE_PEER;
    }
    params.err_handler = ucp_err_handler_t {
        cb: Some(err_cb),
        arg: w as *mut c_void,
    };
    let mut ep: ucp_ep_h = null_mut();
    // SAFETY: w is live (checked by callers) and not borrowed by them; a read.
    let h = unsafe { super::worker::with(w, |s| s.handle) };
    // SAFETY: h is a live worker; params are fully initialised (err_handler's arg is the
    // worker state, which outlives its endpoints).
    let st = unsafe { ucp_ep_create(h, &params, &mut ep) };
    if st != ucs_status_t::UCS_OK {
        return Err(ucs_err("ucp_ep_create", st));
    }
    // SAFETY: w is live and not borrowed; the closure runs no UCX call.
    Ok(unsafe {
        super::worker::with(w, |w| {
            let id = w.eps.insert(Ep {
                handle: ep,
                code: 0,
                ucs: 0,
                adopted: false,
            });
            w.ep_ids.insert(ep as usize, id);
            id
        })
    })
}

fn zero_params() -> ucp_ep_params_t {
    // SAFETY: plain data; zero is "no fields" and UCX reads only what field_mask names.
    unsafe { std::mem::zeroed() }
}

/// Checks the pluvio framing of a worker address and returns the UCX address in it.
pub fn unframe(a: &[u8]) -> Result<&[u8], Error> {
    if a.len() < ADDR_OVERHEAD || a[..4] != ADDR_MAGIC {
        return Err(einval(format!(
            "not a pluvio UCX worker address ({} bytes without the PLUX header)",
            a.len()
        )));
    }
    let version = u32::from_le_bytes([a[4], a[5], a[6], a[7]]);
    if version != ADDR_VERSION {
        return Err(einval(format!(
            "worker address version {version}, expected {ADDR_VERSION}"
        )));
    }
    let len = u32::from_le_bytes([a[8], a[9], a[10], a[11]]) as usize;
    if a.len() != len + ADDR_OVERHEAD {
        return Err(einval(format!(
            "worker address is {} bytes but its header says {}",
            a.len(),
            len + ADDR_OVERHEAD
        )));
    }
    let raw = &a[12..12 + len];
    let mut sum = [0u8; 8];
    sum.copy_from_slice(&a[12 + len..]);
    if u64::from_le_bytes(sum) != fnv1a(raw) {
        return Err(einval(
            "worker address checksum mismatch (corrupted address)",
        ));
    }
    Ok(raw)
}

/// Connects to a worker by its address (from `pluvio_ucx_worker_address`); `flags` as
/// [`CONNECT_PEER`]. Returns the endpoint id.
#[no_mangle]
pub extern "C" fn pluvio_ucx_ep_connect_addr(
    w: *mut WorkerState,
    addr: *const u8,
    len: usize,
    flags: u32,
) -> i32 {
    guard(|| {
        // SAFETY: JS passes a live worker and a buffer of `len` bytes.
        unsafe { worker(w) }?;
        // SAFETY: as above.
        let raw = unframe(unsafe { bytes(addr, len) })?;
        let mut p = zero_params();
        p.field_mask = ucp_ep_params_field::UCP_EP_PARAM_FIELD_REMOTE_ADDRESS.0 as u64;
        p.address = raw.as_ptr() as *const ucp_address_t;
        Ok(create(w, p, flags)? as i32)
    })
}

/// Connects to a listener at "host:port" (UTF-8 in `text`). The connection completes
/// in the background; flush the endpoint to wait for it. Returns the endpoint id.
#[no_mangle]
pub extern "C" fn pluvio_ucx_ep_connect_socket(
    w: *mut WorkerState,
    text: *const u8,
    len: usize,
    flags: u32,
) -> i32 {
    guard(|| {
        // SAFETY: JS passes a live worker and a buffer of `len` bytes.
        unsafe { worker(w) }?;
        // SAFETY: as above.
        let sa = sockaddr::parse(unsafe { bytes(text, len) })?;
        let (ss, sslen) = sockaddr::to_raw(&sa);
        let mut p = zero_params();
        p.field_mask = (ucp_ep_params_field::UCP_EP_PARAM_FIELD_FLAGS
            | ucp_ep_params_field::UCP_EP_PARAM_FIELD_SOCK_ADDR)
            .0 as u64;
        p.flags = ucp_ep_params_flags_field::UCP_EP_PARAMS_FLAGS_CLIENT_SERVER.0;
        p.sockaddr = ucs_sock_addr_t {
            addr: &ss as *const _ as *const super::sys::sockaddr,
            addrlen: sslen,
        };
        // UCX copies the address during ucp_ep_create; `ss` outlives the call.
        Ok(create(w, p, flags)? as i32)
    })
}

/// Accepts connection request `conn` (from a listener event). Returns the endpoint id.
#[no_mangle]
pub extern "C" fn pluvio_ucx_ep_accept(w: *mut WorkerState, conn: u32, flags: u32) -> i32 {
    guard(|| {
        // SAFETY: JS passes a live worker.
        let (req, _) = unsafe { worker(w) }?.conns.remove(conn).ok_or_else(|| {
            einval(format!(
                "connection request {conn} is unknown or already answered"
            ))
        })?;
        let mut p = zero_params();
        p.field_mask = ucp_ep_params_field::UCP_EP_PARAM_FIELD_CONN_REQUEST.0 as u64;
        p.conn_request = req;
        Ok(create(w, p, flags)? as i32)
    })
}

/// Flushes endpoint `ep` (also: waits until a new endpoint is connected). 1 = done,
/// 0 = an event for `op` follows.
#[no_mangle]
pub extern "C" fn pluvio_ucx_ep_flush(w: *mut WorkerState, ep: u32, op: u32) -> i32 {
    guard(|| {
        // SAFETY: JS passes a live worker.
        let h = ep_handle(unsafe { worker(w) }?, ep)?;
        let p = send_param(0);
        // SAFETY: a live endpoint; the callback is ours.
        let r = unsafe { ucp_ep_flush_nbx(h, &p) };
        submitted(w, "ucp_ep_flush_nbx", r, op)
    })
}

/// Closes endpoint `ep` (flushing first unless `force`; a failed endpoint is always
/// force-closed). The id is invalid afterwards. 1 = done, 0 = an event for `op` follows.
#[no_mangle]
pub extern "C" fn pluvio_ucx_ep_close(w: *mut WorkerState, ep: u32, force: i32, op: u32) -> i32 {
    guard(|| {
        // SAFETY: JS passes a live worker; a short borrow.
        let e = {
            let ws = unsafe { worker(w) }?;
            let e = ws.eps.remove(ep).ok_or_else(|| {
                Error::errno(libc::EBADF, format!("UCX endpoint {ep} is already closed"))
            })?;
            ws.ep_ids.remove(&(e.handle as usize));
            e
        };
        if e.adopted {
            return Ok(1); // UCX owns reply endpoints; forgetting it is the close.
        }
        let mut p = send_param(0);
        if force != 0 || e.code != 0 {
            p.op_attr_mask |= ucp_op_attr_t::UCP_OP_ATTR_FIELD_FLAGS as u32;
            p.flags = ucp_ep_close_flags_t::UCP_EP_CLOSE_FLAG_FORCE.0;
        }
        // SAFETY: a live endpoint, closed once (removed from the tables above).
        let r = unsafe { ucp_ep_close_nbx(e.handle, &p) };
        submitted(w, "ucp_ep_close_nbx", r, op)
    })
}

/// 0 when endpoint `ep` is healthy, else its failure code.
#[no_mangle]
pub extern "C" fn pluvio_ucx_ep_status(w: *mut WorkerState, ep: u32) -> i32 {
    // SAFETY: JS passes a live worker.
    guard(|| ep_handle(unsafe { worker(w) }?, ep).map(|_| 0))
}

/// Swaps what endpoint ids `a` and `b` stand for (handles, failure state, ownership), so
/// an endpoint the application holds can move to another connection to the same peer
/// (`errorHandling: "auto"` moves a socket connection onto shared memory). 0, or an error
/// when either id is not an endpoint.
#[no_mangle]
pub extern "C" fn pluvio_ucx_ep_swap(w: *mut WorkerState, a: u32, b: u32) -> i32 {
    guard(|| {
        // SAFETY: JS passes a live worker; a short borrow, no UCX call.
        let ws = unsafe { worker(w) }?;
        if !ws.eps.swap(a, b) {
            return Err(Error::errno(
                libc::EBADF,
                format!("UCX endpoints {a} and {b} are not both open"),
            ));
        }
        for id in [a, b] {
            if let Some(e) = ws.eps.get(id) {
                ws.ep_ids.insert(e.handle as usize, id);
            }
        }
        Ok(0)
    })
}

/// Marks endpoint `ep` failed with errno `code` (its peer's process exited, seen through
/// a pidfd), as UCX's peer-failure handling would: later operations fail at once and
/// its close is forced. 0, or an error when `ep` is not an endpoint.
#[no_mangle]
pub extern "C" fn pluvio_ucx_ep_mark_failed(w: *mut WorkerState, ep: u32, code: i32) -> i32 {
    guard(|| {
        // SAFETY: JS passes a live worker; a short borrow, no UCX call.
        let ws = unsafe { worker(w) }?;
        let e = ws
            .eps
            .get_mut(ep)
            .ok_or_else(|| Error::errno(libc::EBADF, format!("UCX endpoint {ep} is closed")))?;
        if e.code == 0 {
            e.code = -code.abs();
            e.ucs = ucs_status_t::UCS_ERR_CONNECTION_RESET as i32;
        }
        Ok(0)
    })
}
