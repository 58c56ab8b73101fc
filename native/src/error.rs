//! Errors across the FFI boundary: negative codes plus a per-thread message.

use std::cell::RefCell;
use std::panic::{catch_unwind, AssertUnwindSafe};

/// A panic was caught at the boundary (a bug in pluvio, reported instead of aborting).
pub const E_PANIC: i32 = -10_001;
/// A UCX call failed; the message names the UCS status.
#[cfg_attr(not(feature = "ucx"), allow(dead_code))]
pub const E_UCX: i32 = -10_002;
/// An MPI call failed; the message carries MPI's error string.
#[cfg_attr(not(feature = "mpi"), allow(dead_code))]
pub const E_MPI: i32 = -10_003;

thread_local! {
    static LAST: RefCell<String> = const { RefCell::new(String::new()) };
}

/// A failure: a negative code and a message for humans.
#[derive(Debug)]
pub struct Error {
    pub code: i32,
    pub message: String,
}

impl Error {
    /// An error carrying a positive errno value.
    pub fn errno(errno: i32, message: String) -> Self {
        Error {
            code: -errno.abs(),
            message,
        }
    }
    /// The current `errno` after a failed libc call, with what was being done.
    pub fn last_os(what: String) -> Self {
        let e = std::io::Error::last_os_error();
        let errno = e.raw_os_error().unwrap_or(libc::EIO);
        Error::errno(errno, format!("{what}: {e}"))
    }
    /// An error with a pluvio-specific code.
    #[allow(dead_code)]
    pub fn code(code: i32, message: String) -> Self {
        Error { code, message }
    }
}

/// Records `message` as the calling thread's last error.
pub fn set_last(message: &str) {
    LAST.with(|l| {
        let mut l = l.borrow_mut();
        l.clear();
        l.push_str(message);
    });
}

/// Runs `f`, converting an error or a panic into a negative code and a last-error message.
pub fn guard<T: Copy + Default + From<i32>>(f: impl FnOnce() -> Result<T, Error>) -> T {
    match catch_unwind(AssertUnwindSafe(f)) {
        Ok(Ok(v)) => v,
        Ok(Err(e)) => {
            set_last(&e.message);
            T::from(e.code)
        }
        Err(p) => {
            set_last(&format!("pluvio native panic: {}", panic_text(&*p)));
            T::from(E_PANIC)
        }
    }
}

/// Like [`guard`] for calls that return a pointer: null on failure.
pub fn guard_ptr<T>(f: impl FnOnce() -> Result<*mut T, Error>) -> *mut T {
    match catch_unwind(AssertUnwindSafe(f)) {
        Ok(Ok(p)) => p,
        Ok(Err(e)) => {
            set_last(&format!("[{}] {}", e.code, e.message));
            std::ptr::null_mut()
        }
        Err(p) => {
            set_last(&format!(
                "[{E_PANIC}] pluvio native panic: {}",
                panic_text(&*p)
            ));
            std::ptr::null_mut()
        }
    }
}

fn panic_text(p: &(dyn std::any::Any + Send)) -> String {
    if let Some(s) = p.downcast_ref::<&str>() {
        (*s).to_string()
    } else if let Some(s) = p.downcast_ref::<String>() {
        s.clone()
    } else {
        "unknown panic payload".to_string()
    }
}

/// Copies the calling thread's last error message (UTF-8, not NUL-terminated) into
/// `buf` (capacity `cap`) and returns its full length, which may exceed `cap`.
#[no_mangle]
pub extern "C" fn pluvio_last_error(buf: *mut u8, cap: usize) -> i64 {
    LAST.with(|l| {
        let l = l.borrow();
        let n = l.len().min(cap);
        if !buf.is_null() && n > 0 {
            // SAFETY: the caller promises `buf` is valid for `cap` bytes; n <= cap and
            // the source is our own String, so the ranges cannot overlap.
            unsafe { std::ptr::copy_nonoverlapping(l.as_ptr(), buf, n) };
        }
        l.len() as i64
    })
}
