//! io_uring backend (on the `io-uring` crate): ring setup and teardown.

use crate::error::{guard, guard_ptr, Error};
use io_uring::{opcode, IoUring};

/// Opaque ring handle.
pub struct Ring(IoUring);

/// Creates a ring with `entries` submission entries.
#[no_mangle]
pub extern "C" fn pluvio_uring_create(entries: u32) -> *mut Ring {
    guard_ptr(|| {
        let ring = IoUring::new(entries).map_err(|e| {
            Error::errno(e.raw_os_error().unwrap_or(libc::EIO), format!("io_uring_setup({entries}): {e}"))
        })?;
        Ok(Box::into_raw(Box::new(Ring(ring))))
    })
}

/// Tears a ring down.
#[no_mangle]
pub extern "C" fn pluvio_uring_destroy(ring: *mut Ring) -> i32 {
    guard(|| {
        if !ring.is_null() {
            // SAFETY: pointer from pluvio_uring_create, destroyed once by JS.
            drop(unsafe { Box::from_raw(ring) });
        }
        Ok(0)
    })
}

/// Submits one NOP carrying `user_data` and reaps its completion; returns the CQE's
/// result (0) after checking its user data came back intact. A NOP completes inline,
/// so the wait is bounded by one `io_uring_enter`.
#[no_mangle]
pub extern "C" fn pluvio_uring_nop(ring: *mut Ring, user_data: u64) -> i32 {
    guard(|| {
        // SAFETY: JS passes a live ring pointer or null.
        let ring = unsafe { ring.as_mut() }
            .ok_or_else(|| Error::errno(libc::EBADF, "io_uring handle is null".into()))?;
        let nop = opcode::Nop::new().build().user_data(user_data);
        // SAFETY: a NOP references no memory.
        unsafe { ring.0.submission().push(&nop) }
            .map_err(|_| Error::errno(libc::EBUSY, "submission queue is full".into()))?;
        ring.0
            .submit_and_wait(1)
            .map_err(|e| Error::errno(e.raw_os_error().unwrap_or(libc::EIO), format!("io_uring_enter: {e}")))?;
        let cqe = ring.0.completion().next()
            .ok_or_else(|| Error::errno(libc::EIO, "no completion after submit_and_wait".into()))?;
        if cqe.user_data() != user_data {
            return Err(Error::errno(libc::EIO, format!("CQE user_data {} != {user_data}", cqe.user_data())));
        }
        Ok(cqe.result())
    })
}
