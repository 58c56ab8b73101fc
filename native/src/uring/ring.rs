//! The reactor's ring: io_uring setup from the builder's options, the eventfd the
//! runtime parks on, batched submission from the submission area and reaping into the
//! completion area.

use super::buffers::FixedTable;
use super::record::{CompRecord, SubRecord};
use crate::error::Error;
use io_uring::IoUring;

/// Options of [`Ring::new`] (the builder's, minus what only TypeScript uses).
pub struct RingOptions {
    pub entries: u32,
    pub submit_depth: u32,
    /// SQPOLL idle time in ms; negative: no SQPOLL.
    pub sqpoll_idle_ms: i32,
    /// The fixed buffers to register (memory owned by TypeScript), if any.
    pub fixed: Option<FixedTable>,
}

/// A ring with its submission area, completion area, eventfd and fixed buffers.
pub struct Ring {
    ring: IoUring,
    sub: Box<[SubRecord]>,
    comp: Box<[CompRecord]>,
    eventfd: i32,
    /// The last enter failed with a transient error: SQEs are waiting in the SQ.
    needs_enter: bool,
}

pub(super) fn os_err(e: std::io::Error, what: String) -> Error {
    Error::errno(
        e.raw_os_error().unwrap_or(libc::EIO),
        format!("{what}: {e}"),
    )
}

/// Why [`Ring::new`] failed; `setup` says whether `io_uring_setup` itself refused.
pub struct SetupError {
    pub setup: bool,
    pub error: Error,
}

impl From<Error> for SetupError {
    fn from(error: Error) -> Self {
        SetupError {
            setup: false,
            error,
        }
    }
}

impl Ring {
    pub fn new(o: &RingOptions) -> Result<Ring, SetupError> {
        if o.entries == 0 || o.entries > 32768 || !o.entries.is_power_of_two() {
            return Err(Error::errno(
                libc::EINVAL,
                format!(
                    "queueSize {} must be a power of two in 1..=32768",
                    o.entries
                ),
            )
            .into());
        }
        if o.submit_depth == 0 || o.submit_depth > o.entries {
            return Err(Error::errno(
                libc::EINVAL,
                format!(
                    "submitDepth {} must be in 1..=queueSize ({})",
                    o.submit_depth, o.entries
                ),
            )
            .into());
        }
        let defer = o.sqpoll_idle_ms < 0 && std::env::var_os("PLUVIO_URING_NO_DEFER").is_none();
        let build = |defer: bool| {
            let mut b = IoUring::builder();
            // Twice the SQ: TypeScript keeps at most `entries` I/O operations plus at most
            // one cancel per operation in flight, so the CQ can never overflow.
            b.setup_cqsize(o.entries * 2);
            if o.sqpoll_idle_ms >= 0 {
                b.setup_sqpoll(o.sqpoll_idle_ms as u32);
            }
            if defer {
                // Completions are posted when this (the only submitting) thread enters
                // the kernel, not by interrupting it; the kernel still signals the
                // eventfd as soon as work is pending (the notifier wakes the executor)
                // and sets IORING_SQ_TASKRUN, which makes `reap` enter with GETEVENTS.
                b.setup_single_issuer()
                    .setup_defer_taskrun()
                    .setup_taskrun_flag();
            }
            b.build(o.entries)
        };
        // Kernels before 6.1 refuse DEFER_TASKRUN (EINVAL): set up without it.
        let ring = match build(defer) {
            Err(e) if defer && e.raw_os_error() == Some(libc::EINVAL) => build(false),
            r => r,
        }
        .map_err(|e| SetupError {
            setup: true,
            error: os_err(e, format!("io_uring_setup({} entries)", o.entries)),
        })?;
        if let Some(t) = &o.fixed {
            let iov = t.iovecs();
            // SAFETY: the iovecs describe TypeScript's buffer memory, which it keeps alive
            // (referenced, non-detachable) until pluvio_uring_close has dropped the ring.
            unsafe { ring.submitter().register_buffers(&iov) }.map_err(|e| {
                os_err(
                    e,
                    format!("IORING_REGISTER_BUFFERS ({} x {} bytes)", t.count, t.size),
                )
            })?;
        }
        // SAFETY: plain fd-creating syscall with constant flags.
        let eventfd = unsafe { libc::eventfd(0, libc::EFD_NONBLOCK | libc::EFD_CLOEXEC) };
        if eventfd < 0 {
            return Err(Error::last_os("eventfd".into()).into());
        }
        if let Err(e) = ring.submitter().register_eventfd(eventfd) {
            // SAFETY: closing the eventfd we just created.
            unsafe { libc::close(eventfd) };
            return Err(os_err(e, "IORING_REGISTER_EVENTFD".into()).into());
        }
        let cq = ring.params().cq_entries() as usize;
        Ok(Ring {
            ring,
            sub: vec![SubRecord::default(); o.submit_depth as usize].into_boxed_slice(),
            comp: vec![CompRecord::default(); cq].into_boxed_slice(),
            eventfd,
            needs_enter: false,
        })
    }

    pub fn submission_area(&mut self) -> *mut SubRecord {
        self.sub.as_mut_ptr()
    }

    pub fn completion_area(&mut self) -> *mut CompRecord {
        self.comp.as_mut_ptr()
    }

    pub fn completion_capacity(&self) -> usize {
        self.comp.len()
    }

    pub fn eventfd(&self) -> i32 {
        self.eventfd
    }

    pub fn ring_mut(&mut self) -> &mut IoUring {
        &mut self.ring
    }

    /// Pushes the first `n` records of the submission area and enters the kernel once,
    /// without waiting. Returns `n`.
    pub fn submit(&mut self, n: usize) -> Result<i32, Error> {
        if n > self.sub.len() {
            return Err(Error::errno(
                libc::EINVAL,
                format!(
                    "batch of {n} exceeds the submission area ({})",
                    self.sub.len()
                ),
            ));
        }
        // Validate the whole batch first so a bad record pushes nothing.
        let mut entries = Vec::with_capacity(n);
        for &r in &self.sub[..n] {
            entries.push(r.to_entry()?);
        }
        let mut pushed = 0;
        while pushed < n {
            // SAFETY: every address in these entries is kept alive by TypeScript until
            // the matching CQE has been reaped (design rule), and the fixed buffers stay
            // registered for the ring's lifetime.
            let room = unsafe {
                let mut sq = self.ring.submission();
                let room = (sq.capacity() - sq.len()).min(n - pushed);
                sq.push_multiple(&entries[pushed..pushed + room])
                    .is_ok()
                    .then_some(room)
            };
            match room {
                Some(k) if k > 0 => pushed += k,
                // The SQ is full (only with SQPOLL, whose thread consumes it
                // asynchronously): hand what is there over and wait for room.
                _ => {
                    self.enter()?;
                    if self.ring.params().is_setup_sqpoll() {
                        self.ring
                            .submitter()
                            .squeue_wait()
                            .map_err(|e| os_err(e, "io_uring_enter(SQ_WAIT)".into()))?;
                    }
                }
            }
        }
        self.enter()?;
        Ok(n as i32)
    }

    /// One non-waiting io_uring_enter; transient failures leave the SQEs queued for the
    /// next call instead of failing the batch.
    fn enter(&mut self) -> Result<(), Error> {
        match self.ring.submit() {
            Ok(_) => {
                self.needs_enter = false;
                Ok(())
            }
            Err(e)
                if matches!(
                    e.raw_os_error(),
                    Some(libc::EAGAIN | libc::EBUSY | libc::EINTR)
                ) =>
            {
                self.needs_enter = true;
                Ok(())
            }
            Err(e) => Err(os_err(e, "io_uring_enter".into())),
        }
    }

    /// Copies ready CQEs into the completion area; returns how many.
    pub fn reap(&mut self) -> Result<i32, Error> {
        // Run pending task work (COOP) and flush SQEs a transient failure left behind
        // first, so the completions they post are reaped by this very call.
        if self.needs_enter || self.ring.submission().taskrun() {
            self.enter()?;
        }
        let mut cq = self.ring.completion();
        let overflowed = cq.overflow() > 0;
        let mut n = 0;
        for cqe in &mut cq {
            self.comp[n] = CompRecord {
                user_data: cqe.user_data(),
                res: cqe.result(),
                flags: cqe.flags(),
            };
            n += 1;
            if n == self.comp.len() {
                break;
            }
        }
        drop(cq);
        // Completions the kernel held back (CQ overflow) come with the next enter.
        if overflowed {
            self.enter()?;
        }
        Ok(n as i32)
    }
}

impl Drop for Ring {
    fn drop(&mut self) {
        // SAFETY: closing the eventfd we created; the ring (dropped after this body) has
        // it registered, which only means the kernel stops signalling it.
        unsafe { libc::close(self.eventfd) };
    }
}
