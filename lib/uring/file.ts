/**
 * {@link DmaFile}: a file driven through io_uring, `O_DIRECT` by default (Pluvio's
 * `pluvio_uring::file::DmaFile`).
 *
 * @module
 */
import { ClosedError, InvalidArgumentError, PluvioError } from "../errors.ts";
import { errorFromCode } from "../ffi/errno.ts";
import { lastError } from "../ffi/library.ts";
import { takeBounce } from "./bounce.ts";
import { type AcquireOptions, FixedBuffer } from "./buffers.ts";
import {
  AT_EMPTY_PATH,
  AT_FDCWD,
  Flag,
  O,
  Op,
  STATX_BASIC_STATS,
  STATX_BYTES,
  STATX_DIOALIGN,
} from "./layout.ts";
import { addressOf, allocAligned, isStable, show } from "./memory.ts";
import { checkOptions } from "./options.ts";
import { Operation, type OpOwner } from "./operation.ts";
import { IoUringReactor, ringOf } from "./reactor.ts";
import type { Ring } from "./ring.ts";
import { type Alignment, decodeStatx, type FileStat } from "./stat.ts";

/** How to open a {@link DmaFile}. */
export interface OpenOptions {
  /** Open for reading (default `true`). */
  read?: boolean;
  /** Open for writing (default `false`). */
  write?: boolean;
  /** Create the file if missing (needs `write`). */
  create?: boolean;
  /** Fail if the file exists (implies `create`). */
  createNew?: boolean;
  /** Truncate to 0 bytes on open (needs `write`). */
  truncate?: boolean;
  /** `O_DIRECT`: bypass the page cache (default `true`). `false` opens buffered. */
  direct?: boolean;
  /** Permission bits for a created file (default `0o644`). */
  mode?: number;
  /** Abandons the open: it rejects with `CancelledError`. */
  signal?: AbortSignal;
}

/** Options every operation takes. */
export interface IoOptions {
  /** Cancels the operation (an io_uring async cancel); it rejects with `CancelledError`. */
  signal?: AbortSignal;
}

/** Options of `readFixed` / `writeFixed`. */
export interface FixedIoOptions extends IoOptions {
  /** Bytes to transfer from the start of the buffer (default: the whole buffer). */
  length?: number;
}

/** Options of `fallocate`. */
export interface FallocateOptions extends IoOptions {
  /** `fallocate(2)` mode bits (default 0: allocate and extend the size). */
  mode?: number;
}

/** The largest single transfer Linux performs (`MAX_RW_COUNT`). */
export const MAX_TRANSFER = 0x7ffff000;
const EMPTY_PATH = new Uint8Array(1);
const encoder = new TextEncoder();
const OPEN_KEYS = ["read", "write", "create", "createNew", "truncate", "direct", "mode", "signal"];
const BOOL_KEYS = ["read", "write", "create", "createNew", "truncate", "direct"] as const;
const IO_KEYS = ["signal"];
const FIXED_KEYS = ["length", "signal"];
const FALLOCATE_KEYS = ["mode", "signal"];

function pathString(path: string | URL): string {
  if (path instanceof URL) {
    if (path.protocol !== "file:") {
      throw new InvalidArgumentError(`DmaFile.open: ${path.href} is not a file: URL`);
    }
    return decodeURIComponent(path.pathname);
  }
  if (typeof path !== "string" || path.length === 0) {
    throw new InvalidArgumentError(`DmaFile.open: path must be a non-empty string or file: URL`);
  }
  return path;
}

function openFlags(o: OpenOptions, direct: boolean): number {
  const read = o.read ?? true;
  const write = o.write ?? false;
  if (!read && !write) {
    throw new InvalidArgumentError("DmaFile.open: at least one of read / write must be true");
  }
  if ((o.create || o.createNew || o.truncate) && !write) {
    throw new InvalidArgumentError("DmaFile.open: create / createNew / truncate need write: true");
  }
  let f = read && write ? O.RDWR : write ? O.WRONLY : O.RDONLY;
  f |= O.CLOEXEC;
  if (o.create || o.createNew) f |= O.CREAT;
  if (o.createNew) f |= O.EXCL;
  if (o.truncate) f |= O.TRUNC;
  if (direct) f |= O.DIRECT;
  return f;
}

function misaligned(what: string, name: string, value: number, align: number): never {
  const off = value % align;
  const lower = value - off;
  throw new InvalidArgumentError(
    `${what}: ${name} ${value} is not a multiple of the logical block size ${align} ` +
      `(misaligned by ${off} byte${off === 1 ? "" : "s"}; nearest aligned values ${lower} ` +
      `and ${lower + align})`,
  );
}

/**
 * A file read and written through io_uring. Opened with `O_DIRECT` by default, so
 * offsets, lengths and buffer addresses must be multiples of {@link DmaFile.alignment}
 * (checked before submission); `allocAligned` / {@link DmaFile.alloc} give suitable
 * buffers, and `readFixed` / `writeFixed` use the reactor's registered buffers.
 *
 * ```ts
 * await using file = await DmaFile.open("/tmp/data", { write: true, create: true });
 * const buf = file.alloc(4096);
 * await file.write(buf, 0);
 * const n = await file.read(buf, 0); // bytes read (fewer at end of file)
 * ```
 */
export class DmaFile implements AsyncDisposable {
  /** The path the file was opened with. */
  readonly path: string;
  /** Whether the file was opened with `O_DIRECT`. */
  readonly direct: boolean;
  /** The alignment `O_DIRECT` requests must respect (1 when buffered). */
  readonly alignment: Readonly<Alignment>;
  /** The reactor this file's operations go through. */
  readonly reactor: IoUringReactor;
  #fd: number;
  /** The fd's registered-file slot + 1 (0: none), put in every record of the file. */
  #file: number;
  #ring: Ring;
  #owner: OpOwner = { inflight: 0 };
  #closing: Promise<void> | undefined;
  #readable: boolean;
  #writable: boolean;
  /** Record flags of this file's I/O (`Flag.STREAM` for FIFOs, sockets…). */
  #flags: number;

  private constructor(
    path: string,
    fd: number,
    direct: boolean,
    alignment: Alignment,
    reactor: IoUringReactor,
    readable: boolean,
    writable: boolean,
    stream: boolean,
  ) {
    this.#flags = stream ? Flag.STREAM : 0;
    this.#readable = readable;
    this.#writable = writable;
    this.path = path;
    this.#fd = fd;
    this.direct = direct;
    this.alignment = Object.freeze(alignment);
    this.reactor = reactor;
    this.#ring = ringOf(reactor);
    this.#file = this.#ring.registerFile(fd) + 1;
  }

  /**
   * Opens `path` through io_uring (`openat`, then `statx` for the alignment rules).
   * `reactor` defaults to `IoUringReactor.current()`.
   */
  static async open(
    path: string | URL,
    options: OpenOptions = {},
    reactor: IoUringReactor = IoUringReactor.current(),
  ): Promise<DmaFile> {
    const p = pathString(path);
    if (p.includes("\0")) throw new InvalidArgumentError(`DmaFile.open: path contains NUL`);
    checkOptions(`DmaFile.open of ${p}`, options, OPEN_KEYS);
    for (const k of BOOL_KEYS) {
      const v = options[k];
      if (v !== undefined && typeof v !== "boolean") {
        throw new InvalidArgumentError(
          `DmaFile.open of ${p}: ${k} must be a boolean, got ${show(v)}`,
        );
      }
    }
    const direct = options.direct ?? true;
    const flags = openFlags(options, direct);
    const mode = options.mode ?? 0o644;
    if (!Number.isInteger(mode) || mode < 0 || mode > 0o7777) {
      throw new InvalidArgumentError(`DmaFile.open: mode ${show(mode)} is not a permission mask`);
    }
    if (!(reactor instanceof IoUringReactor)) {
      throw new InvalidArgumentError(
        `DmaFile.open of ${p}: the third argument must be an IoUringReactor, got ${show(reactor)}`,
      );
    }
    const ring = ringOf(reactor);
    const bytes = encoder.encode(p + "\0");
    const op = new Operation(Op.OPENAT);
    op.path = p;
    op.fd = AT_FDCWD;
    op.addr = addressOf(bytes);
    op.aux = flags;
    op.len64 = mode;
    op.keep = bytes;
    let fd: number;
    try {
      fd = await ring.submit(op, options.signal);
    } catch (e) {
      if (direct && e instanceof PluvioError && e.errno === 22) {
        if (await isDirectory(ring, p)) throw directoryError(p);
        throw new InvalidArgumentError(
          `${e.message}; the filesystem of ${p} may not support O_DIRECT: open it with ` +
            "{ direct: false }",
          { cause: e },
        );
      }
      throw e;
    }
    try {
      const [alignment, stream] = await alignmentOf(ring, fd, p, direct, options.signal);
      const read = options.read ?? true;
      const write = options.write ?? false;
      return new DmaFile(p, fd, direct, alignment, reactor, read, write, stream);
    } catch (e) {
      const c = new Operation(Op.CLOSE);
      c.fd = fd;
      await ring.submit(c).catch(() => {});
      throw e;
    }
  }

  /** The file descriptor (-1 once closing). */
  get fd(): number {
    return this.#closing ? -1 : this.#fd;
  }

  /** Whether `close()` was called. */
  get closed(): boolean {
    return this.#closing !== undefined;
  }

  /** A zeroed buffer of `size` bytes aligned for this file's O_DIRECT requests. */
  alloc(size: number): Uint8Array<ArrayBuffer> {
    return allocAligned(size, Math.max(this.alignment.memory, 4096));
  }

  /** A registered buffer from the reactor's pool (waits, FIFO, while all are in use). */
  acquireBuffer(options: AcquireOptions = {}): Promise<FixedBuffer> {
    return this.reactor.acquireBuffer(options);
  }

  /**
   * Reads into `buf` from file offset `offset`; resolves with the number of bytes read
   * (fewer than `buf.length` at the end of the file, 0 past it).
   */
  read(buf: Uint8Array, offset: number, options?: IoOptions): Promise<number> {
    return this.#rw(Op.READ, buf, offset, options);
  }

  /** Writes `buf` at file offset `offset`; resolves with the number of bytes written. */
  write(buf: Uint8Array, offset: number, options?: IoOptions): Promise<number> {
    return this.#rw(Op.WRITE, buf, offset, options);
  }

  /** Reads into a registered buffer (its first `length` bytes); resolves with bytes read. */
  readFixed(buf: FixedBuffer, offset: number, options?: FixedIoOptions): Promise<number> {
    return this.#fixed(Op.READ_FIXED, buf, offset, options);
  }

  /** Writes a registered buffer's first `length` bytes at `offset`; resolves with bytes written. */
  writeFixed(buf: FixedBuffer, offset: number, options?: FixedIoOptions): Promise<number> {
    return this.#fixed(Op.WRITE_FIXED, buf, offset, options);
  }

  /**
   * `fallocate(2)`: allocates `length` bytes at `offset` (extending the file unless
   * `mode` has `FALLOC_FL_KEEP_SIZE`).
   */
  async fallocate(offset: number, length: number, options: FallocateOptions = {}): Promise<void> {
    const op = this.#op(Op.FALLOCATE);
    op.off = offset;
    op.len64 = length;
    checkOptions(op.describe(), options, FALLOCATE_KEYS);
    this.#needWrite(op);
    // fallocate has no O_DIRECT alignment rule: only the range is checked.
    if (!Number.isSafeInteger(offset) || offset < 0) {
      throw new InvalidArgumentError(
        `${op.describe()}: offset ${show(offset)} is not a non-negative integer`,
      );
    }
    if (!Number.isSafeInteger(length) || length <= 0) {
      throw new InvalidArgumentError(
        `${op.describe()}: length ${show(length)} must be a positive integer`,
      );
    }
    const mode = options.mode ?? 0;
    if (!Number.isInteger(mode) || mode < 0 || mode > 0xff) {
      throw new InvalidArgumentError(
        `${op.describe()}: mode ${show(mode)} is not a fallocate mode`,
      );
    }
    op.off = offset;
    op.len64 = length;
    op.aux = mode;
    await this.#ring.submit(op, options.signal);
  }

  /** Flushes data and metadata to the device. */
  async fsync(options: IoOptions = {}): Promise<void> {
    const op = this.#op(Op.FSYNC);
    checkOptions(op.describe(), options, IO_KEYS);
    await this.#ring.submit(op, options.signal);
  }

  /** Flushes data (and the metadata needed to read it back) to the device. */
  async fdatasync(options: IoOptions = {}): Promise<void> {
    const op = this.#op(Op.FSYNC);
    op.aux = 1;
    checkOptions("fdatasync of " + this.path, options, IO_KEYS);
    await this.#ring.submit(op, options.signal);
  }

  /** `statx(2)` of the open file. */
  async stat(options: IoOptions = {}): Promise<FileStat> {
    const buf = new Uint8Array(STATX_BYTES);
    const op = this.#op(Op.STATX);
    checkOptions(op.describe(), options, IO_KEYS);
    fillStatx(op, buf);
    await this.#ring.submit(op, options.signal);
    return decodeStatx(buf);
  }

  /** The file's size in bytes. */
  async size(options: IoOptions = {}): Promise<number> {
    return (await this.stat(options)).size;
  }

  /**
   * Closes the file once its in-flight operations have completed. Operations started
   * after `close()` reject with `ClosedError`. Calling it again returns the same promise.
   */
  close(): Promise<void> {
    if (this.#closing) return this.#closing;
    this.#closing = (async () => {
      if (this.#owner.inflight > 0) {
        await new Promise<void>((r) => this.#owner.idle = r);
      }
      if (this.#file > 0) {
        const slot = this.#file - 1;
        this.#file = 0;
        this.#ring.unregisterFile(slot);
      }
      if (this.#ring.closed) {
        // The reactor is gone: release the fd directly rather than leak it.
        const rc = this.#ring.lib.pluvio_uring_close_fd(this.#fd);
        if (rc < 0) throw errorFromCode(rc, `close of ${this.path}`, lastError());
        return;
      }
      const op = new Operation(Op.CLOSE);
      op.fd = this.#fd;
      op.path = this.path;
      await this.#ring.submit(op);
    })();
    return this.#closing;
  }

  /** Same as {@link DmaFile.close}. */
  [Symbol.asyncDispose](): Promise<void> {
    return this.close();
  }

  #op(code: number, pooled = false): Operation {
    const op = pooled ? this.#ring.takeOp(code) : new Operation(code);
    op.path = this.path;
    if (this.#closing) {
      throw new ClosedError(`${op.describe()}: the file is closed`);
    }
    op.fd = this.#fd;
    op.file = this.#file;
    op.flags = this.#flags;
    op.owner = this.#owner;
    return op;
  }

  /** Checks offset and length; the message is built only on failure (hot path). */
  #checkRange(op: Operation, offset: number, length: number, max: number): void {
    if (!Number.isSafeInteger(offset) || offset < 0) {
      throw new InvalidArgumentError(
        `${op.describe()}: offset ${show(offset)} is not a non-negative integer`,
      );
    }
    if (!Number.isSafeInteger(length) || length < 0 || length > max) {
      throw new InvalidArgumentError(
        `${op.describe()}: length ${show(length)} is not an integer in 0..${max}`,
      );
    }
    if (!this.direct) return;
    const a = this.alignment.offset;
    if (offset % a !== 0) misaligned(op.describe(), "offset", offset, a);
    if (length % a !== 0) misaligned(op.describe(), "length", length, a);
  }

  #checkAddress(op: Operation, address: number): void {
    const a = this.alignment.memory;
    if (this.direct && address % a !== 0) {
      const off = address % a;
      throw new InvalidArgumentError(
        `${op.describe()}: buffer address 0x${address.toString(16)} is not aligned to ${a} bytes ` +
          `(misaligned by ${off} byte${off === 1 ? "" : "s"}); allocate it with ` +
          "allocAligned() or file.alloc(), or use a FixedBuffer",
      );
    }
  }

  /** Refuses a write-side operation on a file opened read-only. */
  #needWrite(op: Operation): void {
    if (!this.#writable) {
      throw new InvalidArgumentError(
        `${op.describe()}: the file was opened read-only; open it with { write: true }`,
      );
    }
  }

  /** Refuses a read on a file opened write-only. */
  #needRead(op: Operation): void {
    if (!this.#readable) {
      throw new InvalidArgumentError(
        `${op.describe()}: the file was opened write-only; open it with { read: true }`,
      );
    }
  }

  #rw(code: number, buf: Uint8Array, offset: number, options?: IoOptions): Promise<number> {
    try {
      const op = this.#op(code, true);
      if (options !== undefined) checkOptions(op.describe(), options, IO_KEYS);
      if (!(buf instanceof Uint8Array)) {
        throw new InvalidArgumentError(
          `${op.describe()}: the buffer must be a Uint8Array, got ${show(buf)}`,
        );
      }
      op.off = offset;
      op.len = buf.length;
      if (code === Op.WRITE) this.#needWrite(op);
      else this.#needRead(op);
      this.#checkRange(op, offset, buf.length, MAX_TRANSFER);
      op.keep = buf;
      if (isStable(buf)) {
        op.addr = addressOf(buf);
        this.#checkAddress(op, op.addr);
      } else {
        // An ordinary ArrayBuffer may be detached (its memory freed) while in flight:
        // the kernel uses a bounce buffer instead (see memory.ts).
        const b = takeBounce(buf.length);
        if (code === Op.WRITE) b.set(buf);
        op.bounce = b;
        op.addr = addressOf(b);
      }
      return this.#ring.submit(op, options?.signal);
    } catch (e) {
      return Promise.reject(e);
    }
  }

  #fixed(code: number, buf: FixedBuffer, offset: number, options?: FixedIoOptions) {
    try {
      const op = this.#op(code, true);
      if (options !== undefined) checkOptions(op.describe(), options, FIXED_KEYS);
      if (!(buf instanceof FixedBuffer)) {
        throw new InvalidArgumentError(
          `${op.describe()}: needs a FixedBuffer from acquireBuffer(), got ${show(buf)}; ` +
            "use read() / write() for other buffers",
        );
      }
      const length = options?.length ?? buf.size;
      op.off = offset;
      op.len = length;
      if (code === Op.WRITE_FIXED) this.#needWrite(op);
      else this.#needRead(op);
      if (buf.pool !== this.reactor.bufferPool) {
        throw new InvalidArgumentError(
          `${op.describe()}: the FixedBuffer belongs to another reactor`,
        );
      }
      if (buf.released) {
        throw new ClosedError(`${op.describe()}: FixedBuffer #${buf.index} was released`);
      }
      this.#checkRange(op, offset, length, buf.size);
      op.addr = buf.address;
      op.aux = buf.index;
      op.fixed = buf;
      return this.#ring.submit(op, options?.signal);
    } catch (e) {
      return Promise.reject(e);
    }
  }
}

function fillStatx(op: Operation, buf: Uint8Array): void {
  op.addr = addressOf(EMPTY_PATH);
  op.aux = STATX_BASIC_STATS | STATX_DIOALIGN;
  op.len64 = AT_EMPTY_PATH;
  op.addr2 = addressOf(buf);
  op.keep = buf;
  op.keep2 = EMPTY_PATH;
}

function directoryError(path: string): InvalidArgumentError {
  return new InvalidArgumentError(
    `DmaFile.open: ${path} is a directory; DmaFile opens regular files and block devices`,
  );
}

/** Whether `path` names a directory (statx through the ring; false if it cannot tell). */
async function isDirectory(ring: Ring, path: string): Promise<boolean> {
  const buf = new Uint8Array(STATX_BYTES);
  const bytes = encoder.encode(path + "\0");
  const op = new Operation(Op.STATX);
  op.fd = AT_FDCWD;
  op.path = path;
  op.addr = addressOf(bytes);
  op.aux = STATX_BASIC_STATS;
  op.addr2 = addressOf(buf);
  op.keep = buf;
  op.keep2 = bytes;
  try {
    await ring.submit(op);
  } catch {
    return false;
  }
  return decodeStatx(buf).isDirectory;
}

/**
 * The O_DIRECT alignment of the open `fd` (statx's DIOALIGN, BLKSSZGET, else 4096; 1
 * when buffered) and whether it is a stream (not a regular file or block device);
 * refuses a directory.
 */
async function alignmentOf(
  ring: Ring,
  fd: number,
  path: string,
  direct: boolean,
  signal?: AbortSignal,
): Promise<[Alignment, boolean]> {
  const buf = new Uint8Array(STATX_BYTES);
  const op = new Operation(Op.STATX);
  op.fd = fd;
  op.path = path;
  fillStatx(op, buf);
  await ring.submit(op, signal);
  const st = decodeStatx(buf);
  if (st.isDirectory) throw directoryError(path);
  const stream = !st.isFile && !st.isBlockDevice;
  if (!direct) return [{ offset: 1, memory: 1, source: "none" }, stream];
  if (st.dioOffsetAlign > 0) {
    const memory = Math.max(st.dioMemAlign, 1);
    return [{ offset: st.dioOffsetAlign, memory, source: "statx" }, stream];
  }
  if (st.isBlockDevice) {
    const n = ring.lib.pluvio_uring_block_size(fd);
    if (n > 0) return [{ offset: n, memory: n, source: "BLKSSZGET" }, stream];
  }
  return [{ offset: 4096, memory: 4096, source: "default" }, stream];
}
