//! Host identity and process liveness: what the UCX collectives need to watch ranks on
//! the same host through pidfds instead of UCX's peer-failure handling (which forces TCP).
//!
//! The host identity is the kernel's boot id plus the inode of the caller's PID namespace:
//! two processes with the same identity run under one kernel boot and see the same pids.

use crate::error::{guard, Error};

/// Writes the host identity into `out` (cleared first).
fn host_id(out: &mut Vec<u8>) -> Result<(), Error> {
    let boot = std::fs::read_to_string("/proc/sys/kernel/random/boot_id").map_err(|e| {
        let errno = e.raw_os_error().unwrap_or(libc::EIO);
        Error::errno(
            errno,
            format!("reading /proc/sys/kernel/random/boot_id: {e}"),
        )
    })?;
    let boot = boot.trim();
    if boot.is_empty() {
        return Err(Error::errno(
            libc::ENODATA,
            "the kernel boot id is empty".into(),
        ));
    }
    // SAFETY: `stat` is plain data, so all-zero is a valid value to be overwritten.
    let mut st: libc::stat = unsafe { std::mem::zeroed() };
    // SAFETY: the path is a NUL-terminated literal and `st` a valid local to write into.
    let rc = unsafe { libc::stat(c"/proc/self/ns/pid".as_ptr(), &mut st) };
    if rc != 0 {
        return Err(Error::last_os("stat(/proc/self/ns/pid)".into()));
    }
    out.clear();
    out.extend_from_slice(boot.as_bytes());
    out.extend_from_slice(format!("/pidns:{}", st.st_ino).as_bytes());
    Ok(())
}

/// Copies this host's identity (boot id and PID namespace inode, as text, not
/// NUL-terminated) into `buf` (capacity `cap`; may be null to ask for the length) and
/// returns its full length, which may exceed `cap`; or a negative errno when `/proc`
/// does not tell.
#[no_mangle]
pub extern "C" fn pluvio_host_id(buf: *mut u8, cap: usize) -> i64 {
    guard(|| {
        let mut id = Vec::with_capacity(64);
        host_id(&mut id)?;
        let n = id.len().min(cap);
        if !buf.is_null() && n > 0 {
            // SAFETY: the caller promises `buf` is valid for `cap` bytes; n <= cap and
            // the source is our own Vec, so the ranges cannot overlap.
            unsafe { std::ptr::copy_nonoverlapping(id.as_ptr(), buf, n) };
        }
        Ok(id.len() as i64)
    })
}

/// Opens a pidfd for process `pid` (close-on-exec). Returns the fd, or a negative errno:
/// `-ESRCH` when no such process exists, `-EINVAL` for `pid <= 0`, `-ENOSYS` on kernels
/// before 5.3.
#[no_mangle]
pub extern "C" fn pluvio_pidfd_open(pid: i32) -> i32 {
    guard(|| {
        if pid <= 0 {
            return Err(Error::errno(
                libc::EINVAL,
                format!("pid {pid} is not a process id"),
            ));
        }
        // SAFETY: pidfd_open takes a pid and flags (0) and returns a new fd or -1.
        let fd = unsafe { libc::syscall(libc::SYS_pidfd_open, pid, 0) };
        if fd < 0 {
            return Err(Error::last_os(format!("pidfd_open({pid})")));
        }
        Ok(fd as i32)
    })
}

/// Whether the process behind pidfd `fd` has exited, without blocking: 1 when it has
/// (a zombie not reaped yet counts as exited), 0 while it runs, or a negative errno
/// (`-EBADF` for a closed or foreign fd).
#[no_mangle]
pub extern "C" fn pluvio_pidfd_exited(fd: i32) -> i32 {
    guard(|| {
        if fd < 0 {
            return Err(Error::errno(libc::EBADF, format!("{fd} is not a pidfd")));
        }
        let mut p = libc::pollfd {
            fd,
            events: libc::POLLIN,
            revents: 0,
        };
        loop {
            // SAFETY: one valid pollfd, timeout 0 (never blocks).
            let rc = unsafe { libc::poll(&mut p, 1, 0) };
            if rc >= 0 {
                break;
            }
            let e = Error::last_os(format!("poll(pidfd {fd})"));
            if e.code != -libc::EINTR {
                return Err(e);
            }
        }
        if p.revents & libc::POLLNVAL != 0 {
            return Err(Error::errno(libc::EBADF, format!("fd {fd} is not open")));
        }
        Ok(i32::from(p.revents & (libc::POLLIN | libc::POLLHUP) != 0))
    })
}

/// Closes `fd` (a pidfd from [`pluvio_pidfd_open`]). Returns 0 or a negative errno.
#[no_mangle]
pub extern "C" fn pluvio_fd_close(fd: i32) -> i32 {
    guard(|| {
        if fd < 0 {
            return Err(Error::errno(
                libc::EBADF,
                format!("{fd} is not a file descriptor"),
            ));
        }
        // SAFETY: closes an fd the caller owns (it promises not to use it again).
        if unsafe { libc::close(fd) } != 0 {
            return Err(Error::last_os(format!("close({fd})")));
        }
        Ok(0)
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Write;
    use std::process::{Command, Stdio};

    #[test]
    fn host_id_is_stable_and_names_the_pid_namespace() {
        let n = pluvio_host_id(std::ptr::null_mut(), 0);
        assert!(n > 36, "length {n}");
        let mut a = vec![0u8; n as usize];
        let mut b = vec![0u8; n as usize];
        assert_eq!(pluvio_host_id(a.as_mut_ptr(), a.len()), n);
        assert_eq!(pluvio_host_id(b.as_mut_ptr(), b.len()), n);
        assert_eq!(a, b);
        assert!(String::from_utf8(a).unwrap().contains("/pidns:"));
    }

    #[test]
    fn pidfd_sees_a_child_exit() {
        // `cat` runs until its stdin closes: no timing involved.
        let mut child = Command::new("cat")
            .stdin(Stdio::piped())
            .stdout(Stdio::null())
            .spawn()
            .expect("spawn cat");
        let fd = pluvio_pidfd_open(child.id() as i32);
        assert!(fd >= 0, "pidfd_open: {fd}");
        assert_eq!(pluvio_pidfd_exited(fd), 0, "running");
        let mut stdin = child.stdin.take().unwrap();
        stdin.write_all(b"x").unwrap();
        drop(stdin);
        // Not reaped yet: a zombie counts as exited. (poll wakes on exit, so block on it.)
        let mut p = libc::pollfd {
            fd,
            events: libc::POLLIN,
            revents: 0,
        };
        // SAFETY: one valid pollfd; the child exits once its stdin is closed.
        assert_eq!(unsafe { libc::poll(&mut p, 1, -1) }, 1);
        assert_eq!(pluvio_pidfd_exited(fd), 1, "exited, not reaped");
        child.wait().unwrap();
        assert_eq!(pluvio_pidfd_exited(fd), 1, "exited and reaped");
        assert_eq!(pluvio_fd_close(fd), 0);
        // (Not `fd` again: another test thread may have been given that number.)
        assert_eq!(pluvio_pidfd_exited(-1), -libc::EBADF);
        assert_eq!(pluvio_fd_close(-1), -libc::EBADF);
    }

    #[test]
    fn pidfd_open_rejects_bogus_pids() {
        assert_eq!(pluvio_pidfd_open(0), -libc::EINVAL);
        assert_eq!(pluvio_pidfd_open(-1), -libc::EINVAL);
        // Above the largest pid_max (2^22): no such process.
        assert_eq!(pluvio_pidfd_open(i32::MAX), -libc::ESRCH);
    }
}
