//! Initialisation and finalisation, world rank and size.
//!
//! `MPI_Init_thread` and `MPI_Finalize` may block, so TypeScript calls them as
//! `nonblocking` FFI calls, which run on a helper thread: their error message is kept in a
//! process-wide slot ([`pluvio_mpi_blocking_error`]) instead of the thread-local last error.

use super::{check, error_string, require_active};
use crate::error::{guard, Error};
use mpi_sys as ffi;
use std::os::raw::c_int;
use std::sync::Mutex;

static BLOCKING_ERROR: Mutex<String> = Mutex::new(String::new());

/// Like [`guard`], for exports run on a helper thread: also records the message where
/// [`pluvio_mpi_blocking_error`] finds it.
pub fn guard_blocking(f: impl FnOnce() -> Result<i32, Error>) -> i32 {
    let mut message = None;
    let rc = guard(|| f().inspect_err(|e| message = Some(e.message.clone())));
    if rc < 0 {
        let text = message.unwrap_or_else(|| "pluvio native panic (see thread last error)".into());
        if let Ok(mut slot) = BLOCKING_ERROR.lock() {
            *slot = text;
        }
    }
    rc
}

/// Copies the message of the last failed blocking MPI export (init, finalize, split)
/// into `buf` (capacity `cap`); returns its full length.
#[no_mangle]
pub extern "C" fn pluvio_mpi_blocking_error(buf: *mut u8, cap: usize) -> i64 {
    let slot = match BLOCKING_ERROR.lock() {
        Ok(s) => s.clone(),
        Err(_) => return 0,
    };
    let n = slot.len().min(cap);
    if !buf.is_null() && n > 0 {
        // SAFETY: the caller promises `buf` is valid for `cap` bytes; n <= cap and the
        // source is a private String, so the ranges cannot overlap.
        unsafe { std::ptr::copy_nonoverlapping(slot.as_ptr(), buf, n) };
    }
    slot.len() as i64
}

/// Open MPI loads plugins that need libmpi's symbols global; Deno's dlopen used
/// RTLD_LOCAL, so promote the already-loaded library (as mpi4py does).
fn promote_libmpi() {
    for name in [c"libmpi.so.40", c"libmpi.so.12", c"libmpi.so"] {
        // SAFETY: dlopen with RTLD_NOLOAD never loads new code; the handle is left open
        // on purpose so the promotion lasts for the process lifetime.
        let h = unsafe {
            libc::dlopen(
                name.as_ptr(),
                libc::RTLD_NOW | libc::RTLD_NOLOAD | libc::RTLD_GLOBAL,
            )
        };
        if !h.is_null() {
            return;
        }
    }
}

/// Sets the environment knobs that stop MPI libraries from starting their own progress
/// threads, which would fight the pluvio reactor for the cores. Call before init.
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

/// 1 when MPI is initialised and not finalised, else 0.
#[no_mangle]
pub extern "C" fn pluvio_mpi_is_active() -> i32 {
    guard(|| Ok(super::is_active() as i32))
}

/// `MPI_Init_thread` with `required`; returns the provided level. Sets
/// `MPI_ERRORS_RETURN` on `MPI_COMM_WORLD` so failures come back as codes. Blocking.
#[no_mangle]
pub extern "C" fn pluvio_mpi_init(required: i32) -> i32 {
    guard_blocking(|| {
        let mut flag: c_int = 0;
        // SAFETY: MPI_Initialized may be called at any time and writes one int.
        unsafe { ffi::MPI_Initialized(&mut flag) };
        if flag != 0 {
            return Err(Error::errno(
                libc::EALREADY,
                "MPI is already initialised".into(),
            ));
        }
        promote_libmpi();
        let mut provided: c_int = 0;
        // SAFETY: null argc/argv are allowed by MPI-2; provided is a valid local.
        let rc = unsafe {
            ffi::MPI_Init_thread(
                std::ptr::null_mut(),
                std::ptr::null_mut(),
                required,
                &mut provided,
            )
        };
        check(rc, "MPI_Init_thread")?;
        // SAFETY: MPI is initialised; the world communicator and handler are constants.
        let rc = unsafe {
            ffi::MPI_Comm_set_errhandler(ffi::RSMPI_COMM_WORLD, ffi::RSMPI_ERRORS_RETURN)
        };
        check(rc, "MPI_Comm_set_errhandler(MPI_COMM_WORLD)")?;
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
        require_active("MPI_Comm_rank")?;
        let mut r: c_int = 0;
        // SAFETY: writes one int; errors are returned (MPI_ERRORS_RETURN).
        check(
            unsafe { ffi::MPI_Comm_rank(ffi::RSMPI_COMM_WORLD, &mut r) },
            "MPI_Comm_rank",
        )?;
        Ok(r)
    })
}

/// Size of `MPI_COMM_WORLD`, or a negative code.
#[no_mangle]
pub extern "C" fn pluvio_mpi_world_size() -> i32 {
    guard(|| {
        require_active("MPI_Comm_size")?;
        let mut s: c_int = 0;
        // SAFETY: writes one int; errors are returned (MPI_ERRORS_RETURN).
        check(
            unsafe { ffi::MPI_Comm_size(ffi::RSMPI_COMM_WORLD, &mut s) },
            "MPI_Comm_size",
        )?;
        Ok(s)
    })
}

/// `MPI_Finalize`. Waits for the other ranks: call it as a `nonblocking` FFI call.
#[no_mangle]
pub extern "C" fn pluvio_mpi_finalize() -> i32 {
    guard_blocking(|| {
        require_active("MPI_Finalize")?;
        // SAFETY: MPI is active (checked); misuse is reported as a code.
        check(unsafe { ffi::MPI_Finalize() }, "MPI_Finalize")?;
        Ok(0)
    })
}

/// `MPI_Abort(MPI_COMM_WORLD, code)`: ends every process of the job (the way out after a
/// collective that timed out, which MPI cannot cancel). Does not return on success; call
/// it as a `nonblocking` FFI call (a helper thread may be blocked in MPI, e.g. a split).
#[no_mangle]
pub extern "C" fn pluvio_mpi_abort(code: i32) -> i32 {
    guard_blocking(|| {
        require_active("MPI_Abort")?;
        // SAFETY: MPI is active (checked); MPI_Abort ends the processes of the job.
        check(
            unsafe { ffi::MPI_Abort(ffi::RSMPI_COMM_WORLD, code) },
            "MPI_Abort",
        )?;
        Ok(0)
    })
}

/// Copies MPI's error string for `code` into `buf` (capacity `cap`); returns its length.
#[no_mangle]
pub extern "C" fn pluvio_mpi_error_string(code: i32, buf: *mut u8, cap: usize) -> i64 {
    let text = error_string(code);
    let n = text.len().min(cap);
    if !buf.is_null() && n > 0 {
        // SAFETY: the caller promises `buf` is valid for `cap` bytes; n <= cap.
        unsafe { std::ptr::copy_nonoverlapping(text.as_ptr(), buf, n) };
    }
    text.len() as i64
}

/// The MPI error class of `code` (`MPI_ERR_ROOT`, `MPI_ERR_COUNT`, ...), or a negative code.
#[no_mangle]
pub extern "C" fn pluvio_mpi_error_class(code: i32) -> i32 {
    guard(|| {
        let mut class: c_int = 0;
        // SAFETY: MPI_Error_class writes one int and may be called outside init..finalize.
        check(
            unsafe { ffi::MPI_Error_class(code, &mut class) },
            "MPI_Error_class",
        )?;
        Ok(class)
    })
}
