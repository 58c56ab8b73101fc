//! io_uring backend (on the `io-uring` crate).
//!
//! A [`Reactor`] is either a [`Ring`](ring::Ring) (the kernel ring, a registered eventfd
//! the runtime parks on, registered fixed buffers) or a [`ThreadRing`](threads::ThreadRing)
//! (the same operations on worker threads, for where io_uring is unavailable). Both have
//! a submission area TypeScript fills with [`SubRecord`](record::SubRecord)s and hands
//! over with one [`pluvio_uring_submit`] per batch, and a completion area
//! [`pluvio_uring_reap`] fills with completion records. No call here waits for I/O.

mod blockdev;
mod buffers;
mod record;
mod ring;
mod threads;

use crate::error::{guard, guard_ptr, Error};
use buffers::FixedTable;
use io_uring::{opcode, IoUring};
use record::{CompRecord, SubRecord};
use ring::{Ring, RingOptions};
use threads::ThreadRing;

/// Opaque handle of the smoke-test ring ([`pluvio_uring_create`]).
pub struct SmokeRing(IoUring);

/// Which engine carries out a reactor's records.
#[allow(clippy::large_enum_variant)] // one per reactor, boxed behind the FFI handle
pub enum Reactor {
    /// A kernel io_uring.
    Uring(Ring),
    /// The native thread pool ([`threads`]).
    Threads(ThreadRing),
}

/// `backend` values of [`pluvio_uring_setup`] and [`pluvio_uring_backend`].
mod mode {
    /// io_uring, else the thread pool when the kernel refuses io_uring itself.
    pub const AUTO: i32 = 0;
    pub const URING: i32 = 1;
    pub const THREADS: i32 = 2;
}

impl Reactor {
    fn submission_area(&mut self) -> *mut SubRecord {
        match self {
            Reactor::Uring(r) => r.submission_area(),
            Reactor::Threads(r) => r.submission_area(),
        }
    }
    fn completion_area(&mut self) -> *mut CompRecord {
        match self {
            Reactor::Uring(r) => r.completion_area(),
            Reactor::Threads(r) => r.completion_area(),
        }
    }
    fn completion_capacity(&self) -> usize {
        match self {
            Reactor::Uring(r) => r.completion_capacity(),
            Reactor::Threads(r) => r.completion_capacity(),
        }
    }
    fn eventfd(&self) -> i32 {
        match self {
            Reactor::Uring(r) => r.eventfd(),
            Reactor::Threads(r) => r.eventfd(),
        }
    }
}

fn ring_ref<'a>(ring: *mut Reactor) -> Result<&'a mut Reactor, Error> {
    // SAFETY: JS passes the pointer from pluvio_uring_setup until pluvio_uring_close, on
    // the one thread that owns the reactor.
    unsafe { ring.as_mut() }
        .ok_or_else(|| Error::errno(libc::EBADF, "io_uring reactor handle is null".into()))
}

/// Whether `io_uring_setup` failed because io_uring itself is unavailable (seccomp,
/// `kernel.io_uring_disabled`, an old or foreign kernel), not because of the options.
fn uring_unavailable(code: i32) -> bool {
    matches!(
        -code,
        libc::EPERM | libc::ENOSYS | libc::EACCES | libc::EOPNOTSUPP
    )
}

/// Sets up a reactor: `entries` SQ entries (CQ twice that), a submission area of
/// `submit_depth` records, SQPOLL with `sqpoll_idle_ms` (negative: off), and
/// `buffer_count` fixed buffers of `buffer_size` bytes at `buffer_base` (memory owned by
/// the caller; 0 buffers: none). `backend`: 0 io_uring falling back to `threads` worker
/// threads when io_uring is unavailable, 1 io_uring only, 2 threads only.
#[no_mangle]
pub extern "C" fn pluvio_uring_setup(
    entries: u32,
    submit_depth: u32,
    sqpoll_idle_ms: i32,
    buffer_base: u64,
    buffer_size: u64,
    buffer_count: u32,
    backend: i32,
    threads: u32,
) -> *mut Reactor {
    guard_ptr(|| {
        let fixed = if buffer_count > 0 {
            Some(FixedTable::new(
                buffer_base as usize,
                buffer_size as usize,
                buffer_count as usize,
            )?)
        } else {
            None
        };
        let threads_ring = || -> Result<Reactor, Error> {
            if entries == 0 || entries > 32768 || !entries.is_power_of_two() {
                return Err(Error::errno(
                    libc::EINVAL,
                    format!("queueSize {entries} must be a power of two in 1..=32768"),
                ));
            }
            if submit_depth == 0 || submit_depth > entries {
                return Err(Error::errno(
                    libc::EINVAL,
                    format!("submitDepth {submit_depth} must be in 1..=queueSize ({entries})"),
                ));
            }
            Ok(Reactor::Threads(ThreadRing::new(
                threads,
                submit_depth,
                entries * 2,
                fixed,
            )?))
        };
        let reactor = match backend {
            mode::THREADS => threads_ring()?,
            mode::AUTO | mode::URING => {
                let opts = RingOptions {
                    entries,
                    submit_depth,
                    sqpoll_idle_ms,
                    fixed,
                };
                match Ring::new(&opts) {
                    Ok(r) => Reactor::Uring(r),
                    Err(e)
                        if backend == mode::AUTO && e.setup && uring_unavailable(e.error.code) =>
                    {
                        threads_ring()?
                    }
                    Err(e) => return Err(e.error),
                }
            }
            other => {
                return Err(Error::errno(
                    libc::EINVAL,
                    format!("unknown io_uring backend {other}"),
                ))
            }
        };
        Ok(Box::into_raw(Box::new(reactor)))
    })
}

/// Which engine a reactor uses: 1 io_uring, 2 the thread pool.
#[no_mangle]
pub extern "C" fn pluvio_uring_backend(ring: *mut Reactor) -> i32 {
    guard(|| {
        Ok(match ring_ref(ring)? {
            Reactor::Uring(_) => mode::URING,
            Reactor::Threads(_) => mode::THREADS,
        })
    })
}

/// Tears a reactor down (TypeScript first waits for every operation to complete).
#[no_mangle]
pub extern "C" fn pluvio_uring_close(ring: *mut Reactor) -> i32 {
    guard(|| {
        if !ring.is_null() {
            // SAFETY: pointer from pluvio_uring_setup, closed once by JS.
            drop(unsafe { Box::from_raw(ring) });
        }
        Ok(0)
    })
}

/// Closes a file descriptor directly (`close(2)`): for files whose reactor is gone.
#[no_mangle]
pub extern "C" fn pluvio_uring_close_fd(fd: i32) -> i32 {
    guard(|| {
        // SAFETY: TypeScript hands over an fd it owns and no longer uses.
        if unsafe { libc::close(fd) } < 0 {
            return Err(Error::last_os(format!("close({fd})")));
        }
        Ok(0)
    })
}

/// The submission area (`submit_depth` records of 64 bytes).
#[no_mangle]
pub extern "C" fn pluvio_uring_submission_area(ring: *mut Reactor) -> *mut u8 {
    guard_ptr(|| Ok(ring_ref(ring)?.submission_area() as *mut u8))
}

/// The completion area (records of 16 bytes; see [`pluvio_uring_completion_capacity`]).
#[no_mangle]
pub extern "C" fn pluvio_uring_completion_area(ring: *mut Reactor) -> *mut u8 {
    guard_ptr(|| Ok(ring_ref(ring)?.completion_area() as *mut u8))
}

/// How many records the completion area holds (the CQ size).
#[no_mangle]
pub extern "C" fn pluvio_uring_completion_capacity(ring: *mut Reactor) -> i32 {
    guard(|| Ok(ring_ref(ring)?.completion_capacity() as i32))
}

/// The eventfd signalled when completions are posted.
#[no_mangle]
pub extern "C" fn pluvio_uring_eventfd(ring: *mut Reactor) -> i32 {
    guard(|| Ok(ring_ref(ring)?.eventfd()))
}

/// Whether the kernel honours SQPOLL on this ring (1) or not (0).
#[no_mangle]
pub extern "C" fn pluvio_uring_is_sqpoll(ring: *mut Reactor) -> i32 {
    guard(|| {
        Ok(match ring_ref(ring)? {
            Reactor::Uring(r) => r.ring_mut().params().is_setup_sqpoll() as i32,
            Reactor::Threads(_) => 0,
        })
    })
}

/// Submits the first `n` records of the submission area (one `io_uring_enter`, not
/// waiting). Returns `n` or a negative errno (then nothing was submitted).
#[no_mangle]
pub extern "C" fn pluvio_uring_submit(ring: *mut Reactor, n: u32) -> i32 {
    guard(|| match ring_ref(ring)? {
        Reactor::Uring(r) => r.submit(n as usize),
        Reactor::Threads(r) => r.submit(n as usize),
    })
}

/// Submits the first `n` records of the submission area and copies ready completions
/// into the completion area with one `io_uring_enter` (never waiting). Returns the
/// completions copied, or a negative errno (then nothing was submitted nor reaped).
#[no_mangle]
pub extern "C" fn pluvio_uring_submit_reap(ring: *mut Reactor, n: u32) -> i32 {
    guard(|| match ring_ref(ring)? {
        Reactor::Uring(r) => r.submit_reap(n as usize),
        Reactor::Threads(r) => {
            r.submit(n as usize)?;
            r.reap()
        }
    })
}

/// Copies ready completions into the completion area; returns how many (never waits).
#[no_mangle]
pub extern "C" fn pluvio_uring_reap(ring: *mut Reactor) -> i32 {
    guard(|| match ring_ref(ring)? {
        Reactor::Uring(r) => r.reap(),
        Reactor::Threads(r) => r.reap(),
    })
}

/// Right before the executor parks on the reactor's eventfd: drains the eventfd (a count
/// left by completions reaped meanwhile would end the park at once) and returns 1 when
/// completions are already pending (poll instead of parking), else 0.
#[no_mangle]
pub extern "C" fn pluvio_uring_prepark(ring: *mut Reactor) -> i32 {
    guard(|| {
        Ok(match ring_ref(ring)? {
            Reactor::Uring(r) => r.prepark(),
            Reactor::Threads(r) => r.prepark(),
        })
    })
}

/// Registers `fd` as a registered file of the ring; returns its slot (>= 0), -1 when
/// the ring has none free (or is the thread backend): then keep using the plain fd.
#[no_mangle]
pub extern "C" fn pluvio_uring_register_file(ring: *mut Reactor, fd: i32) -> i32 {
    guard(|| {
        Ok(match ring_ref(ring)? {
            Reactor::Uring(r) => r.register_file(fd),
            Reactor::Threads(_) => -1,
        })
    })
}

/// Empties registered-file `slot` (from [`pluvio_uring_register_file`]) once none of
/// its file's operations is in flight.
#[no_mangle]
pub extern "C" fn pluvio_uring_unregister_file(ring: *mut Reactor, slot: u32) -> i32 {
    guard(|| match ring_ref(ring)? {
        Reactor::Uring(r) => r.unregister_file(slot),
        Reactor::Threads(_) => Err(Error::errno(
            libc::EINVAL,
            "the thread backend has no registered files".into(),
        )),
    })
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
            Error::errno(
                e.raw_os_error().unwrap_or(libc::EIO),
                format!("io_uring_setup({entries}): {e}"),
            )
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
        ring.0.submit_and_wait(1).map_err(|e| {
            Error::errno(
                e.raw_os_error().unwrap_or(libc::EIO),
                format!("io_uring_enter: {e}"),
            )
        })?;
        let cqe =
            ring.0.completion().next().ok_or_else(|| {
                Error::errno(libc::EIO, "no completion after submit_and_wait".into())
            })?;
        if cqe.user_data() != user_data {
            return Err(Error::errno(
                libc::EIO,
                format!("CQE user_data {} != {user_data}", cqe.user_data()),
            ));
        }
        Ok(cqe.result())
    })
}
