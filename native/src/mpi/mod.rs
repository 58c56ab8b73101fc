//! MPI backend (on `mpi-sys`): non-blocking collectives drained by a reactor.
//!
//! - [`init`]: async-progress knobs, `MPI_Init_thread`, world rank/size, finalisation.
//! - [`types`]: element types and reduction operations by index, `MPI_IN_PLACE`.
//! - [`comm`]: communicator handles (world, `idup`, `split`, free).
//! - [`reactor`]: the request table drained with `MPI_Testsome` into a completion ring.
//! - [`collectives`]: the `MPI_I*` posting exports.
//! - [`p2p`]: allreduce as point-to-point steps (the blocking call's algorithms, never
//!   waiting), advanced by the reactor.

mod collectives;
mod comm;
mod init;
mod p2p;
mod reactor;
mod types;

use crate::error::{Error, E_MPI};
use mpi_sys as ffi;
use std::os::raw::{c_char, c_int};

/// MPI's error string for `code` (empty when `code` is not an MPI error code).
pub fn error_string(code: c_int) -> String {
    let mut buf = vec![0 as c_char; ffi::MPI_MAX_ERROR_STRING as usize + 1];
    let mut len: c_int = 0;
    // SAFETY: buf holds MPI_MAX_ERROR_STRING + 1 chars as MPI_Error_string requires;
    // MPI_Error_string may be called before MPI_Init and after MPI_Finalize.
    let rc = unsafe { ffi::MPI_Error_string(code, buf.as_mut_ptr(), &mut len) };
    if rc != ffi::MPI_SUCCESS as c_int {
        return String::new();
    }
    buf[..len.clamp(0, buf.len() as c_int) as usize]
        .iter()
        .map(|&c| c as u8 as char)
        .collect()
}

/// Turns an MPI return code into an error carrying MPI's own error string.
pub fn check(rc: c_int, what: &str) -> Result<(), Error> {
    if rc == ffi::MPI_SUCCESS as c_int {
        return Ok(());
    }
    Err(Error::code(
        E_MPI,
        format!("{what} failed (MPI error {rc}): {}", error_string(rc)),
    ))
}

/// Whether MPI is initialised and not yet finalised (the window where calls are legal).
pub fn is_active() -> bool {
    let mut init: c_int = 0;
    let mut fini: c_int = 0;
    // SAFETY: both may be called at any time, even before MPI_Init; each writes one int.
    unsafe {
        ffi::MPI_Initialized(&mut init);
        ffi::MPI_Finalized(&mut fini);
    }
    init != 0 && fini == 0
}

/// Fails with `EINVAL` naming the state: using MPI outside init..finalize is a caller
/// error, and MPI itself would abort instead of returning a code.
pub fn require_active(what: &str) -> Result<(), Error> {
    if is_active() {
        Ok(())
    } else {
        Err(Error::errno(
            libc::EINVAL,
            format!("{what}: MPI is not initialised (or already finalised); call init() first"),
        ))
    }
}
