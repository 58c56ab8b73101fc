/**
 * Layout of the records shared with the native side (mirrors
 * `native/src/uring/record.rs`), and the Linux constants the backend uses.
 *
 * @module
 */

/** Bytes per submission record. */
export const SUB_RECORD_BYTES = 64;
/** Bytes per completion record. */
export const COMP_RECORD_BYTES = 16;

/** u32 word offsets inside a submission record. */
export const SUB = {
  op: 0, // u8 in the low byte of word 0
  fd: 1,
  off: 2, // u64: words 2, 3
  addr: 4, // u64: words 4, 5
  len: 6,
  aux: 7,
  userData: 8, // u64: words 8, 9
  len64: 10, // u64: words 10, 11
  addr2: 12, // u64: words 12, 13
  file: 14, // registered-file slot + 1 (0: none)
  words: 16,
} as const;

/** u32 word offsets inside a completion record. */
export const COMP = { userData: 0, res: 2, flags: 3, words: 4 } as const;

/** Record flag bits (native `record::flag`), in the second byte of word 0. */
export const Flag = {
  /** Not a regular file or block device (FIFO, socket…): may block, has no position. */
  STREAM: 1,
} as const;

/** Operation codes (native `record::op`). */
export const Op = {
  NOP: 0,
  READ: 1,
  WRITE: 2,
  READ_FIXED: 3,
  WRITE_FIXED: 4,
  FSYNC: 5,
  FALLOCATE: 6,
  STATX: 7,
  OPENAT: 8,
  CLOSE: 9,
  CANCEL: 10,
} as const;

/** Linux open(2) flags (x86_64 / aarch64 share these). */
export const O = {
  RDONLY: 0,
  WRONLY: 1,
  RDWR: 2,
  CREAT: 0o100,
  EXCL: 0o200,
  TRUNC: 0o1000,
  APPEND: 0o2000,
  DIRECT: 0o40000,
  CLOEXEC: 0o2000000,
} as const;

/** `AT_FDCWD`: paths relative to the working directory. */
export const AT_FDCWD = -100;
/** `AT_EMPTY_PATH`: statx of the fd itself. */
export const AT_EMPTY_PATH = 0x1000;
/** statx mask: the basic fields. */
export const STATX_BASIC_STATS = 0x7ff;
/** statx mask: `stx_dio_mem_align` / `stx_dio_offset_align` (Linux 6.1+). */
export const STATX_DIOALIGN = 0x2000;
/** Size of `struct statx`. */
export const STATX_BYTES = 256;

/** Byte offsets inside `struct statx`. */
export const STX = {
  mask: 0,
  blksize: 4,
  nlink: 16,
  uid: 20,
  gid: 24,
  mode: 28,
  ino: 32,
  size: 40,
  blocks: 48,
  atime: 64,
  btime: 80,
  ctime: 96,
  mtime: 112,
  dioMemAlign: 152,
  dioOffsetAlign: 156,
} as const;

/** File type bits of `st_mode`. */
export const S_IFMT = 0o170000;
/** Regular file. */
export const S_IFREG = 0o100000;
/** Block device. */
export const S_IFBLK = 0o060000;
/** Directory. */
export const S_IFDIR = 0o040000;

/** `FALLOC_FL_KEEP_SIZE`. */
export const FALLOC_FL_KEEP_SIZE = 1;
/** `FALLOC_FL_PUNCH_HOLE` (needs KEEP_SIZE). */
export const FALLOC_FL_PUNCH_HOLE = 2;
/** `FALLOC_FL_ZERO_RANGE`. */
export const FALLOC_FL_ZERO_RANGE = 0x10;

/** errno values the backend interprets itself. */
export const ECANCELED = 125;
