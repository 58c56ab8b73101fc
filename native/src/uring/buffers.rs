//! The table of fixed (registered) buffers.
//!
//! The memory belongs to TypeScript (one non-detachable `WebAssembly.Memory`, so no JS
//! call can free or move it while the kernel uses it); native code only describes it to
//! the kernel (IORING_REGISTER_BUFFERS) or, in the thread backend, checks that a fixed
//! operation stays inside its buffer, as the kernel does.

use crate::error::Error;

/// `count` buffers of `size` bytes each, back to back from `base`.
#[derive(Clone, Copy)]
pub struct FixedTable {
    base: usize,
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

impl FixedTable {
    /// Describes `count` buffers of `size` bytes at `base`; `size` must be a multiple of
    /// the page size and `base` page aligned, so every buffer suits O_DIRECT anywhere.
    pub fn new(base: usize, size: usize, count: usize) -> Result<Self, Error> {
        let page = page_size();
        if size == 0 || !size.is_multiple_of(page) {
            return Err(Error::errno(
                libc::EINVAL,
                format!("bufferSize {size} must be a nonzero multiple of the page size {page}"),
            ));
        }
        if size > 1 << 30 {
            return Err(Error::errno(
                libc::EINVAL,
                format!("bufferSize {size} exceeds io_uring's 1 GiB limit"),
            ));
        }
        if count == 0 || count > u16::MAX as usize {
            return Err(Error::errno(
                libc::EINVAL,
                format!("bufferCount {count} must be in 1..=65535"),
            ));
        }
        if base == 0 || !base.is_multiple_of(page) {
            return Err(Error::errno(
                libc::EINVAL,
                format!("buffer memory 0x{base:x} is not page aligned"),
            ));
        }
        size.checked_mul(count)
            .and_then(|b| b.checked_add(base))
            .ok_or_else(|| {
                Error::errno(libc::EINVAL, "bufferSize * bufferCount overflows".into())
            })?;
        Ok(FixedTable { base, size, count })
    }

    /// One iovec per buffer, for IORING_REGISTER_BUFFERS.
    pub fn iovecs(&self) -> Vec<libc::iovec> {
        (0..self.count)
            .map(|i| libc::iovec {
                iov_base: (self.base + i * self.size) as *mut libc::c_void,
                iov_len: self.size,
            })
            .collect()
    }

    /// Whether `[addr, addr + len)` lies inside buffer `index` (the kernel's EFAULT rule).
    pub fn contains(&self, index: u32, addr: u64, len: u32) -> bool {
        let i = index as usize;
        if i >= self.count {
            return false;
        }
        let start = (self.base + i * self.size) as u64;
        let end = start + self.size as u64;
        addr >= start && addr.checked_add(len as u64).is_some_and(|e| e <= end)
    }
}
