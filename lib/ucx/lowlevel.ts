/**
 * The UCX layer's one low-level module, for layers built on it (the UCX collectives):
 * tag receives as {@link Request}s that are spun on synchronously and only awaited when
 * the spin was not enough, and a single progress pass. Applications use the `Worker`
 * API instead.
 *
 * ```ts ignore
 * const req = tagRecvRequest(worker, tag, MAX_TAG, buf, "allreduce");
 * if (!spinOn(worker, req, 50_000)) await settle(worker, req, signal);
 * ```
 *
 * @module
 */
import { coreOf } from "./core.ts";
import { checkLength, MAX_TAG, MAX_U32 } from "./options.ts";
import { Request } from "./request.ts";
import { direct, Staged, Staging, takeSlot } from "./staging.ts";
import type { OpResult } from "./request.ts";
import type { Worker } from "./worker.ts";

export { MAX_TAG, type OpResult, Request };
export { spinNs } from "./options.ts";

/**
 * Posts a receive of the message whose tag matches `tag` on the bits of `mask` into
 * `buf` (`tag` and `mask` already checked), described by `what` in errors. The request
 * is done at once when the message was already here; else it is in flight, and nothing
 * polls for it until {@link spinOn} or {@link settle}. Throws on bad input. A `buf`
 * JavaScript could detach is received through staging memory, like `Worker.tagRecv`:
 * copied into `buf` when the request resolves, or rejected when `buf` was detached.
 */
export function tagRecvRequest(
  worker: Worker,
  tag: bigint,
  mask: bigint,
  buf: Uint8Array,
  what: string,
): Request {
  if (buf.length > MAX_U32) checkLength(buf, what);
  const core = coreOf(worker);
  const p = core.ptr;
  // A detachable buffer is received through a staging slot (see `staging.ts`).
  const slot = direct(buf) ? null : takeSlot(buf.length);
  const into = slot ?? buf;
  const op = core.ops.reserve();
  const rc = core.sym.pluvio_ucx_tag_recv(p, tag, mask, into, into.length, op);
  const sub = core.submit(rc, op, what, into);
  const req = sub ?? new Request(op, what, into);
  if (slot !== null) req.staging = new Staging(Staged.RECV, buf, slot);
  if (sub === null) req.resolve(core.immResult()); // finished at once
  return req;
}

/**
 * Progresses `worker` for up to `ns` nanoseconds or until `req` is done, dispatching
 * every event meanwhile; with `yieldCpu`, gives the CPU away between progress calls
 * (more ranks than cores). Returns `req.done`.
 */
export function spinOn(worker: Worker, req: Request, ns: number, yieldCpu = false): boolean {
  return coreOf(worker).spinOn(req, ns, yieldCpu);
}

/**
 * The promise of `req` (settled at once when done); from now on the runtime polls for
 * it, and an abort of `signal` rejects it and cancels the receive.
 */
export function settle(worker: Worker, req: Request, signal?: AbortSignal): Promise<OpResult> {
  return coreOf(worker).settle(req, signal);
}

/** One progress pass over `worker`, dispatching what finished; returns the events. */
export function progress(worker: Worker): number {
  return coreOf(worker).poll();
}
