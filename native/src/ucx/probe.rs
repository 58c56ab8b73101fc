//! The async-ucx build-chain probe: a UCP context and worker created through `async-ucx`,
//! reporting the worker's address. It proves the crate and the UCX it builds work in
//! this library; the backend itself calls UCX through `ucx1-sys` (see `mod.rs` for why).

use crate::error::{guard, Error, E_UCX};

/// Creates an `async-ucx` context and worker, copies the worker's address into `buf`
/// (capacity `cap`), destroys both, and returns the address length.
#[no_mangle]
pub extern "C" fn pluvio_ucx_async_probe(buf: *mut u8, cap: usize) -> i64 {
    guard(|| {
        let ucx =
            |what: &str, e: async_ucx::Error| Error::code(E_UCX, format!("async-ucx {what}: {e}"));
        let ctx = async_ucx::ucp::Context::new().map_err(|e| ucx("context", e))?;
        let worker = ctx.create_worker().map_err(|e| ucx("worker", e))?;
        let addr = worker.address().map_err(|e| ucx("worker address", e))?;
        let bytes: &[u8] = addr.as_ref();
        if !buf.is_null() {
            // SAFETY: the caller passes a buffer of `cap` bytes; at most `cap` are copied.
            unsafe { std::ptr::copy_nonoverlapping(bytes.as_ptr(), buf, bytes.len().min(cap)) };
        }
        Ok(bytes.len() as i64)
    })
}
