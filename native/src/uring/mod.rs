//! io_uring backend (on the `io-uring` crate).
//!
//! A [`Ring`](ring::Ring) owns the kernel ring, a registered eventfd (the runtime parks
//! on it), a pool of registered fixed buffers, a submission area TypeScript fills with
//! [`SubRecord`](record::SubRecord)s and hands over with one [`pluvio_uring_submit`] per
//! batch, and a completion area [`pluvio_uring_reap`] fills with CQEs. No call here
//! waits for I/O.

mod blockdev;
mod buffers;
mod record;
mod ring;

use crate::error::{guard, guard_ptr, Error};
use io_uring::{opcode, IoUring};
use ring::{Ring, RingOptions};

/// Opaque handle of the smoke-test ring ([`pluvio_uring_create`]).
pub struct SmokeRing(IoUring);

fn ring_ref<'a>(ring: *mut Ring) -> Result<&'a mut Ring, Error> {
    // SAFETY: JS passes the pointer from pluvio_uring_setup until pluvio_uring_close, on
    // the one thread that owns the reactor.
    unsafe { ring.as_mut() }.ok_or_else(|| Error::errno(libc::EBADF, "io_uring reactor handle is null".into()))
}

/// Sets up a reactor ring: `entries` SQ entries (CQ twice that), a submission area of
/// `submit_depth` records, SQPOLL with `sqpoll_idle_ms` (negative: off), and
/// `buffer_count` registered buffers of `buffer_size` bytes (0: no pool).
#[no_mangle]
pub extern "C" fn pluvio_uring_setup(
    entries: u32,
    submit_depth: u32,
    sqpoll_idle_ms: i32,
    buffer_size: u64,
    buffer_count: u32,
) -> *mut Ring {
    guard_ptr(|| {
        let opts = RingOptions {
            entries,
            submit_depth,
            sqpoll_idle_ms,
            buffer_size: buffer_size as usize,
            buffer_count: buffer_count as usize,
        };
        Ok(Box::into_raw(Box::new(Ring::new(&opts)?)))
    })
}

/// Tears a reactor ring down (TypeScript first waits for every operation to complete).
#[no_mangle]
pub extern "C" fn pluvio_uring_close(ring: *mut Ring) -> i32 {
    guard(|| {
        if !ring.is_null() {
            // SAFETY: pointer from pluvio_uring_setup, closed once by JS.
            drop(unsafe { Box::from_raw(ring) });
        }
        Ok(0)
    })
}

/// The submission area (`submit_depth` records of 64 bytes).
#[no_mangle]
pub extern "C" fn pluvio_uring_submission_area(ring: *mut Ring) -> *mut u8 {
    guard_ptr(|| Ok(ring_ref(ring)?.submission_area() as *mut u8))
}

/// The completion area (records of 16 bytes; see [`pluvio_uring_completion_capacity`]).
#[no_mangle]
pub extern "C" fn pluvio_uring_completion_area(ring: *mut Ring) -> *mut u8 {
    guard_ptr(|| Ok(ring_ref(ring)?.completion_area() as *mut u8))
}

/// How many records the completion area holds (the CQ size).
#[no_mangle]
pub extern "C" fn pluvio_uring_completion_capacity(ring: *mut Ring) -> i32 {
    guard(|| Ok(ring_ref(ring)?.completion_capacity() as i32))
}

/// The eventfd registered with the ring (readable after completions are posted).
#[no_mangle]
pub extern "C" fn pluvio_uring_eventfd(ring: *mut Ring) -> i32 {
    guard(|| Ok(ring_ref(ring)?.eventfd()))
}

/// The start of the fixed buffer pool (null when the ring has none).
#[no_mangle]
pub extern "C" fn pluvio_uring_buffers(ring: *mut Ring) -> *mut u8 {
    guard_ptr(|| {
        let r = ring_ref(ring)?;
        r.pool().map(|p| p.base()).ok_or_else(|| Error::errno(libc::ENOENT, "the ring has no buffer pool".into()))
    })
}

/// Whether the kernel honours SQPOLL on this ring (1) or not (0).
#[no_mangle]
pub extern "C" fn pluvio_uring_is_sqpoll(ring: *mut Ring) -> i32 {
    guard(|| Ok(ring_ref(ring)?.ring_mut().params().is_setup_sqpoll() as i32))
}

/// Submits the first `n` records of the submission area with one `io_uring_enter`
/// (not waiting). Returns `n` or a negative errno (then nothing was pushed).
#[no_mangle]
pub extern "C" fn pluvio_uring_submit(ring: *mut Ring, n: u32) -> i32 {
    guard(|| ring_ref(ring)?.submit(n as usize))
}

/// Copies ready completions into the completion area; returns how many (never waits).
#[no_mangle]
pub extern "C" fn pluvio_uring_reap(ring: *mut Ring) -> i32 {
    guard(|| ring_ref(ring)?.reap())
}

/// Logical block size of the block device open as `fd` (`BLKSSZGET`), or a negative errno.
#[no_mangle]
pub extern "C" fn pluvio_uring_block_size(fd: i32) -> i32 {
    guard(|| blockdev::logical_block_size(fd))
}

/// Smoke test: creates a bare ring with `entries` submission entries.
#[no_mangle]
pub extern "C" fn pluvio_uring_create(entries: u32) -> *mut SmokeRing {
    guard_ptr(|| {
        let ring = IoUring::new(entries).map_err(|e| {
            Error::errno(e.raw_os_error().unwrap_or(libc::EIO), format!("io_uring_setup({entries}): {e}"))
        })?;
        Ok(Box::into_raw(Box::new(SmokeRing(ring))))
    })
}

/// Smoke test: tears a bare ring down.
#[no_mangle]
pub extern "C" fn pluvio_uring_destroy(ring: *mut SmokeRing) -> i32 {
    guard(|| {
        if !ring.is_null() {
            // SAFETY: pointer from pluvio_uring_create, destroyed once by JS.
            drop(unsafe { Box::from_raw(ring) });
        }
        Ok(0)
    })
}

/// Smoke test: submits one NOP carrying `user_data` and reaps its completion; returns
/// the CQE's result (0) after checking its user data came back intact. A NOP completes
/// inline, so the wait is bounded by one `io_uring_enter`.
#[no_mangle]
pub extern "C" fn pluvio_uring_nop(ring: *mut SmokeRing, user_data: u64) -> i32 {
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
