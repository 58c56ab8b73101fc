//! The UCP context: configured from the `UCX_*` environment variables.

use super::request::ReqInfo;
use super::sys::*;
use super::{ucs_check, ucs_err};
use crate::error::{guard, guard_ptr, Error};
use std::ptr::{null, null_mut};
use std::sync::Arc;

/// The UCP context; workers hold an `Arc` so it outlives them.
pub struct ContextInner {
    pub handle: ucp_context_h,
}

// SAFETY: a UCP context may be used from any thread (workers are per thread).
unsafe impl Send for ContextInner {}
// SAFETY: as above; pluvio only reads the handle.
unsafe impl Sync for ContextInner {}

impl Drop for ContextInner {
    fn drop(&mut self) {
        // SAFETY: the handle came from ucp_init and every worker (which holds an Arc to
        // this) has been destroyed by now.
        unsafe { ucp_cleanup(self.handle) };
    }
}

/// Opaque context handle handed to JavaScript.
pub struct UcxContext(pub Arc<ContextInner>);

fn create() -> Result<ContextInner, Error> {
    let mut config: *mut ucp_config_t = null_mut();
    // SAFETY: reads UCX_* variables into a config object we release below.
    ucs_check("ucp_config_read", unsafe {
        ucp_config_read(null(), null(), &mut config)
    })?;
    let features = ucp_feature::UCP_FEATURE_AM
        | ucp_feature::UCP_FEATURE_TAG
        | ucp_feature::UCP_FEATURE_WAKEUP;
    // SAFETY: ucp_params_t is plain data; all-zero is a valid "no fields" value and only
    // the fields named in field_mask are read.
    let mut params: ucp_params_t = unsafe { std::mem::zeroed() };
    params.field_mask = (ucp_params_field::UCP_PARAM_FIELD_FEATURES
        | ucp_params_field::UCP_PARAM_FIELD_REQUEST_SIZE)
        .0 as u64;
    params.features = features.0 as u64;
    // Every request carries a ReqInfo so callbacks know their worker and operation.
    params.request_size = std::mem::size_of::<ReqInfo>() as _;
    let mut handle: ucp_context_h = null_mut();
    // SAFETY: params and config are valid; handle receives the new context.
    let st =
        unsafe { ucp_init_version(UCP_API_MAJOR, UCP_API_MINOR, &params, config, &mut handle) };
    // SAFETY: config came from ucp_config_read and is released once.
    unsafe { ucp_config_release(config) };
    if st != ucs_status_t::UCS_OK {
        return Err(ucs_err("ucp_init", st));
    }
    Ok(ContextInner { handle })
}

/// Creates a UCP context configured from the `UCX_*` environment variables.
#[no_mangle]
pub extern "C" fn pluvio_ucx_context_create() -> *mut UcxContext {
    guard_ptr(|| Ok(Box::into_raw(Box::new(UcxContext(Arc::new(create()?))))))
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

/// Writes `"<built against> / <loaded>"` — e.g. `system 1.13.1 / 1.13.1` or
/// `bundled 1.12.1 / 1.12.1` — into `buf` (capacity `cap`, not NUL-terminated) and returns
/// its full length, so a caller may ask with `cap` 0 first.
#[no_mangle]
pub extern "C" fn pluvio_ucx_version(buf: *mut u8, cap: usize) -> i64 {
    guard(|| {
        let text = format!(
            "{} / {}",
            super::sys::BUILT_AGAINST,
            super::sys::runtime_version()
        );
        if !buf.is_null() {
            // SAFETY: the caller passes a buffer of `cap` writable bytes; at most `cap`
            // bytes are copied into it, from a string that does not overlap it.
            unsafe { std::ptr::copy_nonoverlapping(text.as_ptr(), buf, text.len().min(cap)) };
        }
        Ok(text.len() as i64)
    })
}
