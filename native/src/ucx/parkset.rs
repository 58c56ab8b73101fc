//! One epoll fd over the event fds of several workers, so the UCX reactor offers the
//! runtime's notifier a single park fd however many workers exist.

use crate::error::{guard, Error};

fn cvt(rc: i32, what: &str) -> Result<i32, Error> {
    if rc < 0 {
        Err(Error::last_os(what.to_string()))
    } else {
        Ok(rc)
    }
}

/// Creates the epoll fd (close-on-exec). Returns it or a negative errno.
#[no_mangle]
pub extern "C" fn pluvio_ucx_parkset_create() -> i32 {
    // SAFETY: plain syscall with a constant flag.
    guard(|| {
        cvt(
            unsafe { libc::epoll_create1(libc::EPOLL_CLOEXEC) },
            "epoll_create1",
        )
    })
}

/// Adds a worker's event fd (level-triggered: readable while the worker has events).
#[no_mangle]
pub extern "C" fn pluvio_ucx_parkset_add(epfd: i32, fd: i32) -> i32 {
    guard(|| {
        let mut ev = libc::epoll_event {
            events: libc::EPOLLIN as u32,
            u64: fd as u64,
        };
        // SAFETY: ev is a valid local; the kernel checks both fds.
        cvt(
            unsafe { libc::epoll_ctl(epfd, libc::EPOLL_CTL_ADD, fd, &mut ev) },
            "epoll_ctl(ADD)",
        )
    })
}

/// Removes a worker's event fd.
#[no_mangle]
pub extern "C" fn pluvio_ucx_parkset_remove(epfd: i32, fd: i32) -> i32 {
    guard(|| {
        // SAFETY: EPOLL_CTL_DEL accepts a null event.
        cvt(
            unsafe { libc::epoll_ctl(epfd, libc::EPOLL_CTL_DEL, fd, std::ptr::null_mut()) },
            "epoll_ctl(DEL)",
        )
    })
}

/// Closes the epoll fd.
#[no_mangle]
pub extern "C" fn pluvio_ucx_parkset_destroy(epfd: i32) -> i32 {
    // SAFETY: closing the fd JS got from pluvio_ucx_parkset_create, once.
    guard(|| cvt(unsafe { libc::close(epfd) }, "close"))
}
