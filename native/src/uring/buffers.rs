//! The pool of page-aligned buffers registered once with the ring (fixed buffers).
//!
//! One anonymous mapping holds `count` buffers of `size` bytes each; TypeScript views
//! it through one ArrayBuffer and hands out indices, so no pointer is taken per use.

use crate::error::Error;

/// A mapping of `count * size` bytes, page aligned, unmapped on drop.
pub struct BufferPool {
    base: *mut u8,
    bytes: usize,
    pub size: usize,
    pub count: usize,
}

fn page_size() -> usize {
    // SAFETY: sysconf takes a constant and has no memory effects.
    let p = unsafe { libc::sysconf(libc::_SC_PAGESIZE) };
    if p > 0 {
        p as usize
    } else {
        4096
    }
}

impl BufferPool {
    /// Maps `count` buffers of `size` bytes; `size` must be a multiple of the page size so
    /// that every buffer is page aligned (what O_DIRECT needs on any device).
    pub fn new(size: usize, count: usize) -> Result<Self, Error> {
        let page = page_size();
        if size == 0 || !size.is_multiple_of(page) {
            return Err(Error::errno(
                libc::EINVAL,
                format!("bufferSize {size} must be a nonzero multiple of the page size {page}"),
            ));
        }
        if size > 1 << 30 {
            return Err(Error::errno(libc::EINVAL, format!("bufferSize {size} exceeds io_uring's 1 GiB limit")));
        }
        if count == 0 || count > u16::MAX as usize {
            return Err(Error::errno(libc::EINVAL, format!("bufferCount {count} must be in 1..=65535")));
        }
        let bytes = size
            .checked_mul(count)
            .ok_or_else(|| Error::errno(libc::EINVAL, "bufferSize * bufferCount overflows".into()))?;
        // SAFETY: anonymous private mapping with no address hint; checked for MAP_FAILED.
        let base = unsafe {
            libc::mmap(
                std::ptr::null_mut(),
                bytes,
                libc::PROT_READ | libc::PROT_WRITE,
                libc::MAP_PRIVATE | libc::MAP_ANONYMOUS | libc::MAP_POPULATE,
                -1,
                0,
            )
        };
        if base == libc::MAP_FAILED {
            return Err(Error::last_os(format!("mmap of {bytes} bytes for the fixed buffer pool")));
        }
        Ok(BufferPool { base: base as *mut u8, bytes, size, count })
    }

    /// The start of the mapping.
    pub fn base(&self) -> *mut u8 {
        self.base
    }

    /// One iovec per buffer, for IORING_REGISTER_BUFFERS.
    pub fn iovecs(&self) -> Vec<libc::iovec> {
        (0..self.count)
            .map(|i| libc::iovec {
                // SAFETY: i * size < bytes, so the pointer stays inside the mapping.
                iov_base: unsafe { self.base.add(i * self.size) } as *mut libc::c_void,
                iov_len: self.size,
            })
            .collect()
    }
}

impl Drop for BufferPool {
    fn drop(&mut self) {
        // SAFETY: the mapping was created in `new` with this length and is unmapped once.
        unsafe { libc::munmap(self.base as *mut libc::c_void, self.bytes) };
    }
}
