//! UCX backend (on `async-ucx`): contexts and workers.

use crate::error::{guard, guard_ptr, Error, E_UCX};
use async_ucx::ucp::{Context, Worker};
use std::rc::Rc;
use std::sync::Arc;

/// Opaque UCX context handle.
pub struct UcxContext(Arc<Context>);
/// Opaque UCX worker handle (workers are single-threaded: one per JS thread).
pub struct UcxWorker(Rc<Worker>);

fn ucx_err(what: &str, e: async_ucx::Error) -> Error {
    Error::code(E_UCX, format!("{what}: {e} ({e:?})"))
}

/// Creates a UCP context configured from the `UCX_*` environment variables.
#[no_mangle]
pub extern "C" fn pluvio_ucx_context_create() -> *mut UcxContext {
    guard_ptr(|| {
        let ctx = Context::new().map_err(|e| ucx_err("ucp_init", e))?;
        Ok(Box::into_raw(Box::new(UcxContext(ctx))))
    })
}

/// Releases a context (workers keep it alive until they are destroyed too).
#[no_mangle]
pub extern "C" fn pluvio_ucx_context_destroy(ctx: *mut UcxContext) -> i32 {
    guard(|| {
        if !ctx.is_null() {
            // SAFETY: pointer from pluvio_ucx_context_create, destroyed once by JS.
            drop(unsafe { Box::from_raw(ctx) });
        }
        Ok(0)
    })
}

/// Creates a worker on `ctx`.
#[no_mangle]
pub extern "C" fn pluvio_ucx_worker_create(ctx: *mut UcxContext) -> *mut UcxWorker {
    guard_ptr(|| {
        // SAFETY: JS passes a live context pointer or null.
        let ctx = unsafe { ctx.as_ref() }
            .ok_or_else(|| Error::errno(libc::EBADF, "UCX context handle is null".into()))?;
        let w = ctx.0.create_worker().map_err(|e| ucx_err("ucp_worker_create", e))?;
        Ok(Box::into_raw(Box::new(UcxWorker(w))))
    })
}

/// Destroys a worker.
#[no_mangle]
pub extern "C" fn pluvio_ucx_worker_destroy(w: *mut UcxWorker) -> i32 {
    guard(|| {
        if !w.is_null() {
            // SAFETY: pointer from pluvio_ucx_worker_create, destroyed once by JS.
            drop(unsafe { Box::from_raw(w) });
        }
        Ok(0)
    })
}

/// Copies the worker's address into `buf` (capacity `cap`); returns its full length.
#[no_mangle]
pub extern "C" fn pluvio_ucx_worker_address(w: *mut UcxWorker, buf: *mut u8, cap: usize) -> i64 {
    guard(|| {
        // SAFETY: JS passes a live worker pointer or null.
        let w = unsafe { w.as_ref() }
            .ok_or_else(|| Error::errno(libc::EBADF, "UCX worker handle is null".into()))?;
        let addr = w.0.address().map_err(|e| ucx_err("ucp_worker_get_address", e))?;
        let bytes: &[u8] = addr.as_ref();
        if !buf.is_null() {
            // SAFETY: the caller promises `buf` holds `cap` bytes; we copy at most that.
            unsafe { std::ptr::copy_nonoverlapping(bytes.as_ptr(), buf, bytes.len().min(cap)) };
        }
        Ok(bytes.len() as i64)
    })
}

