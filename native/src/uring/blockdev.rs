//! Logical block size of block devices, for O_DIRECT alignment checks when `statx`
//! does not report `STATX_DIOALIGN` (kernels before 6.1, some filesystems).

use crate::error::Error;

/// `BLKSSZGET` from `<linux/fs.h>`: `_IO(0x12, 104)`.
const BLKSSZGET: libc::c_ulong = 0x1268;

/// The logical sector size of the block device open as `fd`.
pub fn logical_block_size(fd: i32) -> Result<i32, Error> {
    let mut size: libc::c_int = 0;
    // SAFETY: BLKSSZGET writes one int into a valid local; a non-block fd gets ENOTTY.
    let rc = unsafe { libc::ioctl(fd, BLKSSZGET as _, &mut size as *mut libc::c_int) };
    if rc < 0 {
        return Err(Error::last_os(format!("ioctl(BLKSSZGET) on fd {fd}")));
    }
    Ok(size)
}
