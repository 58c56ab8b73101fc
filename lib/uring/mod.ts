/**
 * The io_uring backend of pluvio: {@link IoUringReactor} (batched submission, registered
 * buffers, an eventfd the runtime parks on) and {@link DmaFile} (O_DIRECT file I/O).
 *
 * ```ts
 * import { Runtime } from "@pluvio/pluvio";
 * import { DmaFile, IoUringReactor } from "@pluvio/pluvio/uring";
 *
 * const runtime = new Runtime();
 * const reactor = IoUringReactor.builder().queueSize(256).build();
 * runtime.registerReactor("io_uring", reactor);
 * await runtime.run(async () => {
 *   await using file = await DmaFile.open("/tmp/x", { write: true, create: true });
 *   using buf = await file.acquireBuffer();
 *   buf.bytes.fill(7);
 *   await file.writeFixed(buf, 0);
 * });
 * ```
 *
 * @module
 */
export { IoUringReactor } from "./reactor.ts";
export {
  type Backend,
  DEFAULT_OPTIONS,
  IoUringReactorBuilder,
  type IoUringReactorOptions,
} from "./builder.ts";
export { type AcquireOptions, BufferPool, FixedBuffer } from "./buffers.ts";
export {
  DmaFile,
  type FallocateOptions,
  type FixedIoOptions,
  type IoOptions,
  MAX_TRANSFER,
  type OpenOptions,
} from "./file.ts";
export { type Alignment, type FileStat } from "./stat.ts";
export { addressOf, allocAligned } from "./memory.ts";
export { FALLOC_FL_KEEP_SIZE, FALLOC_FL_PUNCH_HOLE, FALLOC_FL_ZERO_RANGE } from "./layout.ts";
export type { ParkFd, Reactor, ReactorHooks } from "../runtime/reactor.ts";
