/**
 * {@link UcxReactor}: drives every UCX worker of this thread from the runtime.
 *
 * @module
 */
import { setImmediate } from "node:timers";
import type { ParkFd, Reactor, ReactorHooks } from "../runtime/reactor.ts";
import { maybeCurrentRuntime } from "../runtime/current.ts";
import { SpinBudget } from "../runtime/idle_policy.ts";
import type { Runtime } from "../runtime/runtime.ts";
import { checkUcx, ucx } from "./native.ts";
import { InvalidArgumentError } from "../errors.ts";
import { coreLib } from "../ffi/library.ts";

/** What the reactor needs from a worker. */
export interface PolledWorker {
  /** Progresses and dispatches; returns events dispatched. */
  poll(): number;
  /** Arms the worker's event fd: false when it has work now. */
  arm(): boolean;
  /** Whether the last poll made progress that finished nothing yet. */
  readonly moved: boolean;
}

let current: UcxReactor | undefined;

/** How many polls of a busy executor pass between looks at the watched pidfds. */
const PID_POLLS = 4096;

/**
 * The UCX reactor: polls the workers of this thread, counts operations in flight (sends,
 * receives, flushes, closes, and waits on message streams and listeners) and parks the
 * executor on one epoll fd over the workers' event fds instead of spinning.
 *
 * Workers register themselves; the reactor registers itself (as `"ucx"`) with the
 * runtime running when work is first submitted. Outside a runtime it drives itself with
 * `setImmediate` (busy, for scripts without a `Runtime`).
 *
 * Fast by default: while an operation is pending (a receive, a send waiting for its
 * peer, a flush) and an endpoint is live, the reactor asks the executor to busy-poll it
 * for {@link UcxReactor.spin}'s adaptive budget before parking, so the plain
 * `await stream.recv()` answers within a microsecond or two when the peer replies
 * quickly; a peer that stops answering costs the budget within a few waits (see
 * `SpinBudget`; `PLUVIO_IDLE_SPIN_US` caps it, 0 turns spinning off).
 */
export class UcxReactor implements Reactor {
  /** One epoll fd over every worker's event fd; the runtime's notifier waits on it. */
  readonly parkFd: ParkFd;
  #workers = new Set<PolledWorker>();
  #inflight = 0;
  /** Waits for an endpoint's end ({@link UcxReactor.watchEnd}). */
  #watchers = 0;
  #wake: () => void = () => {};
  #runtime: Runtime | null = null;
  #selfDriving = false;
  #quietParks = 0;
  /** Operations in flight not worth a spin (waits for connection requests). */
  #unspun = 0;
  /** Endpoints open and healthy, over every worker. */
  #liveEps = 0;
  /** The adaptive busy-poll budget the executor spends on this reactor when idle. */
  readonly spin: SpinBudget = new SpinBudget();
  /** An epoll fd over the watched pidfds (in the park set), or -1 before the first. */
  #pidSet = -1;
  /** Watched pidfds and what to call when their process exits. */
  #pids = new Map<number, () => void>();
  /** Polls since the pidfds were last looked at. */
  #pidPolls = 0;

  /** The reactor of this thread (created on first use). */
  static current(): UcxReactor {
    return current ??= new UcxReactor();
  }

  private constructor() {
    this.parkFd = {
      fd: checkUcx(ucx().pluvio_ucx_parkset_create(), "epoll_create1"),
      drain: false,
    };
  }

  /** @internal Adds a worker and its event fd. */
  addWorker(w: PolledWorker, efd: number): void {
    checkUcx(ucx().pluvio_ucx_parkset_add(this.parkFd.fd, efd), "adding a worker fd");
    this.#workers.add(w);
  }

  /** @internal Removes a worker. */
  removeWorker(w: PolledWorker, efd: number): void {
    if (this.#workers.delete(w)) ucx().pluvio_ucx_parkset_remove(this.parkFd.fd, efd);
  }

  /**
   * @internal One more operation in flight: makes sure something polls. `spin: false`
   * for a wait that may last long whatever the peer does (a listener's next request).
   */
  begin(spin = true): void {
    this.#inflight++;
    if (!spin) this.#unspun++;
    const rt = maybeCurrentRuntime();
    if (rt !== this.#runtime) this.#register(rt);
    if (this.#runtime === null) this.#selfDrive();
    else this.#wake();
  }

  /** @internal One operation fewer in flight (`spin` as given to `begin`). */
  end(spin = true): void {
    this.#inflight--;
    if (!spin) this.#unspun--;
  }

  /**
   * @internal Someone waits for an endpoint's end (`Endpoint.closed`): until
   * {@link UcxReactor.unwatchEnd}, the worker is polled (parking on its fds, no spin) so
   * that a `BYE` or the peer's exit is noticed with no operation in flight. Outside a
   * runtime the polling does not keep the process alive.
   */
  watchEnd(): void {
    this.#watchers++;
    const rt = maybeCurrentRuntime();
    if (rt !== this.#runtime) this.#register(rt);
    if (this.#runtime === null) this.#selfDrive();
    else this.#wake();
  }

  /** @internal That wait ended (the endpoint closed or failed). */
  unwatchEnd(): void {
    this.#watchers--;
  }

  /** @internal An endpoint opened (`up`) or closed or failed. */
  endpoint(up: boolean): void {
    this.#liveEps += up ? 1 : -1;
  }

  /**
   * Whether an operation is pending with a live endpoint to answer it: the executor then
   * spins on this reactor for {@link UcxReactor.spin}'s budget before parking.
   */
  wantsSpin(): boolean {
    return this.#inflight > this.#unspun && this.#liveEps > 0;
  }

  #register(rt: Runtime | null): void {
    if (this.#runtime !== null && this.#runtime.reactor("ucx") === this) {
      try {
        this.#runtime.unregisterReactor("ucx");
      } catch { /* the old runtime still counts our work; it will be re-attached */ }
    }
    this.#runtime = null;
    if (rt === null) return;
    const existing = rt.reactor("ucx");
    if (existing !== undefined && existing !== this) return; // someone else's "ucx"
    if (existing === undefined) {
      try {
        rt.registerReactor("ucx", this);
      } catch (e) {
        // Already registered by the application under another name: it is attached.
        if (!(e instanceof InvalidArgumentError)) throw e;
      }
    }
    this.#runtime = rt;
  }

  #selfDrive(): void {
    if (this.#selfDriving) return;
    this.#selfDriving = true;
    let idle = 0;
    const loop = () => {
      if (this.#runtime !== null || this.#inflight + this.#watchers === 0) {
        this.#selfDriving = false;
        return;
      }
      idle = this.poll() > 0 || this.active ? 0 : idle + 1;
      if (this.#inflight === 0) {
        // Only waits for an endpoint's end: an unref'ed timer, which keeps nobody alive.
        Deno.unrefTimer(setTimeout(loop, 10));
      } else if (idle < 2000) setImmediate(loop);
      else setTimeout(loop, 1);
    };
    setImmediate(loop);
  }

  /**
   * Whether the last poll found a transfer moving with nothing finished yet (see
   * {@link Reactor.active}): the executor keeps polling instead of parking, because the
   * next step of a rendezvous over TCP or a pull needs this side's progress.
   */
  active = false;

  /**
   * @internal Calls `onExit` once the process of pidfd `fd` exits (the caller keeps the
   * fd open until the returned function stops the watch). The pidfds sit in one epoll fd
   * inside the park set, so an exit wakes a parked executor; a busy one looks at them
   * every {@link PID_POLLS} polls.
   */
  watchPid(fd: number, onExit: () => void): () => void {
    const sym = ucx();
    if (this.#pidSet < 0) {
      const set = checkUcx(sym.pluvio_ucx_parkset_create(), "epoll_create1");
      try {
        checkUcx(sym.pluvio_ucx_parkset_add(this.parkFd.fd, set), "watching pidfds");
      } catch (e) {
        sym.pluvio_ucx_parkset_destroy(set);
        throw e;
      }
      this.#pidSet = set;
    }
    checkUcx(sym.pluvio_ucx_parkset_add(this.#pidSet, fd), "watching a pidfd");
    this.#pids.set(fd, onExit);
    return () => {
      if (this.#pids.delete(fd)) sym.pluvio_ucx_parkset_remove(this.#pidSet, fd);
    };
  }

  /** Calls the watchers of processes that exited; returns how many. */
  #checkPids(): number {
    this.#pidPolls = 0;
    if (this.#pids.size === 0 || coreLib().pluvio_pidfd_exited(this.#pidSet) !== 1) return 0;
    let n = 0;
    for (const [fd, onExit] of [...this.#pids]) {
      if (coreLib().pluvio_pidfd_exited(fd) !== 0) {
        this.#pids.delete(fd);
        ucx().pluvio_ucx_parkset_remove(this.#pidSet, fd);
        onExit();
        n++;
      }
    }
    return n;
  }

  /** Polls every worker; returns the events dispatched. */
  poll(): number {
    let n = 0;
    if (this.#pids.size > 0 && ++this.#pidPolls >= PID_POLLS) n += this.#checkPids();
    let moved = false;
    for (const w of this.#workers) {
      n += w.poll();
      if (w.moved) moved = true;
    }
    this.active = moved;
    if (n > 0 || moved) this.#quietParks = 0;
    return n;
  }

  /** Operations in flight and waits for an endpoint's end (a counter). */
  status(): number {
    return this.#inflight + this.#watchers;
  }

  /** Receives the runtime's hooks. */
  attach(hooks: ReactorHooks): void {
    this.#wake = hooks.wake;
  }

  /** Forgets the runtime (it closed or dropped the reactor). */
  detach(): void {
    this.#wake = () => {};
    this.#runtime = null;
  }

  /**
   * 0 when a worker has work now; else how long the executor may sleep on the park fd.
   * The fd covers every event UCX signals, but a few internal hand-offs in UCX 1.12 are
   * not signalled (they wait for the next progress call), so parks are bounded: 1 ms,
   * doubling per quiet park up to 128 ms (about 10 wake-ups a second when idle).
   */
  beforePark(): number {
    if (this.#pids.size > 0 && this.#checkPids() > 0) return 0;
    for (const w of this.#workers) if (!w.arm()) return 0;
    const ms = 2 ** Math.min(this.#quietParks++, 7);
    return ms * 1e6;
  }
}
