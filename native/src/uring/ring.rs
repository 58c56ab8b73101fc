//! The reactor's ring: io_uring setup from the builder's options, the eventfd the
//! runtime parks on, batched submission from the submission area and reaping into the
//! completion area.

use super::buffers::FixedTable;
use super::record::{CompRecord, SubRecord};
use crate::error::Error;
use io_uring::IoUring;

/// `IORING_ENTER_GETEVENTS`: also run pending task work and reap (with min_complete 0,
/// without waiting).
const ENTER_GETEVENTS: u32 = 1;

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
    /// Free registered-file slots (empty when the kernel has no sparse file table).
    free_files: Vec<u32>,
    /// Whether the kernel signals the eventfd: only from [`Ring::prepark`] to the next
    /// reap, so completions reaped without parking cost no eventfd signal (and leave no
    /// count behind to end the next park at once).
    eventfd_on: bool,
}

/// Registered-file slots per ring: files opened beyond these use plain fds.
const FILE_SLOTS: u32 = 1024;

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
                // the kernel, not by interrupting it; the kernel sets IORING_SQ_TASKRUN
                // as soon as work is pending, which makes `reap` enter with GETEVENTS,
                // and signals the eventfd while enabled (see `prepark`).
                b.setup_single_issuer()
                    .setup_defer_taskrun()
                    .setup_taskrun_flag();
            }
            b.build(o.entries)
        };
        // Kernels before 6.1 refuse DEFER_TASKRUN (EINVAL): set up without it.
        let mut ring = match build(defer) {
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
        // A sparse file table (Linux 5.19+) for `register_file`; without one, files keep
        // plain fds.
        let free_files = match ring.submitter().register_files_sparse(FILE_SLOTS) {
            Ok(()) => (0..FILE_SLOTS).rev().collect(),
            Err(_) => Vec::new(),
        };
        ring.completion().disable_eventfd();
        let cq = ring.params().cq_entries() as usize;
        Ok(Ring {
            ring,
            sub: vec![SubRecord::default(); o.submit_depth as usize].into_boxed_slice(),
            comp: vec![CompRecord::default(); cq].into_boxed_slice(),
            eventfd,
            needs_enter: false,
            free_files,
            eventfd_on: false,
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
        self.push(n)?;
        self.enter()?;
        Ok(n as i32)
    }

    /// [`Ring::submit`] and [`Ring::reap`] with one `io_uring_enter` (submitting and,
    /// with GETEVENTS, running the deferred task work that posts completions): one FFI
    /// call and one syscall per executor turn instead of two. Returns the completions
    /// reaped; on an error nothing was pushed.
    pub fn submit_reap(&mut self, n: usize) -> Result<i32, Error> {
        if self.ring.params().is_setup_sqpoll() {
            self.submit(n)?;
            return self.reap();
        }
        self.push(n)?;
        let pending = self.ring.submission().len() as u32;
        // SAFETY: a non-waiting enter (min_complete 0) with no argument; every SQE pushed
        // references memory TypeScript keeps alive until its CQE is reaped.
        let r = unsafe {
            self.ring
                .submitter()
                .enter::<libc::sigset_t>(pending, 0, ENTER_GETEVENTS, None)
        };
        // Once pushed, the SQEs are the kernel's: a failed enter must not fail the batch
        // (TypeScript would free slots the kernel still completes); the next reap retries
        // it and reports a lasting error.
        if self.entered(r).is_err() {
            self.needs_enter = true;
        }
        Ok(self.collect())
    }

    /// Validates the first `n` records and pushes them into the SQ (entering only when
    /// the SQ is full, which happens only with SQPOLL).
    fn push(&mut self, n: usize) -> Result<(), Error> {
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
        Ok(())
    }

    /// One non-waiting io_uring_enter; transient failures leave the SQEs queued for the
    /// next call instead of failing the batch.
    fn enter(&mut self) -> Result<(), Error> {
        let r = self.ring.submit();
        self.entered(r)
    }

    /// The outcome of an enter: transient failures (EAGAIN, EBUSY, EINTR) mark the SQEs
    /// for the next call.
    fn entered(&mut self, r: std::io::Result<usize>) -> Result<(), Error> {
        match r {
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

    /// Before the executor parks on the eventfd: drains a count left by completions that
    /// were reaped without parking (it would end the park at once, for nothing), then
    /// says whether completions are pending already (1: poll instead of parking). One
    /// posted after this check signals the eventfd again.
    pub fn prepark(&mut self) -> i32 {
        if !self.eventfd_on {
            self.ring.completion().enable_eventfd();
            self.eventfd_on = true;
        }
        let mut v: u64 = 0;
        // SAFETY: reads at most 8 bytes into a valid local from our non-blocking eventfd.
        unsafe { libc::read(self.eventfd, &mut v as *mut u64 as *mut libc::c_void, 8) };
        // The kernel sets SQ_TASKRUN (or posts the CQE) before it reads whether the
        // eventfd is enabled; this side enabled it before reading those: a completion
        // is either seen here or signals the eventfd.
        std::sync::atomic::fence(std::sync::atomic::Ordering::SeqCst);
        let pending = self.needs_enter
            || self.ring.submission().taskrun()
            || !self.ring.completion().is_empty();
        pending as i32
    }

    /// Copies ready CQEs into the completion area; returns how many.
    pub fn reap(&mut self) -> Result<i32, Error> {
        // Run pending task work (COOP) and flush SQEs a transient failure left behind
        // first, so the completions they post are reaped by this very call.
        if self.needs_enter || self.ring.submission().taskrun() {
            self.enter()?;
        }
        Ok(self.collect())
    }

    /// Registers `fd` in a free registered-file slot; returns the slot, or -1 when none
    /// is free (or the kernel has no file table): the file then keeps its plain fd.
    pub fn register_file(&mut self, fd: i32) -> i32 {
        let Some(slot) = self.free_files.pop() else {
            return -1;
        };
        match self.ring.submitter().register_files_update(slot, &[fd]) {
            Ok(_) => slot as i32,
            Err(_) => {
                self.free_files.push(slot);
                -1
            }
        }
    }

    /// Empties registered-file `slot` (the file's operations have all completed).
    pub fn unregister_file(&mut self, slot: u32) -> Result<i32, Error> {
        if slot >= FILE_SLOTS || self.free_files.contains(&slot) {
            return Err(Error::errno(
                libc::EINVAL,
                format!("registered-file slot {slot} is not in use"),
            ));
        }
        self.ring
            .submitter()
            .register_files_update(slot, &[-1])
            .map_err(|e| os_err(e, format!("unregistering file slot {slot}")))?;
        self.free_files.push(slot);
        Ok(0)
    }

    /// Copies the CQEs the CQ holds now into the completion area; returns how many.
    fn collect(&mut self) -> i32 {
        if self.eventfd_on {
            self.ring.completion().disable_eventfd();
            self.eventfd_on = false;
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
        // Completions the kernel held back (CQ overflow) come with the next enter; the
        // CQEs copied above are consumed, so an error here must not lose them: the next
        // reap enters again and reports a lasting error.
        if overflowed && self.enter().is_err() {
            self.needs_enter = true;
        }
        n as i32
    }
}

impl Drop for Ring {
    fn drop(&mut self) {
        // SAFETY: closing the eventfd we created; the ring (dropped after this body) has
        // it registered, which only means the kernel stops signalling it.
        unsafe { libc::close(self.eventfd) };
    }
}
