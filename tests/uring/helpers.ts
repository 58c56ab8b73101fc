/** Shared helpers of the io_uring tests: a runtime with a reactor, temp files. @module */
import { Runtime } from "../../mod.ts";
import { IoUringReactor, type IoUringReactorBuilder } from "../../lib/uring/mod.ts";

/** Runs `fn` on a fresh runtime with a fresh io_uring reactor; closes both afterwards. */
export async function withReactor<T>(
  fn: (reactor: IoUringReactor, runtime: Runtime) => Promise<T>,
  configure: (b: IoUringReactorBuilder<IoUringReactor>) => unknown = () => {},
): Promise<T> {
  const b = IoUringReactor.builder();
  configure(b);
  const reactor = b.build();
  const runtime = new Runtime();
  runtime.registerReactor("io_uring", reactor);
  try {
    return await runtime.run(() => fn(reactor, runtime));
  } finally {
    await reactor.close();
    runtime.close();
  }
}

/** A fresh temp file path on /tmp (ext4: O_DIRECT works); removed by `cleanup`. */
export async function tempPath(tag: string): Promise<{ path: string; cleanup(): Promise<void> }> {
  const dir = await Deno.makeTempDir({ dir: "/tmp", prefix: `pluvio_uring_${tag}_` });
  return {
    path: `${dir}/data`,
    cleanup: () => Deno.remove(dir, { recursive: true }),
  };
}

/** A deterministic byte pattern depending on the absolute file offset. */
export function pattern(buf: Uint8Array, fileOffset: number, seed = 1): void {
  for (let i = 0; i < buf.length; i++) {
    const x = fileOffset + i;
    buf[i] = (x * 31 + (x >>> 9) * 7 + seed) & 0xff;
  }
}
