/**
 * fio-like io_uring example: writes then reads a file with O_DIRECT at a fixed queue
 * depth through registered (fixed) buffers, and prints MiB/s and IOPS for each phase.
 *
 * Usage:
 *   deno run -A examples/uring_example.ts [--size-mib 256] [--qd 32] [--bs-kib 1024]
 *                                         [--file /tmp/pluvio_uring_example.dat] [--keep]
 *
 * @module
 */
import { Runtime } from "@pluvio/pluvio";
import { DmaFile, IoUringReactor } from "@pluvio/pluvio/uring";

function arg(name: string, fallback: string): string {
  const i = Deno.args.indexOf(`--${name}`);
  return i >= 0 && i + 1 < Deno.args.length ? Deno.args[i + 1] : fallback;
}

const sizeMiB = Number(arg("size-mib", "256"));
const qd = Number(arg("qd", "32"));
const bs = Number(arg("bs-kib", "1024")) * 1024;
const path = arg("file", "/tmp/pluvio_uring_example.dat");
const keep = Deno.args.includes("--keep");
const total = sizeMiB * 1024 * 1024;
if (!(total > 0) || !(qd > 0) || !(bs >= 4096) || total % bs !== 0) {
  console.error("--size-mib, --qd and --bs-kib must be positive; size must be a multiple of bs");
  Deno.exit(2);
}
const blocks = total / bs;

const reactor = IoUringReactor.builder()
  .queueSize(Math.max(64, 2 ** Math.ceil(Math.log2(qd))))
  .bufferSize(bs)
  .bufferCount(qd)
  .build();
const runtime = new Runtime();
runtime.registerReactor("io_uring", reactor);

/** Runs `qd` workers, each keeping one fixed-buffer operation in flight. */
async function phase(
  name: string,
  file: DmaFile,
  op: (
    f: DmaFile,
    buf: Awaited<ReturnType<DmaFile["acquireBuffer"]>>,
    off: number,
  ) => Promise<number>,
): Promise<void> {
  let next = 0;
  const t0 = performance.now();
  await Promise.all(Array.from({ length: qd }, async () => {
    using buf = await file.acquireBuffer();
    while (next < blocks) {
      const i = next++;
      if (name === "write") buf.bytes.fill(i & 0xff);
      const n = await op(file, buf, i * bs);
      if (n !== bs) throw new Error(`${name} at ${i * bs}: ${n} of ${bs} bytes`);
      if (name === "read" && buf.bytes[bs - 1] !== (i & 0xff)) {
        throw new Error(`read at ${i * bs}: wrong data`);
      }
    }
  }));
  const s = (performance.now() - t0) / 1000;
  console.log(
    `${name.padEnd(5)} ${sizeMiB} MiB  bs ${bs / 1024} KiB  qd ${qd}:  ` +
      `${(sizeMiB / s).toFixed(0)} MiB/s  ${(blocks / s).toFixed(0)} IOPS  (${
        (s * 1000).toFixed(0)
      } ms)`,
  );
}

try {
  await runtime.run(async () => {
    await using file = await DmaFile.open(path, { write: true, create: true, truncate: true });
    await file.fallocate(0, total);
    await phase("write", file, (f, b, off) => f.writeFixed(b, off));
    await file.fsync();
    await phase("read", file, (f, b, off) => f.readFixed(b, off));
  });
} finally {
  await reactor.close();
  runtime.close();
  if (!keep) await Deno.remove(path).catch(() => {});
}
