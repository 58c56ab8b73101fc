//! Communicator handles. A handle is a boxed [`Comm`] so TypeScript holds one opaque
//! pointer whatever `MPI_Comm` is (a pointer in Open MPI, an int in MPICH).

use super::reactor::{post, Reactor};
use super::{check, require_active};
use crate::error::{guard, guard_ptr, Error};
use mpi_sys as ffi;
use std::cell::Cell;
use std::os::raw::c_int;

/// An MPI communicator and whether pluvio must free it.
pub struct Comm {
    pub raw: ffi::MPI_Comm,
    /// Whether pluvio created (and frees) the communicator: then this handle is its only
    /// one, and [`Comm::seq`] numbers its point-to-point collectives.
    pub owned: bool,
    /// The next point-to-point collective's sequence number (see `p2p::next_tag`).
    pub seq: Cell<u32>,
}

/// Borrows the communicator behind a handle, rejecting null and `MPI_COMM_NULL`.
pub fn comm<'a>(c: *const Comm, what: &str) -> Result<&'a Comm, Error> {
    if c.is_null() {
        return Err(Error::errno(
            libc::EINVAL,
            format!("{what}: null communicator handle"),
        ));
    }
    // SAFETY: non-null handles come from the constructors below and stay alive until
    // pluvio_mpi_comm_free, after which TypeScript never passes them again.
    let c = unsafe { &*c };
    // SAFETY: reading a link-time constant.
    if c.raw == unsafe { ffi::RSMPI_COMM_NULL } {
        return Err(Error::errno(
            libc::EINVAL,
            format!("{what}: the communicator is MPI_COMM_NULL"),
        ));
    }
    Ok(c)
}

fn boxed(raw: ffi::MPI_Comm, owned: bool) -> *mut Comm {
    Box::into_raw(Box::new(Comm {
        raw,
        owned,
        seq: Cell::new(0),
    }))
}

/// A handle for `MPI_COMM_WORLD` (not freed by [`pluvio_mpi_comm_free`]'s MPI call).
#[no_mangle]
pub extern "C" fn pluvio_mpi_comm_world() -> *mut Comm {
    guard_ptr(|| {
        require_active("MPI_COMM_WORLD")?;
        // SAFETY: reading a link-time constant.
        Ok(boxed(unsafe { ffi::RSMPI_COMM_WORLD }, false))
    })
}

/// Rank of this process in the communicator, or a negative code.
#[no_mangle]
pub extern "C" fn pluvio_mpi_comm_rank(c: *const Comm) -> i32 {
    guard(|| {
        let c = comm(c, "MPI_Comm_rank")?;
        let mut r: c_int = 0;
        // SAFETY: a live communicator; writes one int.
        check(
            unsafe { ffi::MPI_Comm_rank(c.raw, &mut r) },
            "MPI_Comm_rank",
        )?;
        Ok(r)
    })
}

/// Size of the communicator, or a negative code.
#[no_mangle]
pub extern "C" fn pluvio_mpi_comm_size(c: *const Comm) -> i32 {
    guard(|| {
        let c = comm(c, "MPI_Comm_size")?;
        let mut s: c_int = 0;
        // SAFETY: a live communicator; writes one int.
        check(
            unsafe { ffi::MPI_Comm_size(c.raw, &mut s) },
            "MPI_Comm_size",
        )?;
        Ok(s)
    })
}

/// Posts `MPI_Comm_idup` as request `id` of reactor `r`. Returns the new handle, whose
/// communicator is valid once the request completes (and must not be used before).
#[no_mangle]
pub extern "C" fn pluvio_mpi_comm_idup(r: *mut Reactor, c: *const Comm, id: u32) -> *mut Comm {
    guard_ptr(|| {
        let parent = comm(c, "MPI_Comm_idup")?;
        // SAFETY: reading a link-time constant.
        let new = boxed(unsafe { ffi::RSMPI_COMM_NULL }, true);
        // SAFETY: `new` is a fresh box that lives until pluvio_mpi_comm_free, so MPI may
        // write the communicator into it when the request completes.
        let slot = unsafe { &mut (*new).raw };
        let res = post(r, id, "MPI_Comm_idup", |req| {
            // SAFETY: a live parent communicator; `slot` outlives the request (above).
            unsafe { ffi::MPI_Comm_idup(parent.raw, slot, req) }
        });
        if let Err(e) = res {
            // SAFETY: `new` came from Box::into_raw above and MPI did not keep it.
            drop(unsafe { Box::from_raw(new) });
            return Err(e);
        }
        Ok(new)
    })
}

/// `MPI_Comm_split(c, color, key)`; `color < 0` means `MPI_UNDEFINED` (this rank joins no
/// new communicator: the handle then holds `MPI_COMM_NULL`, reported by
/// [`pluvio_mpi_comm_is_null`]). Blocks until every rank of `c` calls it: TypeScript runs
/// it as a `nonblocking` call while no other thread calls MPI. Errors go to
/// `pluvio_mpi_blocking_error`. Writes the new handle to `*out` and returns 0.
#[no_mangle]
pub extern "C" fn pluvio_mpi_comm_split(
    c: *const Comm,
    color: i32,
    key: i32,
    out: *mut *mut Comm,
) -> i32 {
    super::init::guard_blocking(|| {
        let parent = comm(c, "MPI_Comm_split")?;
        if out.is_null() {
            return Err(Error::errno(
                libc::EINVAL,
                "MPI_Comm_split: null output pointer".into(),
            ));
        }
        // SAFETY: reading link-time constants.
        let (color, null) = unsafe {
            (
                if color < 0 {
                    ffi::RSMPI_UNDEFINED
                } else {
                    color
                },
                ffi::RSMPI_COMM_NULL,
            )
        };
        let mut raw = null;
        // SAFETY: a live communicator; `raw` is a valid local for the result.
        check(
            unsafe { ffi::MPI_Comm_split(parent.raw, color, key, &mut raw) },
            "MPI_Comm_split",
        )?;
        if raw != null {
            // SAFETY: a new live communicator and a constant handler.
            let rc = unsafe { ffi::MPI_Comm_set_errhandler(raw, ffi::RSMPI_ERRORS_RETURN) };
            check(rc, "MPI_Comm_set_errhandler")?;
        }
        // SAFETY: `out` is non-null (checked) and points to a pointer-sized buffer.
        unsafe { *out = boxed(raw, true) };
        Ok(0)
    })
}

/// 1 when the handle holds `MPI_COMM_NULL` (this rank is not a member), else 0.
#[no_mangle]
pub extern "C" fn pluvio_mpi_comm_is_null(c: *const Comm) -> i32 {
    guard(|| {
        if c.is_null() {
            return Err(Error::errno(
                libc::EINVAL,
                "null communicator handle".into(),
            ));
        }
        // SAFETY: see `comm`; reading a link-time constant.
        Ok(unsafe { (*c).raw == ffi::RSMPI_COMM_NULL } as i32)
    })
}

/// Frees a handle, and its communicator when pluvio created it (`MPI_Comm_free` only
/// marks it for deallocation: it does not wait for the other ranks).
#[no_mangle]
pub extern "C" fn pluvio_mpi_comm_free(c: *mut Comm) -> i32 {
    guard(|| {
        if c.is_null() {
            return Ok(0);
        }
        // SAFETY: `c` came from Box::into_raw in this module and is freed once (TypeScript
        // forgets the handle after this call).
        let mut b = unsafe { Box::from_raw(c) };
        // SAFETY: reading a link-time constant.
        if b.owned && b.raw != unsafe { ffi::RSMPI_COMM_NULL } && super::is_active() {
            // SAFETY: an owned live communicator with no pending requests (TypeScript
            // frees only after they completed).
            check(unsafe { ffi::MPI_Comm_free(&mut b.raw) }, "MPI_Comm_free")?;
        }
        Ok(0)
    })
}
