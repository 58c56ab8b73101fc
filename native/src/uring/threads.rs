//! The thread backend: the same submission and completion records as the io_uring ring,
//! carried out by a small pool of native threads with plain syscalls (pread, pwrite,
//! fsync, fallocate, statx, openat, close). Used where io_uring is unavailable (seccomp,
//! `kernel.io_uring_disabled`, gVisor) or asked for with `PLUVIO_URING=threads`.
//!
//! Workers post completions into a shared list and ring the same kind of eventfd the
//! io_uring ring signals, so the TypeScript side and the parking notifier are unchanged.
//! A cancel removes a still-queued operation (it completes with -ECANCELED); one a
//! worker already runs completes normally, as with io_uring's async cancel.

use super::buffers::FixedTable;
use super::record::{flag, op, CompRecord, SubRecord};
use crate::error::Error;
use std::collections::VecDeque;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Condvar, Mutex, MutexGuard};
use std::thread::JoinHandle;

struct Queue {
    jobs: VecDeque<SubRecord>,
    stop: bool,
}

/// What one worker is running, so a cancel can reach it.
struct Slot {
    /// User data of the running job, `IDLE` when none.
    running: AtomicU64,
    /// User data a cancel asked to stop (checked against `running`).
    cancel: AtomicU64,
    /// Rung by a cancel: wakes the worker's readiness wait.
    efd: i32,
}

const IDLE: u64 = u64::MAX;

struct Shared {
    queue: Mutex<Queue>,
    slots: Vec<Slot>,
    ready: Condvar,
    done: Mutex<Vec<CompRecord>>,
    eventfd: i32,
    fixed: Option<FixedTable>,
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    // A worker never panics while holding a lock (no code in the critical sections
    // can), but a poisoned lock must not turn into a panic across the FFI either.
    m.lock().unwrap_or_else(|p| p.into_inner())
}

impl Shared {
    /// Posts completions; rings the eventfd when the list was empty (the reader drains
    /// the whole list, so one ring per non-empty period is enough).
    fn complete(&self, recs: &[CompRecord]) {
        if recs.is_empty() {
            return;
        }
        let was_empty = {
            let mut d = lock(&self.done);
            let e = d.is_empty();
            d.extend_from_slice(recs);
            e
        };
        if was_empty {
            ring(self.eventfd);
        }
    }
}

/// The thread backend's ring.
pub struct ThreadRing {
    shared: Arc<Shared>,
    workers: Vec<JoinHandle<()>>,
    sub: Box<[SubRecord]>,
    comp: Box<[CompRecord]>,
}

fn neg_errno(rc: isize) -> i32 {
    if rc < 0 {
        -std::io::Error::last_os_error()
            .raw_os_error()
            .unwrap_or(libc::EIO)
    } else {
        rc as i32
    }
}

/// Retries a syscall interrupted by a signal.
fn retry(mut f: impl FnMut() -> isize) -> i32 {
    loop {
        let rc = f();
        if rc < 0 && std::io::Error::last_os_error().raw_os_error() == Some(libc::EINTR) {
            continue;
        }
        return neg_errno(rc);
    }
}

fn ring(fd: i32) {
    let one: u64 = 1;
    // SAFETY: writes 8 bytes from a valid local to a non-blocking eventfd.
    unsafe { libc::write(fd, &one as *const u64 as *const libc::c_void, 8) };
}

fn drain(fd: i32) {
    let mut v: u64 = 0;
    // SAFETY: reads at most 8 bytes into a valid local from a non-blocking eventfd.
    unsafe { libc::read(fd, &mut v as *mut u64 as *mut libc::c_void, 8) };
}

/// For a stream fd: waits until it is ready for `events` or a cancel of `user_data`
/// arrives (then -ECANCELED); 0 when ready.
fn wait_ready(slot: &Slot, fd: i32, events: i16, user_data: u64) -> i32 {
    loop {
        if slot.cancel.load(Ordering::Acquire) == user_data {
            return -libc::ECANCELED;
        }
        let mut p = [
            libc::pollfd {
                fd,
                events,
                revents: 0,
            },
            libc::pollfd {
                fd: slot.efd,
                events: libc::POLLIN,
                revents: 0,
            },
        ];
        // SAFETY: polls two valid pollfd entries of a local array.
        let rc = unsafe { libc::poll(p.as_mut_ptr(), 2, -1) };
        if rc < 0 {
            let e = std::io::Error::last_os_error()
                .raw_os_error()
                .unwrap_or(libc::EIO);
            if e == libc::EINTR {
                continue;
            }
            return -e;
        }
        if p[1].revents != 0 {
            drain(slot.efd);
            continue; // re-checks whether the cancel is for this job
        }
        if p[0].revents != 0 {
            return 0;
        }
    }
}

/// Runs one operation the way the kernel would; returns the CQE result.
fn execute(r: &SubRecord, fixed: Option<&FixedTable>, slot: &Slot) -> i32 {
    let fd = r.fd;
    let stream = r.flags & flag::STREAM != 0;
    if stream
        && matches!(
            r.op,
            op::READ | op::READ_FIXED | op::WRITE | op::WRITE_FIXED
        )
    {
        let reading = matches!(r.op, op::READ | op::READ_FIXED);
        if matches!(r.op, op::READ_FIXED | op::WRITE_FIXED)
            && !fixed.is_some_and(|t| t.contains(r.aux, r.addr, r.len))
        {
            return -libc::EFAULT;
        }
        let ready = wait_ready(
            slot,
            fd,
            if reading { libc::POLLIN } else { libc::POLLOUT },
            r.user_data,
        );
        if ready < 0 {
            return ready;
        }
        // A stream has no position: read / write at the current one, as io_uring does.
        return if reading {
            // SAFETY: as for pread below.
            retry(|| unsafe { libc::read(fd, r.addr as *mut libc::c_void, r.len as usize) })
        } else {
            // SAFETY: as for pwrite below.
            retry(|| unsafe { libc::write(fd, r.addr as *const libc::c_void, r.len as usize) })
        };
    }
    let off = r.off as libc::off_t;
    if r.off > i64::MAX as u64 {
        return -libc::EINVAL;
    }
    match r.op {
        op::READ_FIXED | op::WRITE_FIXED
            if !fixed.is_some_and(|t| t.contains(r.aux, r.addr, r.len)) =>
        {
            -libc::EFAULT
        }
        op::READ | op::READ_FIXED => {
            // SAFETY: TypeScript keeps the `len` bytes at `addr` alive and unmoved until
            // this completion is reaped (fixed ones were checked to lie in their buffer);
            // a bad address makes the kernel return EFAULT.
            retry(|| unsafe { libc::pread(fd, r.addr as *mut libc::c_void, r.len as usize, off) })
        }
        op::WRITE | op::WRITE_FIXED => {
            // SAFETY: as for reads; the kernel only reads the buffer.
            retry(|| unsafe {
                libc::pwrite(fd, r.addr as *const libc::c_void, r.len as usize, off)
            })
        }
        op::FSYNC => {
            // SAFETY: plain syscalls on an fd; a bad fd gives EBADF.
            retry(|| unsafe {
                if r.aux == 1 {
                    libc::fdatasync(fd)
                } else {
                    libc::fsync(fd)
                }
            } as isize)
        }
        op::FALLOCATE => {
            if r.len64 > i64::MAX as u64 {
                return -libc::EINVAL;
            }
            // SAFETY: plain syscall with scalar arguments.
            retry(
                || unsafe { libc::fallocate(fd, r.aux as i32, off, r.len64 as libc::off_t) }
                    as isize,
            )
        }
        op::STATX => {
            // SAFETY: `addr` is a NUL-terminated path and `addr2` a 256-byte statx buffer,
            // both kept alive by TypeScript until this completion is reaped.
            retry(|| unsafe {
                libc::statx(
                    fd,
                    r.addr as *const libc::c_char,
                    r.len64 as i32,
                    r.aux,
                    r.addr2 as *mut libc::statx,
                )
            } as isize)
        }
        op::OPENAT => {
            // SAFETY: `addr` is a NUL-terminated path kept alive by TypeScript.
            retry(|| unsafe {
                libc::openat(
                    fd,
                    r.addr as *const libc::c_char,
                    r.aux as i32,
                    r.len64 as libc::c_uint,
                )
            } as isize)
        }
        // close(2) is not retried on EINTR: the fd is released either way.
        // SAFETY: TypeScript hands over an fd it owns and no longer uses.
        op::CLOSE => neg_errno(unsafe { libc::close(fd) } as isize),
        op::NOP => 0,
        _ => -libc::EINVAL,
    }
}

fn worker(s: Arc<Shared>, index: usize) {
    let slot = &s.slots[index];
    loop {
        let job = {
            let mut q = lock(&s.queue);
            loop {
                if let Some(j) = q.jobs.pop_front() {
                    // Published under the queue lock, where cancels look for it.
                    slot.running.store(j.user_data, Ordering::Release);
                    break j;
                }
                if q.stop {
                    return;
                }
                q = s.ready.wait(q).unwrap_or_else(|p| p.into_inner());
            }
        };
        let res = execute(&job, s.fixed.as_ref(), slot);
        {
            let _q = lock(&s.queue);
            slot.running.store(IDLE, Ordering::Release);
            slot.cancel.store(IDLE, Ordering::Release);
        }
        s.complete(&[CompRecord {
            user_data: job.user_data,
            res,
            flags: 0,
        }]);
    }
}

impl ThreadRing {
    /// A pool of `threads` workers; the completion area holds `cq_entries` records.
    pub fn new(
        threads: u32,
        submit_depth: u32,
        cq_entries: u32,
        fixed: Option<FixedTable>,
    ) -> Result<Self, Error> {
        if threads == 0 || threads > 256 {
            return Err(Error::errno(
                libc::EINVAL,
                format!("threads {threads} must be in 1..=256"),
            ));
        }
        // SAFETY: plain fd-creating syscall with constant flags.
        let eventfd = unsafe { libc::eventfd(0, libc::EFD_NONBLOCK | libc::EFD_CLOEXEC) };
        if eventfd < 0 {
            return Err(Error::last_os("eventfd".into()));
        }
        let mut slots = Vec::with_capacity(threads as usize);
        for _ in 0..threads {
            // SAFETY: plain fd-creating syscall with constant flags.
            let efd = unsafe { libc::eventfd(0, libc::EFD_NONBLOCK | libc::EFD_CLOEXEC) };
            if efd < 0 {
                let e = Error::last_os("eventfd".into());
                for s in &slots {
                    let s: &Slot = s;
                    // SAFETY: closing eventfds created just above, once.
                    unsafe { libc::close(s.efd) };
                }
                // SAFETY: as above.
                unsafe { libc::close(eventfd) };
                return Err(e);
            }
            slots.push(Slot {
                running: AtomicU64::new(IDLE),
                cancel: AtomicU64::new(IDLE),
                efd,
            });
        }
        let shared = Arc::new(Shared {
            queue: Mutex::new(Queue {
                jobs: VecDeque::with_capacity(cq_entries as usize),
                stop: false,
            }),
            slots,
            ready: Condvar::new(),
            done: Mutex::new(Vec::with_capacity(cq_entries as usize)),
            eventfd,
            fixed,
        });
        let mut ring = ThreadRing {
            shared,
            workers: Vec::new(),
            sub: vec![SubRecord::default(); submit_depth as usize].into_boxed_slice(),
            comp: vec![CompRecord::default(); cq_entries as usize].into_boxed_slice(),
        };
        for i in 0..threads {
            let s = ring.shared.clone();
            let h = std::thread::Builder::new()
                .name(format!("pluvio-io-{i}"))
                .stack_size(256 * 1024)
                .spawn(move || worker(s, i as usize))
                .map_err(|e| Error::errno(libc::EAGAIN, format!("spawning I/O thread {i}: {e}")))?;
            ring.workers.push(h);
        }
        Ok(ring)
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
        self.shared.eventfd
    }

    /// Queues the first `n` records of the submission area; returns `n`.
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
        // Validate the whole batch first so a bad record queues nothing (as io_uring).
        for r in &self.sub[..n] {
            if r.op > op::CANCEL {
                return Err(Error::errno(
                    libc::EINVAL,
                    format!("unknown io_uring record op {}", r.op),
                ));
            }
        }
        let mut now: Vec<CompRecord> = Vec::new();
        let mut queued = 0;
        {
            let mut q = lock(&self.shared.queue);
            for r in &self.sub[..n] {
                match r.op {
                    op::NOP => now.push(CompRecord {
                        user_data: r.user_data,
                        res: 0,
                        flags: 0,
                    }),
                    op::CANCEL => {
                        let res = match q.jobs.iter().position(|j| j.user_data == r.len64) {
                            Some(i) => {
                                q.jobs.remove(i);
                                now.push(CompRecord {
                                    user_data: r.len64,
                                    res: -libc::ECANCELED,
                                    flags: 0,
                                });
                                0
                            }
                            None => match self
                                .shared
                                .slots
                                .iter()
                                .find(|s| s.running.load(Ordering::Acquire) == r.len64)
                            {
                                // Running: a stream op waiting for readiness stops with
                                // -ECANCELED; a file op in its syscall completes normally.
                                Some(s) => {
                                    s.cancel.store(r.len64, Ordering::Release);
                                    ring(s.efd);
                                    -libc::EALREADY
                                }
                                None => -libc::ENOENT,
                            },
                        };
                        now.push(CompRecord {
                            user_data: r.user_data,
                            res,
                            flags: 0,
                        });
                    }
                    _ => {
                        q.jobs.push_back(*r);
                        queued += 1;
                    }
                }
            }
        }
        // One wake per job (at most one per worker): idle workers beyond that stay asleep.
        for _ in 0..queued.min(self.shared.slots.len()) {
            self.shared.ready.notify_one();
        }
        self.shared.complete(&now);
        Ok(n as i32)
    }

    /// Before the executor parks on the eventfd: drains a count left by completions that
    /// were reaped without parking (it would end the park at once, for nothing), then
    /// says whether completions are posted already (1: poll instead of parking).
    pub fn prepark(&mut self) -> i32 {
        drain(self.shared.eventfd);
        // A completion posted after this check finds the list empty and rings the eventfd.
        (!lock(&self.shared.done).is_empty()) as i32
    }

    /// Moves posted completions into the completion area; returns how many.
    pub fn reap(&mut self) -> Result<i32, Error> {
        let mut d = lock(&self.shared.done);
        let n = d.len().min(self.comp.len());
        self.comp[..n].copy_from_slice(&d[..n]);
        d.drain(..n);
        Ok(n as i32)
    }
}

impl Drop for ThreadRing {
    fn drop(&mut self) {
        lock(&self.shared.queue).stop = true;
        self.shared.ready.notify_all();
        // TypeScript closes only once every operation has completed, so the workers are
        // idle and exit at once.
        for h in self.workers.drain(..) {
            let _ = h.join();
        }
        // SAFETY: closing the eventfds we created, once; no worker is left to use them.
        unsafe {
            libc::close(self.shared.eventfd);
            for s in &self.shared.slots {
                libc::close(s.efd);
            }
        }
    }
}
