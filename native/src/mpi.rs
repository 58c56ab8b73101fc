//! MPI backend (on `mpi-sys`): initialisation, world rank and size, finalisation.

use crate::error::{guard, Error, E_MPI};
use mpi_sys as ffi;
use std::os::raw::{c_char, c_int};

/// Turns an MPI return code into an error carrying MPI's own error string.
pub fn check(rc: c_int, what: &str) -> Result<(), Error> {
    if rc == ffi::MPI_SUCCESS as c_int {
        return Ok(());
    }
    let mut buf = vec![0 as c_char; ffi::MPI_MAX_ERROR_STRING as usize + 1];
    let mut len: c_int = 0;
    // SAFETY: buf holds MPI_MAX_ERROR_STRING + 1 chars as MPI_Error_string requires.
    unsafe { ffi::MPI_Error_string(rc, buf.as_mut_ptr(), &mut len) };
    let text: String = buf[..len.max(0) as usize].iter().map(|&c| c as u8 as char).collect();
    Err(Error::code(E_MPI, format!("{what} failed ({rc}): {text}")))
}

/// Open MPI loads plugins that need libmpi's symbols global; Deno's dlopen used
/// RTLD_LOCAL, so promote the already-loaded library (as mpi4py does).
fn promote_libmpi() {
    for name in [c"libmpi.so.40", c"libmpi.so.12", c"libmpi.so"] {
        // SAFETY: dlopen with RTLD_NOLOAD never loads new code; the handle is left open
        // on purpose so the promotion lasts for the process lifetime.
        let h = unsafe { libc::dlopen(name.as_ptr(), libc::RTLD_NOW | libc::RTLD_NOLOAD | libc::RTLD_GLOBAL) };
        if !h.is_null() {
            return;
        }
    }
}

/// Sets the environment knobs that stop MPI libraries from starting their own progress
/// threads, which would fight the pluvio reactor for the cores.
#[no_mangle]
pub extern "C" fn pluvio_mpi_disable_async_progress() -> i32 {
    guard(|| {
        for (k, v) in [
            ("MPICH_ASYNC_PROGRESS", "0"),
            ("MPIR_CVAR_ASYNC_PROGRESS", "0"),
            ("OMPI_MCA_pml_ucx_progress_iterations", "0"),
        ] {
            std::env::set_var(k, v);
        }
        Ok(0)
    })
}

/// `MPI_Init_thread` with `required`; returns the provided level. Errors become
/// returned codes (`MPI_ERRORS_RETURN` on `MPI_COMM_WORLD`).
#[no_mangle]
pub extern "C" fn pluvio_mpi_init(required: i32) -> i32 {
    guard(|| {
        let mut flag: c_int = 0;
        // SAFETY: MPI_Initialized may be called at any time and writes one int.
        unsafe { ffi::MPI_Initialized(&mut flag) };
        if flag != 0 {
            return Err(Error::errno(libc::EALREADY, "MPI is already initialised".into()));
        }
        promote_libmpi();
        let mut provided: c_int = 0;
        // SAFETY: null argc/argv are allowed by MPI-2; provided is a valid local.
        let rc = unsafe {
            ffi::MPI_Init_thread(std::ptr::null_mut(), std::ptr::null_mut(), required, &mut provided)
        };
        check(rc, "MPI_Init_thread")?;
        // SAFETY: MPI is initialised; the world communicator and handler are constants.
        unsafe { ffi::MPI_Comm_set_errhandler(ffi::RSMPI_COMM_WORLD, ffi::RSMPI_ERRORS_RETURN) };
        Ok(provided)
    })
}

/// The `MPI_THREAD_*` constants from the MPI header, indexed 0..=3 (single, funneled,
/// serialized, multiple).
#[no_mangle]
pub extern "C" fn pluvio_mpi_thread_level(index: i32) -> i32 {
    // SAFETY: reading link-time constants exported by mpi-sys' C shim.
    unsafe {
        match index {
            0 => ffi::RSMPI_THREAD_SINGLE,
            1 => ffi::RSMPI_THREAD_FUNNELED,
            2 => ffi::RSMPI_THREAD_SERIALIZED,
            3 => ffi::RSMPI_THREAD_MULTIPLE,
            _ => -libc::EINVAL,
        }
    }
}

/// Rank of this process in `MPI_COMM_WORLD`, or a negative code.
#[no_mangle]
pub extern "C" fn pluvio_mpi_world_rank() -> i32 {
    guard(|| {
        let mut r: c_int = 0;
        // SAFETY: writes one int; errors are returned (MPI_ERRORS_RETURN).
        check(unsafe { ffi::MPI_Comm_rank(ffi::RSMPI_COMM_WORLD, &mut r) }, "MPI_Comm_rank")?;
        Ok(r)
    })
}

/// Size of `MPI_COMM_WORLD`, or a negative code.
#[no_mangle]
pub extern "C" fn pluvio_mpi_world_size() -> i32 {
    guard(|| {
        let mut s: c_int = 0;
        // SAFETY: writes one int; errors are returned (MPI_ERRORS_RETURN).
        check(unsafe { ffi::MPI_Comm_size(ffi::RSMPI_COMM_WORLD, &mut s) }, "MPI_Comm_size")?;
        Ok(s)
    })
}

/// `MPI_Finalize`. May wait for other ranks: call it as a `nonblocking` FFI call.
#[no_mangle]
pub extern "C" fn pluvio_mpi_finalize() -> i32 {
    guard(|| {
        // SAFETY: finalising after a successful init; MPI reports misuse as a code.
        check(unsafe { ffi::MPI_Finalize() }, "MPI_Finalize")?;
        Ok(0)
    })
}
