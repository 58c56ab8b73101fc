//! Listeners: accept connections on "host:port" (port 0 picks one) and report each
//! connection request as an event; JavaScript accepts or rejects it.

use super::layout::{Event, EV_CONN};
use super::sys::*;
use super::worker::{worker, WorkerState};
use super::{bytes, einval, sockaddr, ucs_check, ucs_err};
use crate::error::{guard, Error};
use std::os::raw::c_void;
use std::ptr::null_mut;

/// What the connection callback needs: boxed so its address is stable.
pub struct ListenerCtx {
    pub worker: *mut WorkerState,
    pub id: u32,
    pub handle: ucp_listener_h,
}

unsafe extern "C" fn conn_cb(req: ucp_conn_request_h, arg: *mut c_void) {
    // SAFETY: arg is the boxed ListenerCtx, alive until its listener is destroyed.
    let ctx = unsafe { &*(arg as *const ListenerCtx) };
    // SAFETY: the worker outlives its listeners; no other borrow is held across the
    // progress call that runs this.
    let w = unsafe { &mut *ctx.worker };
    let cid = w.conns.insert((req, ctx.handle));
    w.ring.push(Event {
        kind: EV_CONN,
        id: ctx.id as i32,
        msg: cid as i32,
        ..Default::default()
    });
}

/// Listens on "host:port" (UTF-8 in `text`). Returns the listener id.
#[no_mangle]
pub extern "C" fn pluvio_ucx_listener_create(
    w: *mut WorkerState,
    text: *const u8,
    len: usize,
) -> i32 {
    guard(|| {
        // SAFETY: JS passes a live worker and `len` bytes.
        let ws = unsafe { worker(w) }?;
        // SAFETY: as above.
        let sa = sockaddr::parse(unsafe { bytes(text, len) })?;
        let (ss, sslen) = sockaddr::to_raw(&sa);
        let mut ctx = Box::new(ListenerCtx {
            worker: w,
            id: 0,
            handle: null_mut(),
        });
        // SAFETY: plain data; UCX reads the fields named in field_mask.
        let mut p: ucp_listener_params_t = unsafe { std::mem::zeroed() };
        p.field_mask = (ucp_listener_params_field::UCP_LISTENER_PARAM_FIELD_SOCK_ADDR
            | ucp_listener_params_field::UCP_LISTENER_PARAM_FIELD_CONN_HANDLER)
            .0 as u64;
        p.sockaddr = ucs_sock_addr_t {
            addr: &ss as *const _ as *const super::sys::sockaddr,
            addrlen: sslen,
        };
        p.conn_handler = ucp_listener_conn_handler_t {
            cb: Some(conn_cb),
            arg: &mut *ctx as *mut ListenerCtx as *mut c_void,
        };
        let mut h: ucp_listener_h = null_mut();
        // SAFETY: params are initialised; the ctx box outlives the listener.
        let st = unsafe { ucp_listener_create(ws.handle, &p, &mut h) };
        if st != ucs_status_t::UCS_OK {
            return Err(ucs_err(&format!("ucp_listener_create({sa})"), st));
        }
        ctx.handle = h;
        let id = ws.listeners.insert(ctx);
        if let Some(c) = ws.listeners.get_mut(id) {
            c.id = id;
        }
        Ok(id as i32)
    })
}

fn listener(w: &WorkerState, id: u32) -> Result<ucp_listener_h, Error> {
    w.listeners
        .get(id)
        .map(|l| l.handle)
        .ok_or_else(|| Error::errno(libc::EBADF, format!("UCX listener {id} is closed")))
}

/// Copies the listener's bound "ip:port" into `buf`; returns its full length.
#[no_mangle]
pub extern "C" fn pluvio_ucx_listener_addr(
    w: *mut WorkerState,
    id: u32,
    buf: *mut u8,
    cap: usize,
) -> i64 {
    guard(|| {
        // SAFETY: JS passes a live worker.
        let h = listener(unsafe { worker(w) }?, id)?;
        // SAFETY: plain data; UCX fills the requested field.
        let mut attr: ucp_listener_attr_t = unsafe { std::mem::zeroed() };
        attr.field_mask = ucp_listener_attr_field::UCP_LISTENER_ATTR_FIELD_SOCKADDR.0 as u64;
        // SAFETY: a live listener and a valid attr.
        ucs_check("ucp_listener_query", unsafe {
            ucp_listener_query(h, &mut attr)
        })?;
        // SAFETY: UCX filled a sockaddr_storage (same layout as libc's).
        let sa = unsafe {
            sockaddr::from_raw(&attr.sockaddr as *const _ as *const libc::sockaddr_storage)
        }
        .ok_or_else(|| einval("listener has a non-IP address"))?;
        copy_text(&sa.to_string(), buf, cap)
    })
}

/// Copies the client's "ip:port" of connection request `conn` into `buf`.
#[no_mangle]
pub extern "C" fn pluvio_ucx_conn_addr(
    w: *mut WorkerState,
    conn: u32,
    buf: *mut u8,
    cap: usize,
) -> i64 {
    guard(|| {
        // SAFETY: JS passes a live worker.
        let (req, _) = *unsafe { worker(w) }?.conns.get(conn).ok_or_else(|| {
            einval(format!(
                "connection request {conn} is unknown or already answered"
            ))
        })?;
        // SAFETY: plain data; UCX fills the requested field.
        let mut attr: ucp_conn_request_attr_t = unsafe { std::mem::zeroed() };
        attr.field_mask =
            ucp_conn_request_attr_field::UCP_CONN_REQUEST_ATTR_FIELD_CLIENT_ADDR.0 as u64;
        // SAFETY: an unanswered request and a valid attr.
        ucs_check("ucp_conn_request_query", unsafe {
            ucp_conn_request_query(req, &mut attr)
        })?;
        // SAFETY: UCX filled a sockaddr_storage.
        let sa = unsafe {
            sockaddr::from_raw(&attr.client_address as *const _ as *const libc::sockaddr_storage)
        }
        .ok_or_else(|| einval("client has a non-IP address"))?;
        copy_text(&sa.to_string(), buf, cap)
    })
}

fn copy_text(s: &str, buf: *mut u8, cap: usize) -> Result<i64, Error> {
    if !buf.is_null() {
        // SAFETY: the caller promises `buf` holds `cap` bytes.
        unsafe { std::ptr::copy_nonoverlapping(s.as_ptr(), buf, s.len().min(cap)) };
    }
    Ok(s.len() as i64)
}

/// Rejects connection request `conn`.
#[no_mangle]
pub extern "C" fn pluvio_ucx_conn_reject(w: *mut WorkerState, conn: u32) -> i32 {
    guard(|| {
        // SAFETY: JS passes a live worker.
        let (req, l) = unsafe { worker(w) }?.conns.remove(conn).ok_or_else(|| {
            einval(format!(
                "connection request {conn} is unknown or already answered"
            ))
        })?;
        // SAFETY: an unanswered request of a live listener.
        ucs_check("ucp_listener_reject", unsafe {
            ucp_listener_reject(l, req)
        })?;
        Ok(0)
    })
}

/// Destroys listener `id`, rejecting its unanswered connection requests.
#[no_mangle]
pub extern "C" fn pluvio_ucx_listener_destroy(w: *mut WorkerState, id: u32) -> i32 {
    guard(|| {
        // SAFETY: JS passes a live worker.
        let ws = unsafe { worker(w) }?;
        let ctx = ws.listeners.remove(id).ok_or_else(|| {
            Error::errno(libc::EBADF, format!("UCX listener {id} is already closed"))
        })?;
        let mine: Vec<u32> = ws
            .conns
            .iter()
            .filter(|(_, c)| c.1 == ctx.handle)
            .map(|(i, _)| i)
            .collect();
        for cid in mine {
            if let Some((req, l)) = ws.conns.remove(cid) {
                // SAFETY: an unanswered request of this (still live) listener.
                unsafe { ucp_listener_reject(l, req) };
            }
        }
        // SAFETY: a live listener, destroyed once; its ctx box is dropped after.
        unsafe { ucp_listener_destroy(ctx.handle) };
        Ok(0)
    })
}
