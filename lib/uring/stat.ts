/**
 * Decoding `struct statx` into {@link FileStat}, and the O_DIRECT alignment rules
 * derived from it.
 *
 * @module
 */
import { S_IFBLK, S_IFDIR, S_IFMT, S_IFREG, STATX_DIOALIGN, STX } from "./layout.ts";

/** What `DmaFile.stat()` reports (from `statx(2)`). */
export interface FileStat {
  /** Size in bytes. */
  size: number;
  /** Preferred I/O block size (`stx_blksize`). */
  blockSize: number;
  /** 512-byte blocks allocated (`stx_blocks`). */
  blocks: number;
  /** File type and permission bits. */
  mode: number;
  /** Whether it is a regular file. */
  isFile: boolean;
  /** Whether it is a directory. */
  isDirectory: boolean;
  /** Whether it is a block device. */
  isBlockDevice: boolean;
  /** Inode number. */
  ino: number;
  /** Hard links. */
  nlink: number;
  /** Owner user id. */
  uid: number;
  /** Owner group id. */
  gid: number;
  /** Last modification. */
  mtime: Date;
  /** Last status change. */
  ctime: Date;
  /** Last access. */
  atime: Date;
  /** O_DIRECT memory alignment (`stx_dio_mem_align`), 0 when not reported. */
  dioMemAlign: number;
  /** O_DIRECT offset/length alignment (`stx_dio_offset_align`), 0 when not reported. */
  dioOffsetAlign: number;
}

/** The alignment O_DIRECT requests on a file must respect, and where it came from. */
export interface Alignment {
  /** Offsets and lengths must be multiples of this (the logical block size). */
  offset: number;
  /** Buffer addresses must be multiples of this. */
  memory: number;
  /** `statx` (STATX_DIOALIGN), `BLKSSZGET` (block device) or `default` (4096, safe anywhere). */
  source: "statx" | "BLKSSZGET" | "default" | "none";
}

function time(v: DataView, at: number): Date {
  return new Date(Number(v.getBigInt64(at, true)) * 1000 + v.getUint32(at + 8, true) / 1e6);
}

/** Decodes a `struct statx` the kernel filled in. */
export function decodeStatx(buf: Uint8Array): FileStat {
  const v = new DataView(buf.buffer, buf.byteOffset, buf.byteLength);
  const mask = v.getUint32(STX.mask, true);
  const mode = v.getUint16(STX.mode, true);
  const dio = (mask & STATX_DIOALIGN) !== 0;
  return {
    size: Number(v.getBigUint64(STX.size, true)),
    blockSize: v.getUint32(STX.blksize, true),
    blocks: Number(v.getBigUint64(STX.blocks, true)),
    mode,
    isFile: (mode & S_IFMT) === S_IFREG,
    isDirectory: (mode & S_IFMT) === S_IFDIR,
    isBlockDevice: (mode & S_IFMT) === S_IFBLK,
    ino: Number(v.getBigUint64(STX.ino, true)),
    nlink: v.getUint32(STX.nlink, true),
    uid: v.getUint32(STX.uid, true),
    gid: v.getUint32(STX.gid, true),
    atime: time(v, STX.atime),
    mtime: time(v, STX.mtime),
    ctime: time(v, STX.ctime),
    dioMemAlign: dio ? v.getUint32(STX.dioMemAlign, true) : 0,
    dioOffsetAlign: dio ? v.getUint32(STX.dioOffsetAlign, true) : 0,
  };
}
