//! The submission and completion records shared with TypeScript.
//!
//! TypeScript writes [`SubRecord`]s into the submission area and hands a batch over with
//! one call; native code writes [`CompRecord`]s into the completion area for TypeScript to
//! read. Both are `#[repr(C)]` with fixed offsets mirrored in `lib/uring/layout.ts`.

use crate::error::Error;
use io_uring::{opcode, squeue, types};

/// Operation codes of a [`SubRecord`] (mirrored in `lib/uring/layout.ts`).
pub mod op {
    pub const NOP: u8 = 0;
    pub const READ: u8 = 1;
    pub const WRITE: u8 = 2;
    pub const READ_FIXED: u8 = 3;
    pub const WRITE_FIXED: u8 = 4;
    pub const FSYNC: u8 = 5;
    pub const FALLOCATE: u8 = 6;
    pub const STATX: u8 = 7;
    pub const OPENAT: u8 = 8;
    pub const CLOSE: u8 = 9;
    pub const CANCEL: u8 = 10;
}

/// Bits of [`SubRecord::flags`].
pub mod flag {
    /// The fd is not a regular file or block device (a FIFO, socket, tty): it may block
    /// indefinitely and has no file position to read at. The thread engine then waits
    /// for readiness (cancellably) and reads or writes without an offset.
    pub const STREAM: u8 = 1;
}

/// One submission, 64 bytes. Field use per op:
///
/// | op | fd | off | addr | len | aux | len64 | addr2 |
/// |---|---|---|---|---|---|---|---|
/// | READ/WRITE | fd | file offset | buffer | bytes | - | - | - |
/// | *_FIXED | fd | file offset | buffer | bytes | buffer index | - | - |
/// | FSYNC | fd | - | - | - | 1 = datasync | - | - |
/// | FALLOCATE | fd | offset | - | - | mode | length | - |
/// | STATX | dirfd | - | path | - | mask | flags | statx buffer |
/// | OPENAT | dirfd | - | path | - | flags | mode | - |
/// | CLOSE | fd | - | - | - | - | - | - |
/// | CANCEL | - | - | - | - | - | target user data | - |
///
/// `file` (READ/WRITE, *_FIXED, FSYNC, FALLOCATE): the fd's registered-file slot plus one.
#[repr(C)]
#[derive(Clone, Copy, Default)]
pub struct SubRecord {
    pub op: u8,
    /// [`flag`] bits (the io_uring engine needs none of them).
    pub flags: u8,
    _pad: [u8; 2],
    pub fd: i32,
    pub off: u64,
    pub addr: u64,
    pub len: u32,
    pub aux: u32,
    pub user_data: u64,
    pub len64: u64,
    pub addr2: u64,
    /// The registered-file slot of `fd` plus one (0: none): the io_uring engine then
    /// names the file by its slot (no per-request file reference counting); the thread
    /// engine uses `fd`.
    pub file: u32,
    _reserved: u32,
}

/// One completion, 16 bytes: the submission's user data and the kernel's result.
#[repr(C)]
#[derive(Clone, Copy, Default)]
pub struct CompRecord {
    pub user_data: u64,
    pub res: i32,
    pub flags: u32,
}

const _: () = assert!(std::mem::size_of::<SubRecord>() == 64);
const _: () = assert!(std::mem::size_of::<CompRecord>() == 16);

impl SubRecord {
    /// Builds the SQE this record describes.
    ///
    /// Addresses come from TypeScript, which keeps the memory alive until the CQE; a bad
    /// address makes the kernel fail that operation with EFAULT, it cannot corrupt us.
    pub fn to_entry(self) -> Result<squeue::Entry, Error> {
        // The data operations name the file by its registered slot when it has one (no
        // per-request file reference counting), else by fd; the opcode builders take
        // either (a sealed trait of the crate, so a macro rather than a generic).
        macro_rules! data_op {
            ($f:expr) => {
                match self.op {
                    op::READ => Some(
                        opcode::Read::new($f, self.addr as *mut u8, self.len)
                            .offset(self.off)
                            .build(),
                    ),
                    op::WRITE => Some(
                        opcode::Write::new($f, self.addr as *const u8, self.len)
                            .offset(self.off)
                            .build(),
                    ),
                    op::READ_FIXED => Some(
                        opcode::ReadFixed::new(
                            $f,
                            self.addr as *mut u8,
                            self.len,
                            buf_index(self.aux)?,
                        )
                        .offset(self.off)
                        .build(),
                    ),
                    op::WRITE_FIXED => Some(
                        opcode::WriteFixed::new(
                            $f,
                            self.addr as *const u8,
                            self.len,
                            buf_index(self.aux)?,
                        )
                        .offset(self.off)
                        .build(),
                    ),
                    op::FSYNC => {
                        let flags = if self.aux == 1 {
                            types::FsyncFlags::DATASYNC
                        } else {
                            types::FsyncFlags::empty()
                        };
                        Some(opcode::Fsync::new($f).flags(flags).build())
                    }
                    op::FALLOCATE => Some(
                        opcode::Fallocate::new($f, self.len64)
                            .offset(self.off)
                            .mode(self.aux as i32)
                            .build(),
                    ),
                    _ => None,
                }
            };
        }
        let data = if self.file > 0 {
            data_op!(types::Fixed(self.file - 1))
        } else {
            data_op!(types::Fd(self.fd))
        };
        if let Some(e) = data {
            return Ok(e.user_data(self.user_data));
        }
        let fd = types::Fd(self.fd);
        let e = match self.op {
            op::NOP => opcode::Nop::new().build(),
            op::STATX => opcode::Statx::new(
                fd,
                self.addr as *const libc::c_char,
                self.addr2 as *mut types::statx,
            )
            .mask(self.aux)
            .flags(self.len64 as i32)
            .build(),
            op::OPENAT => opcode::OpenAt::new(fd, self.addr as *const libc::c_char)
                .flags(self.aux as i32)
                .mode(self.len64 as libc::mode_t)
                .build(),
            op::CLOSE => opcode::Close::new(fd).build(),
            op::CANCEL => opcode::AsyncCancel::new(self.len64).build(),
            other => {
                return Err(Error::errno(
                    libc::EINVAL,
                    format!("unknown io_uring record op {other}"),
                ))
            }
        };
        Ok(e.user_data(self.user_data))
    }
}

fn buf_index(aux: u32) -> Result<u16, Error> {
    u16::try_from(aux).map_err(|_| {
        Error::errno(
            libc::EINVAL,
            format!("fixed buffer index {aux} is out of range"),
        )
    })
}
