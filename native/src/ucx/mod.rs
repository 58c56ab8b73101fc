//! UCX backend: contexts, workers, endpoints, listeners, Active Messages and tag
//! messaging, straight on bindgen bindings of the UCX the library links ([`sys`]: the
//! site's installation, or the UCX 1.12.1 that `ucx1-sys` builds).
//!
//! Why not the `async-ucx` crate's types: its `Worker`, `Endpoint` and `ConnectionRequest` keep
//! their UCX handles private, so nothing can be added beside them; it accepts connections
//! without peer-failure handling (a dead client then hangs the server), cannot cancel a
//! posted tag receive (dropping the future frees the request while UCX may still write
//! into the buffer), drops the status of rendezvous receives (a failed transfer reports
//! success), copies every eager message into a `Vec`, and builds its parameter structs
//! from uninitialised memory. Here every operation is one `*_nbx` call whose callback
//! writes straight into the worker's completion ring: no boxed future, no executor, no
//! allocation per message.
//!
//! Layout: [`context`] (UCP context), [`worker`] (worker state, poll, parking),
//! [`layout`] (every layout and value shared with TypeScript), [`ring`] (completion
//! ring + message arena), [`request`]
//! (in-flight request bookkeeping), [`endpoint`], [`listener`], [`am`], [`receiver`]
//! (posted AM receives), [`batch`] (windowed AM send lists), [`tag`],
//! [`sockaddr`], [`parkset`] (one epoll fd over several worker fds) and [`sys`] (the
//! generated bindings).

pub mod am;
pub mod batch;
pub mod context;
pub mod endpoint;
pub mod hold;
pub mod layout;
pub mod listener;
pub mod parkset;
pub mod receiver;
pub mod request;
pub mod ring;
pub mod slab;
pub mod sockaddr;
pub mod sys;
pub mod tag;
pub mod worker;

use crate::error::{Error, E_UCX};
use std::ffi::CStr;
use sys::{ucs_status_string, ucs_status_t};

/// Human-readable name of a UCS status (e.g. "Connection reset by remote peer").
pub fn status_text(st: ucs_status_t) -> String {
    // SAFETY: ucs_status_string returns a static NUL-terminated string for any status.
    let s = unsafe { CStr::from_ptr(ucs_status_string(st)) };
    s.to_string_lossy().into_owned()
}

/// Maps a UCS error status to the negative code TypeScript turns into a typed error:
/// errno values where one fits (so peer failures become `ECONNRESET`, `EHOSTUNREACH`...),
/// [`E_UCX`] otherwise.
pub fn status_code(st: ucs_status_t) -> i32 {
    use ucs_status_t::*;
    let errno = match st {
        UCS_OK => return 0,
        UCS_ERR_CONNECTION_RESET => libc::ECONNRESET,
        UCS_ERR_UNREACHABLE => libc::EHOSTUNREACH,
        UCS_ERR_NOT_CONNECTED => libc::ENOTCONN,
        UCS_ERR_REJECTED => libc::ECONNREFUSED,
        UCS_ERR_ENDPOINT_TIMEOUT | UCS_ERR_TIMED_OUT => libc::ETIMEDOUT,
        UCS_ERR_CANCELED => libc::ECANCELED,
        UCS_ERR_INVALID_PARAM | UCS_ERR_INVALID_ADDR => libc::EINVAL,
        UCS_ERR_NO_MEMORY => libc::ENOMEM,
        UCS_ERR_MESSAGE_TRUNCATED => libc::EMSGSIZE,
        UCS_ERR_BUSY => libc::EBUSY,
        UCS_ERR_IO_ERROR => libc::EIO,
        UCS_ERR_NO_DEVICE => libc::ENODEV,
        UCS_ERR_BUFFER_TOO_SMALL => libc::ENOBUFS,
        UCS_ERR_UNSUPPORTED | UCS_ERR_NOT_IMPLEMENTED => libc::EOPNOTSUPP,
        _ => {
            let raw = st as i32;
            // The link / endpoint failure ranges: the peer went away.
            if (UCS_ERR_LAST_ENDPOINT_FAILURE as i32..=UCS_ERR_FIRST_LINK_FAILURE as i32)
                .contains(&raw)
            {
                libc::ECONNABORTED
            } else {
                return E_UCX;
            }
        }
    };
    -errno
}

/// An [`Error`] for a failed UCX call, naming the call and the UCS status.
pub fn ucs_err(what: &str, st: ucs_status_t) -> Error {
    Error::code(
        status_code(st),
        format!("{what}: {} ({st:?})", status_text(st)),
    )
}

/// Converts a UCS status into `Ok(())` or the error for `what`.
pub fn ucs_check(what: &str, st: ucs_status_t) -> Result<(), Error> {
    if st == ucs_status_t::UCS_OK {
        Ok(())
    } else {
        Err(ucs_err(what, st))
    }
}

/// Turns a borrowed (pointer, length) pair from JavaScript into a slice; null or empty
/// gives the empty slice.
///
/// # Safety
/// `ptr` must be valid for `len` bytes for the lifetime the caller chooses.
pub unsafe fn bytes<'a>(ptr: *const u8, len: usize) -> &'a [u8] {
    if ptr.is_null() || len == 0 {
        &[]
    } else {
        // SAFETY: guaranteed by the caller.
        unsafe { std::slice::from_raw_parts(ptr, len) }
    }
}

/// The error for an invalid argument.
pub fn einval(msg: impl Into<String>) -> Error {
    Error::errno(libc::EINVAL, msg.into())
}
