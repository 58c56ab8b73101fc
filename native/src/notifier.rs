//! The parking notifier: lets the JavaScript executor sleep at ~zero CPU and wake in
//! microseconds when a registered fd (io_uring CQ eventfd, UCX worker fd) becomes
//! readable or a deadline passes.
//!
//! Two modes share one epoll set:
//! - doorbell: a native thread waits on the set and calls a thread-safe JS callback
//!   once per `arm` (fast wake, ~µs);
//! - wait: no thread; JS calls [`pluvio_notifier_wait`] as a `nonblocking` FFI call.
//!
//! A third way to wait, [`pluvio_notifier_block`], blocks the calling (JS) thread itself in
//! the kernel on a second, level-triggered epoll set holding the same fds and its own
//! timerfd: the thread that has to run next is the one the kernel timer wakes, one
//! wake-up instead of two (notifier thread, then JS thread), which is what keeps short
//! timer waits on time when other processes compete for the cores. At its first blocking
//! wait the thread also asks for a 100 µs fair-class slice (`sched_setattr`), so that its
//! wake-up preempts a busy process instead of waiting up to a tick for its slice to end.
//!
//! No synchronous call here ever waits on the notifier thread (the thread may be blocked
//! inside the JS callback until the JS thread runs it).

use crate::error::{guard, guard_ptr, Error};
use crate::sys::now_ns;
use std::sync::atomic::{AtomicBool, AtomicU32, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

/// Callback invoked from the notifier thread with the generation it was armed with.
pub type Doorbell = extern "C" fn(generation: u32);

const CTL_TOKEN: u64 = u64::MAX;
const TIMER_TOKEN: u64 = u64::MAX - 1;
const MAX_FDS: usize = 64;

/// [`pluvio_notifier_block`] returned because its deadline passed.
pub const BLOCK_DEADLINE: i32 = 1;
/// [`pluvio_notifier_block`] returned because a registered fd was readable.
pub const BLOCK_FD: i32 = 2;

struct Shared {
    epfd: i32,
    ctl_fd: i32,
    timer_fd: i32,
    /// Level-triggered set of the same fds plus `block_timer_fd`, for blocking waits.
    block_epfd: i32,
    block_timer_fd: i32,
    /// Generation of the current arm, 0 when disarmed.
    armed: AtomicU32,
    stop: AtomicBool,
    /// Monotonic time at which the last armed wake fired.
    fired_ns: AtomicU64,
    /// Registered fds and whether the notifier drains (reads 8 bytes from) them on fire.
    fds: Mutex<Vec<(i32, bool)>>,
}

impl Drop for Shared {
    fn drop(&mut self) {
        // SAFETY: these fds were created by us and are closed exactly once, here.
        unsafe {
            libc::close(self.block_timer_fd);
            libc::close(self.block_epfd);
            libc::close(self.timer_fd);
            libc::close(self.ctl_fd);
            libc::close(self.epfd);
        }
    }
}

/// Opaque notifier handle handed to JavaScript.
pub struct Notifier {
    shared: Arc<Shared>,
    threaded: bool,
}

fn cvt(rc: i32, what: &str) -> Result<i32, Error> {
    if rc < 0 {
        Err(Error::last_os(what.to_string()))
    } else {
        Ok(rc)
    }
}

fn epoll_mod(epfd: i32, op: i32, fd: i32, token: u64, oneshot: bool) -> Result<(), Error> {
    let mut ev = libc::epoll_event {
        events: (libc::EPOLLIN | if oneshot { libc::EPOLLONESHOT } else { 0 }) as u32,
        u64: token,
    };
    // SAFETY: epfd is our epoll instance; ev is a valid local event.
    cvt(
        unsafe { libc::epoll_ctl(epfd, op, fd, &mut ev) },
        "epoll_ctl",
    )?;
    Ok(())
}

impl Shared {
    fn new() -> Result<Self, Error> {
        // SAFETY: plain fd-creating syscalls with constant flags.
        let epfd = cvt(
            unsafe { libc::epoll_create1(libc::EPOLL_CLOEXEC) },
            "epoll_create1",
        )?;
        // SAFETY: as above.
        let ctl_fd = unsafe { libc::eventfd(0, libc::EFD_NONBLOCK | libc::EFD_CLOEXEC) };
        // SAFETY: as above.
        let timer_fd = unsafe {
            libc::timerfd_create(
                libc::CLOCK_MONOTONIC,
                libc::TFD_NONBLOCK | libc::TFD_CLOEXEC,
            )
        };
        // SAFETY: as above.
        let block_epfd = unsafe { libc::epoll_create1(libc::EPOLL_CLOEXEC) };
        // SAFETY: as above.
        let block_timer_fd = unsafe {
            libc::timerfd_create(
                libc::CLOCK_MONOTONIC,
                libc::TFD_NONBLOCK | libc::TFD_CLOEXEC,
            )
        };
        if ctl_fd < 0 || timer_fd < 0 || block_epfd < 0 || block_timer_fd < 0 {
            let e = Error::last_os("eventfd/timerfd_create/epoll_create1".into());
            // SAFETY: closing only the fds that were created.
            unsafe {
                libc::close(epfd);
                for fd in [ctl_fd, timer_fd, block_epfd, block_timer_fd] {
                    if fd >= 0 {
                        libc::close(fd);
                    }
                }
            }
            return Err(e);
        }
        let s = Shared {
            epfd,
            ctl_fd,
            timer_fd,
            block_epfd,
            block_timer_fd,
            armed: AtomicU32::new(0),
            stop: AtomicBool::new(false),
            fired_ns: AtomicU64::new(0),
            fds: Mutex::new(Vec::new()),
        };
        epoll_mod(epfd, libc::EPOLL_CTL_ADD, ctl_fd, CTL_TOKEN, false)?;
        epoll_mod(epfd, libc::EPOLL_CTL_ADD, timer_fd, TIMER_TOKEN, true)?;
        epoll_mod(
            block_epfd,
            libc::EPOLL_CTL_ADD,
            block_timer_fd,
            TIMER_TOKEN,
            false,
        )?;
        Ok(s)
    }

    fn kick(&self) {
        let one: u64 = 1;
        // SAFETY: writes 8 bytes from a valid local to our eventfd (non-blocking).
        unsafe { libc::write(self.ctl_fd, &one as *const u64 as *const libc::c_void, 8) };
    }

    fn drain(fd: i32) {
        let mut v: u64 = 0;
        // SAFETY: reads at most 8 bytes into a valid local from a non-blocking fd.
        unsafe { libc::read(fd, &mut v as *mut u64 as *mut libc::c_void, 8) };
    }

    fn set_timer(&self, timeout_ns: i64) -> Result<(), Error> {
        set_timerfd(self.timer_fd, timeout_ns)?;
        if timeout_ns >= 0 {
            epoll_mod(
                self.epfd,
                libc::EPOLL_CTL_MOD,
                self.timer_fd,
                TIMER_TOKEN,
                true,
            )?;
        }
        Ok(())
    }

    /// Blocks the calling thread until a registered fd is readable or `timeout_ns`
    /// passes (-1: no deadline). Returns `BLOCK_DEADLINE` and/or `BLOCK_FD`.
    fn block(&self, timeout_ns: i64) -> Result<i32, Error> {
        set_timerfd(self.block_timer_fd, timeout_ns)?;
        let mut evs = [libc::epoll_event { events: 0, u64: 0 }; MAX_FDS];
        SHORT_SLICE.with(|done| {
            if !done.get() {
                done.set(true);
                short_slice();
            }
        });
        let n = loop {
            // SAFETY: evs is a valid array of MAX_FDS events; block_epfd is ours.
            let n =
                unsafe { libc::epoll_wait(self.block_epfd, evs.as_mut_ptr(), MAX_FDS as i32, -1) };
            if n >= 0 {
                break n;
            }
            let e = std::io::Error::last_os_error();
            if e.raw_os_error() != Some(libc::EINTR) {
                let _ = set_timerfd(self.block_timer_fd, -1);
                return Err(Error::last_os("epoll_wait".into()));
            }
        };
        let mut why = 0;
        let fds = self.fds.lock().unwrap_or_else(|p| p.into_inner());
        for ev in &evs[..n as usize] {
            if ev.u64 == TIMER_TOKEN {
                Shared::drain(self.block_timer_fd);
                why |= BLOCK_DEADLINE;
            } else {
                why |= BLOCK_FD;
                if let Some(&(fd, true)) = fds.iter().find(|(fd, _)| *fd as u64 == ev.u64) {
                    Shared::drain(fd);
                }
            }
        }
        drop(fds);
        if why & BLOCK_DEADLINE == 0 {
            set_timerfd(self.block_timer_fd, -1)?;
        }
        Ok(why)
    }
}

/// `struct sched_attr` of sched_setattr(2) (the first, 48-byte version).
#[repr(C)]
#[derive(Default)]
struct SchedAttr {
    size: u32,
    policy: u32,
    flags: u64,
    nice: i32,
    priority: u32,
    runtime: u64,
    deadline: u64,
    period: u64,
}

/// The fair-class slice (ns) a blocked waiter asks for: a wake-up with a shorter slice
/// than the running task's preempts it (EEVDF), instead of waiting for its slice to end.
const WAIT_SLICE_NS: u64 = 100_000;
const SCHED_FLAG_RESET_ON_FORK: u64 = 1;

thread_local! {
    /// Whether this thread already asked for [`WAIT_SLICE_NS`].
    static SHORT_SLICE: std::cell::Cell<bool> = const { std::cell::Cell::new(false) };
}

/// Asks for a [`WAIT_SLICE_NS`] fair-class slice for the calling thread (the JS thread, at
/// its first blocking wait), so that its wake-ups preempt busy processes on a contended
/// core instead of waiting up to a tick for their slice to end. Its share of the CPU is
/// unchanged; it is only preempted sooner when it runs long on a contended core. Left
/// alone: a non-fair policy, a slice already that short, a kernel without custom slices.
fn short_slice() {
    let mut old = SchedAttr::default();
    // SAFETY: sched_getattr writes at most `size` bytes into a valid local.
    let rc = unsafe {
        libc::syscall(
            libc::SYS_sched_getattr,
            0,
            &mut old as *mut SchedAttr,
            std::mem::size_of::<SchedAttr>() as u32,
            0,
        )
    };
    let fair = old.policy == libc::SCHED_OTHER as u32 || old.policy == libc::SCHED_BATCH as u32;
    if rc != 0 || !fair || (old.runtime != 0 && old.runtime <= WAIT_SLICE_NS) {
        return;
    }
    let short = SchedAttr {
        size: std::mem::size_of::<SchedAttr>() as u32,
        // Only the flag this struct version can carry (no util-clamp fields here).
        flags: old.flags & SCHED_FLAG_RESET_ON_FORK,
        runtime: WAIT_SLICE_NS,
        ..old
    };
    // SAFETY: sched_setattr reads a valid, fully initialised local of `size` bytes.
    unsafe { libc::syscall(libc::SYS_sched_setattr, 0, &short as *const SchedAttr, 0) };
}

/// Arms `fd` (a timerfd) to fire `timeout_ns` from now (absolute, so the time spent getting
/// to the syscall does not add up), or disarms it for a negative timeout.
fn set_timerfd(fd: i32, timeout_ns: i64) -> Result<(), Error> {
    let mut spec: libc::itimerspec = libc::itimerspec {
        it_interval: libc::timespec {
            tv_sec: 0,
            tv_nsec: 0,
        },
        it_value: libc::timespec {
            tv_sec: 0,
            tv_nsec: 0,
        },
    };
    if timeout_ns >= 0 {
        // Absolute deadline so the time spent getting to the syscall does not add up.
        let at = now_ns() + timeout_ns.max(1) as u64;
        spec.it_value.tv_sec = (at / 1_000_000_000) as libc::time_t;
        spec.it_value.tv_nsec = (at % 1_000_000_000) as libc::c_long;
    }
    // SAFETY: fd is one of our timerfds; spec is a valid local; old value not requested.
    cvt(
        unsafe { libc::timerfd_settime(fd, libc::TFD_TIMER_ABSTIME, &spec, std::ptr::null_mut()) },
        "timerfd_settime",
    )?;
    Ok(())
}

impl Shared {
    fn arm(&self, generation: u32, timeout_ns: i64) -> Result<(), Error> {
        // Armed before the timer and fds are enabled: a short deadline may fire at once,
        // and the notifier thread must then see this generation, not a disarmed state.
        self.armed.store(generation, Ordering::Release);
        self.set_timer(timeout_ns)?;
        let fds = self.fds.lock().unwrap_or_else(|p| p.into_inner());
        for &(fd, _) in fds.iter() {
            // Re-enable the one-shot registration: a still-readable fd fires at once,
            // so readiness that arrived before arming is never lost.
            epoll_mod(self.epfd, libc::EPOLL_CTL_MOD, fd, fd as u64, true)?;
        }
        Ok(())
    }

    /// Waits for one batch of events. Returns the generation that fired (0: none).
    fn wait_once(&self, timeout_ms: i32) -> u32 {
        let mut evs = [libc::epoll_event { events: 0, u64: 0 }; MAX_FDS];
        // SAFETY: evs is a valid array of MAX_FDS events.
        let n =
            unsafe { libc::epoll_wait(self.epfd, evs.as_mut_ptr(), MAX_FDS as i32, timeout_ms) };
        if n <= 0 {
            return 0;
        }
        let mut wake = false;
        for ev in &evs[..n as usize] {
            match ev.u64 {
                CTL_TOKEN => Shared::drain(self.ctl_fd),
                TIMER_TOKEN => {
                    Shared::drain(self.timer_fd);
                    wake = true;
                }
                _ => wake = true,
            }
        }
        if !wake {
            return 0;
        }
        let generation = self.armed.swap(0, Ordering::AcqRel);
        if generation == 0 {
            // Fired while disarmed: leave level-triggered fds readable so the next
            // arm fires immediately instead of losing the wake-up.
            return 0;
        }
        let fds = self.fds.lock().unwrap_or_else(|p| p.into_inner());
        for ev in &evs[..n as usize] {
            if ev.u64 < TIMER_TOKEN {
                if let Some(&(fd, true)) = fds.iter().find(|(fd, _)| *fd as u64 == ev.u64) {
                    Shared::drain(fd);
                }
            }
        }
        self.fired_ns.store(now_ns(), Ordering::Release);
        generation
    }
}

fn thread_main(shared: Arc<Shared>, bell: Doorbell) {
    // Timer slack defaults to 50 µs; parked deadlines should fire on time.
    // SAFETY: prctl with PR_SET_TIMERSLACK takes a plain integer.
    unsafe { libc::prctl(libc::PR_SET_TIMERSLACK, 1 as libc::c_ulong) };
    while !shared.stop.load(Ordering::Acquire) {
        let generation = shared.wait_once(-1);
        if generation != 0 && !shared.stop.load(Ordering::Acquire) {
            bell(generation);
        }
    }
}

fn with<'a>(n: *mut Notifier) -> Result<&'a Notifier, Error> {
    // SAFETY: JS hands back the pointer from pluvio_notifier_create until destroy.
    unsafe { n.as_ref() }.ok_or_else(|| Error::errno(libc::EBADF, "notifier handle is null".into()))
}

/// Creates a notifier. With a `bell`, a thread calls it once per arm when the notifier
/// fires (doorbell mode); with null, use [`pluvio_notifier_wait`] (wait mode).
#[no_mangle]
pub extern "C" fn pluvio_notifier_create(bell: Option<Doorbell>) -> *mut Notifier {
    guard_ptr(|| {
        let shared = Arc::new(Shared::new()?);
        if let Some(bell) = bell {
            let s = shared.clone();
            std::thread::Builder::new()
                .name("pluvio-notifier".into())
                .spawn(move || thread_main(s, bell))
                .map_err(|e| {
                    Error::errno(libc::EAGAIN, format!("spawning the notifier thread: {e}"))
                })?;
        }
        Ok(Box::into_raw(Box::new(Notifier {
            shared,
            threaded: bell.is_some(),
        })))
    })
}

/// Adds `fd` to the set. With `drain != 0` the notifier reads 8 bytes from it when it
/// fires (for eventfds the backend does not read itself).
#[no_mangle]
pub extern "C" fn pluvio_notifier_add_fd(n: *mut Notifier, fd: i32, drain: i32) -> i32 {
    guard(|| {
        let n = with(n)?;
        let mut fds = n.shared.fds.lock().unwrap_or_else(|p| p.into_inner());
        if fds.iter().any(|(f, _)| *f == fd) {
            return Err(Error::errno(
                libc::EEXIST,
                format!("fd {fd} is already registered"),
            ));
        }
        if fds.len() >= MAX_FDS - 2 {
            return Err(Error::errno(libc::ENOSPC, "too many fds registered".into()));
        }
        // Added disabled-until-armed: a one-shot registration with no events yet is
        // simply enabled by the next arm.
        epoll_mod(n.shared.epfd, libc::EPOLL_CTL_ADD, fd, fd as u64, true)?;
        if let Err(e) = epoll_mod(
            n.shared.block_epfd,
            libc::EPOLL_CTL_ADD,
            fd,
            fd as u64,
            false,
        ) {
            // SAFETY: undoing the registration just made; a null event is allowed for DEL.
            unsafe {
                libc::epoll_ctl(n.shared.epfd, libc::EPOLL_CTL_DEL, fd, std::ptr::null_mut())
            };
            return Err(e);
        }
        fds.push((fd, drain != 0));
        Ok(0)
    })
}

/// Removes `fd` from the set.
#[no_mangle]
pub extern "C" fn pluvio_notifier_remove_fd(n: *mut Notifier, fd: i32) -> i32 {
    guard(|| {
        let n = with(n)?;
        let mut fds = n.shared.fds.lock().unwrap_or_else(|p| p.into_inner());
        let before = fds.len();
        fds.retain(|(f, _)| *f != fd);
        if fds.len() == before {
            return Err(Error::errno(
                libc::ENOENT,
                format!("fd {fd} is not registered"),
            ));
        }
        // SAFETY: removing registrations; a null event is allowed for EPOLL_CTL_DEL.
        unsafe {
            libc::epoll_ctl(n.shared.epfd, libc::EPOLL_CTL_DEL, fd, std::ptr::null_mut());
            libc::epoll_ctl(
                n.shared.block_epfd,
                libc::EPOLL_CTL_DEL,
                fd,
                std::ptr::null_mut(),
            );
        }
        Ok(0)
    })
}

/// Arms the notifier with a nonzero `generation` and a timeout in ns (-1: none).
#[no_mangle]
pub extern "C" fn pluvio_notifier_arm(n: *mut Notifier, generation: u32, timeout_ns: i64) -> i32 {
    guard(|| {
        if generation == 0 {
            return Err(Error::errno(
                libc::EINVAL,
                "generation must be nonzero".into(),
            ));
        }
        with(n)?.shared.arm(generation, timeout_ns)?;
        Ok(0)
    })
}

/// Disarms the notifier; a wake already on its way is reported with its old generation.
#[no_mangle]
pub extern "C" fn pluvio_notifier_disarm(n: *mut Notifier) -> i32 {
    guard(|| {
        let n = with(n)?;
        n.shared.armed.store(0, Ordering::Release);
        n.shared.set_timer(-1)?;
        Ok(0)
    })
}

/// Wait mode: blocks up to `timeout_ms` (-1: forever) for the armed notifier to fire.
/// Call it as a `nonblocking` FFI call. Returns the generation that fired, 0 if none.
#[no_mangle]
pub extern "C" fn pluvio_notifier_wait(n: *mut Notifier, timeout_ms: i32) -> i64 {
    guard(|| {
        let n = with(n)?;
        if n.threaded {
            return Err(Error::errno(
                libc::EINVAL,
                "notifier is in doorbell mode".into(),
            ));
        }
        Ok(n.shared.wait_once(timeout_ms) as i64)
    })
}

/// Blocks the calling thread (the JS thread: call it as a synchronous FFI call) until a
/// registered fd is readable or `timeout_ns` passes (-1: no deadline), in one kernel wait
/// on a level-triggered set of its own, independent of `arm`/`wait` and of the notifier
/// thread. Returns `BLOCK_DEADLINE` (1) and/or `BLOCK_FD` (2), or -errno. Meant for short
/// waits: nothing else runs on the thread meanwhile.
#[no_mangle]
pub extern "C" fn pluvio_notifier_block(n: *mut Notifier, timeout_ns: i64) -> i32 {
    guard(|| with(n)?.shared.block(timeout_ns))
}

/// Interrupts a [`pluvio_notifier_wait`] in progress.
#[no_mangle]
pub extern "C" fn pluvio_notifier_kick(n: *mut Notifier) -> i32 {
    guard(|| {
        with(n)?.shared.kick();
        Ok(0)
    })
}

/// Monotonic time (ns) at which the last armed wake fired, for wake-latency stats.
#[no_mangle]
pub extern "C" fn pluvio_notifier_fired_ns(n: *mut Notifier) -> u64 {
    // SAFETY: see `with`; a null handle reads as 0.
    unsafe { n.as_ref() }.map_or(0, |n| n.shared.fired_ns.load(Ordering::Acquire))
}

/// Stops the notifier. The thread (if any) exits on its own once it is not inside the
/// doorbell; it is never joined here, so this never blocks.
#[no_mangle]
pub extern "C" fn pluvio_notifier_destroy(n: *mut Notifier) -> i32 {
    guard(|| {
        if n.is_null() {
            return Ok(0);
        }
        // SAFETY: the pointer came from Box::into_raw in create and is destroyed once.
        let n = unsafe { Box::from_raw(n) };
        n.shared.armed.store(0, Ordering::Release);
        n.shared.stop.store(true, Ordering::Release);
        n.shared.kick();
        Ok(0)
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn eventfd() -> i32 {
        // SAFETY: plain fd-creating syscall with constant flags.
        let fd = unsafe { libc::eventfd(0, libc::EFD_NONBLOCK | libc::EFD_CLOEXEC) };
        assert!(fd >= 0);
        fd
    }

    fn write_one(fd: i32) {
        let one: u64 = 1;
        // SAFETY: writes 8 bytes from a valid local to an eventfd we own.
        assert_eq!(
            unsafe { libc::write(fd, &one as *const u64 as *const libc::c_void, 8) },
            8
        );
    }

    #[test]
    fn block_ends_at_its_deadline_never_before() {
        let n = pluvio_notifier_create(None);
        assert!(!n.is_null());
        for _ in 0..20 {
            let t0 = now_ns();
            assert_eq!(pluvio_notifier_block(n, 200_000), BLOCK_DEADLINE);
            assert!(now_ns() - t0 >= 200_000, "woke before its deadline");
        }
        assert_eq!(pluvio_notifier_destroy(n), 0);
    }

    #[test]
    fn block_wakes_for_a_registered_fd_and_drains_it() {
        let n = pluvio_notifier_create(None);
        let fd = eventfd();
        assert_eq!(pluvio_notifier_add_fd(n, fd, 1), 0);
        // Readable before the wait: returns at once (level-triggered), and drains it.
        write_one(fd);
        assert_eq!(pluvio_notifier_block(n, 10_000_000_000), BLOCK_FD);
        // Readable during the wait, from another thread: the 10 s deadline never comes.
        let writer = std::thread::spawn(move || write_one(fd));
        assert_eq!(pluvio_notifier_block(n, 10_000_000_000), BLOCK_FD);
        writer.join().unwrap();
        // Drained: the next wait runs to its deadline.
        assert_eq!(pluvio_notifier_block(n, 100_000), BLOCK_DEADLINE);
        assert_eq!(pluvio_notifier_remove_fd(n, fd), 0);
        write_one(fd);
        assert_eq!(pluvio_notifier_block(n, 100_000), BLOCK_DEADLINE, "removed");
        assert_eq!(close_fd(fd), 0);
        assert_eq!(pluvio_notifier_destroy(n), 0);
    }

    fn close_fd(fd: i32) -> i32 {
        // SAFETY: closing an fd this test created.
        unsafe { libc::close(fd) }
    }
}
