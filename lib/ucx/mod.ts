/**
 * UCX messaging for pluvio: workers, endpoints, listeners, Active Messages and tag
 * messaging, driven by the runtime through {@link UcxReactor}.
 *
 * ```ts
 * import { Context } from "./mod.ts";
 *
 * using ctx = new Context();
 * using worker = ctx.createWorker();
 * using listener = worker.createListener("127.0.0.1:0");
 * const stream = worker.amStream(1);
 * // peer: const ep = await peerWorker.connectSocket(listener.address);
 * //       await ep.amSend(1, new Uint8Array([1]), payload);
 * const msg = await stream.recv();
 * const data = await msg.recvData();
 * ```
 *
 * Nothing is lost: Active Messages for an id without a stream or receiver yet are held
 * by the worker and delivered, in order, to the one opened later (bounded by
 * `createWorker({ holdLimit })`; past it the receive at the gap rejects with
 * {@link MessagesLostError}). The plain `await` path is fast by default: while an
 * operation is pending on a live endpoint the runtime busy-polls the worker for an
 * adaptive budget (`PLUVIO_IDLE_SPIN_US` caps it). Socket connections default to
 * `errorHandling: "auto"`: shared memory between processes of one host, each watching
 * the other's pid, UCX peer-failure handling across hosts.
 *
 * Environment: the usual `UCX_*` variables configure the context (`UCX_TLS=tcp`,
 * `UCX_KEEPALIVE_INTERVAL`, ...).
 *
 * @module
 */
export { Context } from "./context.ts";
export { type UcxVersion, ucxVersion } from "./native.ts";
export {
  type ConnectOptions,
  type ErrorHandling,
  type TagRecvOptions,
  type TagRecvResult,
  Worker,
  type WorkerOptions,
  type WorkerStats,
} from "./worker.ts";
export {
  type AmSendManyOptions,
  type AmSendOptions,
  type CloseOptions,
  DONE,
  Endpoint,
  type PeerWatch,
} from "./endpoint.ts";
export type { SignalOptions, SpinOptions } from "./options.ts";
export { ConnectionRequest, Listener } from "./listener.ts";
export { AmMessage, AmStream, MessagesLostError } from "./am.ts";
export { AmReceiver, type RecvIntoOptions } from "./receiver.ts";
export { type PolledWorker, UcxReactor } from "./reactor.ts";
export type { ParkFd, Reactor, ReactorHooks } from "../runtime/reactor.ts";
export { SpinBudget, type SpinBudgetOptions } from "../runtime/idle_policy.ts";
export {
  CancelledError,
  ClosedError,
  InvalidArgumentError,
  PeerError,
  PluvioError,
} from "../errors.ts";
