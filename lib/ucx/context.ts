/**
 * {@link Context}: the UCX application context.
 *
 * @module
 */
import { ClosedError } from "../errors.ts";
import { checkPtr } from "../ffi/library.ts";
import { ucx } from "./native.ts";
import { Worker, type WorkerOptions } from "./worker.ts";

/**
 * A UCX context, configured from the `UCX_*` environment variables (e.g. `UCX_TLS`,
 * `UCX_NET_DEVICES`). Features: Active Messages, tag matching and wakeup (parking).
 */
export class Context implements Disposable {
  #ptr: Deno.PointerObject | null;

  /** Creates the context (throws `BackendUnavailableError` without the UCX backend). */
  constructor() {
    this.#ptr = checkPtr(ucx().pluvio_ucx_context_create(), "creating the UCX context");
  }

  /** Creates a worker (one per thread; it is driven by `UcxReactor.current()`). */
  createWorker(options: WorkerOptions = {}): Worker {
    if (this.#ptr === null) throw new ClosedError("the UCX context is closed");
    return new Worker(ucx(), this.#ptr, options);
  }

  /** Releases the context; its workers keep it alive natively until they close. */
  close(): void {
    if (this.#ptr === null) return;
    ucx().pluvio_ucx_context_destroy(this.#ptr);
    this.#ptr = null;
  }

  /** Same as {@link Context.close}. */
  [Symbol.dispose](): void {
    this.close();
  }
}
