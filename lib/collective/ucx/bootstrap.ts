/**
 * Bootstrap of a UCX communicator: rank 0 gathers every rank's UCX worker address over
 * TCP and hands the full table back (Pluvio's protocol, with a magic, the group size and
 * an error reply so that mistakes are reported to every rank instead of hanging them).
 *
 * Every rank carries a job id ({@link BootstrapConfig.job}): the root refuses a rank of
 * another job with an error naming both jobs, so two jobs that meet on one port never
 * form a mixed group. Without a job id (ranks started by hand), a rank 0 that cannot bind
 * its port tells the root that holds it (which then fails its whole group: two jobs share
 * the port), and the root of such a job keeps listening a short settle time
 * ({@link BootstrapOptions.settleMs}) after its table is complete so that a late
 * duplicate rank or a second rank 0 fails every member before any collective runs.
 *
 * Wire format (little-endian u32s):
 * - hello, peer → root: `magic, rank, size, jobLen, job[jobLen], len, address[len]`
 *   (`len` 0 with rank 0: a rank 0 that could not bind the port)
 * - reply, root → peer: `0, count, count × (len, bytes[len])` or `1, len, utf8 message[len]`
 *
 * @module
 */
import { InvalidArgumentError, PeerError, TimeoutError } from "../../errors.ts";

/** Where a rank finds the bootstrap root, and who it is. */
export interface BootstrapConfig {
  /** This rank, `0 <= rank < size`. */
  rank: number;
  /** Number of ranks. */
  size: number;
  /** Host of rank 0's bootstrap listener (default `127.0.0.1`). */
  rootHost: string;
  /** Port of rank 0's bootstrap listener (default: derived from the job id, else 13337). */
  rootPort: number;
  /**
   * The job this rank belongs to (empty or absent: unknown). Ranks of different jobs
   * never form one group: the root refuses a rank whose job differs from its own.
   */
  job?: string;
}

/** Options of {@link bootstrap}. */
export interface BootstrapOptions {
  /** Give up after this many milliseconds (default 30 000). */
  timeoutMs?: number;
  /** Aborts the bootstrap. */
  signal?: AbortSignal;
  /**
   * For a job without a job id: how long the root keeps listening after its table is
   * complete, to catch a late duplicate rank or a second rank 0 of another job on the
   * same port (default: `PLUVIO_COLL_SETTLE_MS`, else 500; ignored when the job is known).
   */
  settleMs?: number;
}

const MAGIC = 0x43564c50; // "PLVC" (job ids; "PLVB" was the version without)
const OLD_MAGIC = 0x42564c50;
const MAX_JOB = 256;
const MAX_ADDRESS = 1 << 20;
const enc = new TextEncoder();
const dec = new TextDecoder();

function envVar(name: string): string | undefined {
  try {
    return Deno.env.get(name);
  } catch {
    return undefined;
  }
}

function firstInt(
  names: readonly string[],
  what: string,
): [number | undefined, string | undefined] {
  for (const n of names) {
    const v = envVar(n);
    if (v === undefined || v === "") continue;
    const x = Number(v);
    if (!Number.isInteger(x) || x < 0) {
      throw new InvalidArgumentError(`${n}=${JSON.stringify(v)} is not a valid ${what}`);
    }
    return [x, n];
  }
  return [undefined, undefined];
}

/** Where each field of {@link bootstrapConfigFromEnv} comes from, first match wins. */
export const ENV_SOURCES = {
  rank: [
    "PLUVIO_COLL_RANK",
    "OMPI_COMM_WORLD_RANK",
    "PMIX_RANK",
    "PMI_RANK",
    "SLURM_PROCID",
    "RANK",
  ],
  size: ["PLUVIO_COLL_SIZE", "OMPI_COMM_WORLD_SIZE", "PMI_SIZE", "SLURM_NTASKS", "WORLD_SIZE"],
  rootHost: ["PLUVIO_COLL_ROOT_HOST", "MASTER_ADDR"],
  rootPort: ["PLUVIO_COLL_ROOT_PORT", "MASTER_PORT"],
} as const;

/**
 * The job id a rank finds in its environment: `PLUVIO_COLL_JOB` (set by the launcher),
 * else the identity of the job the rank/size came from — under Open MPI `PMIX_NAMESPACE`
 * or `OMPI_MCA_ess_base_jobid`, under Slurm's `srun` `SLURM_JOB_ID.SLURM_STEP_ID`, under
 * torchrun `TORCHELASTIC_RUN_ID` — else `""` (unknown).
 */
export function jobFromEnv(rankSource?: string): string {
  const own = envVar("PLUVIO_COLL_JOB");
  if (own) return own;
  const pick = (...names: string[]) => {
    for (const n of names) {
      const v = envVar(n);
      if (v) return `${n}=${v}`;
    }
    return "";
  };
  switch (rankSource) {
    case "OMPI_COMM_WORLD_RANK":
    case "PMIX_RANK":
    case "PMI_RANK":
      return pick("PMIX_NAMESPACE", "OMPI_MCA_ess_base_jobid", "PMI_JOBID");
    case "SLURM_PROCID": {
      const j = envVar("SLURM_JOB_ID") ?? envVar("SLURM_JOBID");
      return j ? `slurm=${j}.${envVar("SLURM_STEP_ID") ?? envVar("SLURM_STEPID") ?? ""}` : "";
    }
    case "RANK":
      return pick("TORCHELASTIC_RUN_ID");
    default:
      return "";
  }
}

/**
 * The default root port of a job: 13337 when the job is unknown, else a port in
 * 14000..29999 derived from the job id (FNV-1a), so that jobs started at once on one
 * host pick different ports (and, should two meet, the job ids keep them apart).
 * Below Linux's ephemeral range, so outgoing connections do not take it.
 */
export function defaultRootPort(job: string): number {
  if (!job) return 13337;
  let h = 0x811c9dc5;
  for (const b of enc.encode(job)) h = Math.imul(h ^ b, 0x01000193) >>> 0;
  return 14000 + (h % 16000);
}

/**
 * Reads the bootstrap configuration from the environment, first match wins:
 *
 * - rank: `PLUVIO_COLL_RANK`, `OMPI_COMM_WORLD_RANK` (Open MPI), `PMIX_RANK` (PMIx),
 *   `PMI_RANK` (MPICH/PMI), `SLURM_PROCID` (srun), `RANK` (torchrun);
 * - size: `PLUVIO_COLL_SIZE`, `OMPI_COMM_WORLD_SIZE`, `PMI_SIZE`, `SLURM_NTASKS`,
 *   `WORLD_SIZE`;
 * - root host: `PLUVIO_COLL_ROOT_HOST`, `MASTER_ADDR`, else `127.0.0.1`;
 * - job: see {@link jobFromEnv};
 * - root port: `PLUVIO_COLL_ROOT_PORT`, `MASTER_PORT`, else {@link defaultRootPort} of
 *   the job.
 */
export function bootstrapConfigFromEnv(): BootstrapConfig {
  const [rank, rankSource] = firstInt(ENV_SOURCES.rank, "rank");
  const [size] = firstInt(ENV_SOURCES.size, "size");
  if (rank === undefined || size === undefined) {
    throw new InvalidArgumentError(
      "no rank/size in the environment: launch with `deno task launch -n N script.ts`, " +
        "under mpirun or srun, or set PLUVIO_COLL_RANK and PLUVIO_COLL_SIZE",
    );
  }
  const job = jobFromEnv(rankSource);
  if (enc.encode(job).length > MAX_JOB) {
    throw new InvalidArgumentError(`job id longer than ${MAX_JOB} bytes: ${job.slice(0, 40)}…`);
  }
  const port = firstInt(ENV_SOURCES.rootPort, "port")[0] ?? defaultRootPort(job);
  if (port < 1 || port > 65535) throw new InvalidArgumentError(`bad root port ${port}`);
  let rootHost = "127.0.0.1";
  for (const n of ENV_SOURCES.rootHost) {
    const v = envVar(n);
    if (v) {
      rootHost = v;
      break;
    }
  }
  const cfg = { rank, size, rootHost, rootPort: port, job };
  checkConfig(cfg);
  return cfg;
}

function checkConfig(c: BootstrapConfig): void {
  if (!Number.isInteger(c.size) || c.size < 1) {
    throw new InvalidArgumentError(`size must be a positive integer, got ${c.size}`);
  }
  if (!Number.isInteger(c.rank) || c.rank < 0 || c.rank >= c.size) {
    throw new InvalidArgumentError(`rank ${c.rank} is out of range for size ${c.size}`);
  }
  if (c.job !== undefined && (typeof c.job !== "string" || enc.encode(c.job).length > MAX_JOB)) {
    throw new InvalidArgumentError(`job must be a string of at most ${MAX_JOB} bytes`);
  }
}

async function readExact(conn: Deno.Conn, n: number): Promise<Uint8Array> {
  const out = new Uint8Array(n);
  let got = 0;
  while (got < n) {
    const r = await conn.read(out.subarray(got));
    if (r === null) throw new PeerError(`connection closed after ${got} of ${n} bytes`);
    got += r;
  }
  return out;
}

async function readU32(conn: Deno.Conn): Promise<number> {
  return new DataView((await readExact(conn, 4)).buffer).getUint32(0, true);
}

function u32s(...xs: number[]): Uint8Array {
  const b = new Uint8Array(4 * xs.length);
  const v = new DataView(b.buffer);
  xs.forEach((x, i) => v.setUint32(4 * i, x, true));
  return b;
}

async function writeAll(conn: Deno.Conn, ...parts: Uint8Array[]): Promise<void> {
  const total = parts.reduce((n, p) => n + p.length, 0);
  const buf = new Uint8Array(total);
  let o = 0;
  for (const p of parts) {
    buf.set(p, o);
    o += p.length;
  }
  for (let w = 0; w < total;) w += await conn.write(buf.subarray(w));
}

/** Runs `f` with a deadline and an abort signal; closes `onStop` resources on either. */
async function bounded<T>(
  what: string,
  timedOut: (ms: number) => string,
  options: BootstrapOptions,
  f: (stopped: () => boolean, onStop: (c: () => void) => void) => Promise<T>,
): Promise<T> {
  const ms = options.timeoutMs ?? 30_000;
  const closers = new Set<() => void>();
  let stop: Error | null = null;
  const halt = (e: Error) => {
    if (stop) return;
    stop = e;
    for (const c of closers) {
      try {
        c();
      } catch { /* already closed */ }
    }
  };
  const timer = setTimeout(() => halt(new TimeoutError(`${what}: ${timedOut(ms)}`)), ms);
  const onAbort = () => halt(new PeerError(`${what}: aborted`, { cause: options.signal?.reason }));
  options.signal?.addEventListener("abort", onAbort, { once: true });
  try {
    return await f(() => stop !== null, (c) => closers.add(c));
  } catch (e) {
    if (stop) throw stop;
    throw e;
  } finally {
    clearTimeout(timer);
    options.signal?.removeEventListener("abort", onAbort);
    for (const c of closers) {
      try {
        c();
      } catch { /* already closed */ }
    }
  }
}

function settleFromEnv(): number {
  const v = envVar("PLUVIO_COLL_SETTLE_MS");
  const x = v ? Number(v) : 500;
  return Number.isFinite(x) && x >= 0 ? x : 500;
}

const show = (job: string) => (job ? JSON.stringify(job) : "(no job id)");

function hello(cfg: BootstrapConfig, address: Uint8Array): Uint8Array[] {
  const job = enc.encode(cfg.job ?? "");
  return [u32s(MAGIC, cfg.rank, cfg.size, job.length), job, u32s(address.length), address];
}

/** Reads a root's reply: the table, or the error the root sent. */
async function readReply(c: Deno.Conn): Promise<Uint8Array[] | string> {
  const status = await readU32(c);
  if (status !== 0) return dec.decode(await readExact(c, await readU32(c)));
  const count = await readU32(c);
  const table: Uint8Array[] = [];
  for (let i = 0; i < count; i++) table.push(await readExact(c, await readU32(c)));
  return table;
}

/**
 * A rank 0 that cannot bind its port tells whoever holds it (a root of another job, or
 * of this job started twice) and returns the holder's answer (or "" for a non-pluvio
 * holder), so that neither job's ranks can join a root that is not theirs unnoticed.
 */
async function announceRoot0(cfg: BootstrapConfig): Promise<string> {
  let c: Deno.Conn | undefined;
  const timer = setTimeout(() => c?.close(), 2_000);
  try {
    c = await Deno.connect({ hostname: cfg.rootHost, port: cfg.rootPort });
    await writeAll(c, ...hello(cfg, new Uint8Array(0)));
    const r = await readReply(c);
    return typeof r === "string" ? r : "";
  } catch {
    return "";
  } finally {
    clearTimeout(timer);
    try {
      c?.close();
    } catch { /* closed by the timer */ }
  }
}

async function runRoot(
  cfg: BootstrapConfig,
  address: Uint8Array,
  options: BootstrapOptions,
): Promise<Uint8Array[]> {
  const job = cfg.job ?? "";
  const table: (Uint8Array | undefined)[] = new Array(cfg.size);
  const missing = () =>
    [...Array(cfg.size).keys()].filter((r) => table[r] === undefined).join(", ");
  const where = `${cfg.rootHost}:${cfg.rootPort}`;
  const what = `bootstrap root on ${where}`;
  const late = (ms: number) => `rank(s) ${missing()} never arrived within ${ms} ms`;
  const settleMs = job ? 0 : (options.settleMs ?? settleFromEnv());
  return await bounded(what, late, options, async (_, onStop) => {
    table[0] = address;
    if (cfg.size === 1) return table as Uint8Array[];
    let listener: Deno.Listener;
    try {
      listener = Deno.listen({ hostname: cfg.rootHost, port: cfg.rootPort });
    } catch (cause) {
      let why = "";
      if (cause instanceof Deno.errors.AddrInUse) {
        const answer = await announceRoot0(cfg);
        why = `: the port is taken (another job's root?)${answer ? `; its holder: ${answer}` : ""}`;
      }
      throw new PeerError(
        `bootstrap root of job ${show(job)} cannot listen on ${where}${why} ` +
          "(give each job its own PLUVIO_COLL_JOB or PLUVIO_COLL_ROOT_PORT)",
        { cause },
      );
    }
    let open = true;
    const closeListener = () => {
      if (open) listener.close();
      open = false;
    };
    onStop(closeListener);
    const conns = new Map<number, Deno.Conn>();
    onStop(() => {
      for (const c of conns.values()) c.close();
    });
    let failure: string | null = null;
    const strays: Deno.Conn[] = [];
    let settleUntil = Infinity;
    while (failure === null) {
      if (conns.size === cfg.size - 1) {
        if (settleUntil === Infinity) settleUntil = performance.now() + settleMs;
        if (performance.now() >= settleUntil) break;
      }
      let conn: Deno.Conn | null;
      try {
        const next = listener.accept();
        if (settleUntil === Infinity) conn = await next;
        else {
          let t: ReturnType<typeof setTimeout> | undefined;
          conn = await Promise.race([
            next,
            new Promise<null>((r) =>
              t = setTimeout(() => r(null), settleUntil - performance.now())
            ),
          ]);
          clearTimeout(t);
          if (conn === null) {
            next.then((c) => c.close(), () => {});
            break;
          }
        }
      } catch (cause) {
        throw new PeerError(`${what}: the listener failed`, { cause });
      }
      try {
        const magic = await readU32(conn);
        if (magic === OLD_MAGIC) {
          failure = "a rank of an older pluvio version (no job ids) joined";
          strays.push(conn);
          break;
        }
        if (magic !== MAGIC) {
          failure = `a peer sent a bad bootstrap magic 0x${magic.toString(16)}`;
          strays.push(conn);
          break;
        }
        const rank = await readU32(conn);
        const size = await readU32(conn);
        const jobLen = await readU32(conn);
        if (jobLen > MAX_JOB) {
          failure = `rank ${rank} sent a ${jobLen}-byte job id`;
          strays.push(conn);
          break;
        }
        const peerJob = dec.decode(await readExact(conn, jobLen));
        const len = await readU32(conn);
        if (peerJob !== job) {
          // Another job's rank: refuse it alone, this job goes on.
          const m = enc.encode(
            `${where} is the bootstrap root of job ${show(job)}; rank ${rank} of job ` +
              `${show(peerJob)} reached it (two jobs share a root port)`,
          );
          await writeAll(conn, u32s(1, m.length), m).catch(() => {});
          conn.close();
          continue;
        }
        if (rank === 0 && len === 0) {
          failure = `another rank 0 of job ${show(job)} could not listen on ${where} because ` +
            "this root holds it: two jobs share the port (give each job its own " +
            "PLUVIO_COLL_JOB or PLUVIO_COLL_ROOT_PORT)";
        } else if (size !== cfg.size) {
          failure = `rank ${rank} was started with size ${size}, rank 0 with size ${cfg.size}`;
        } else if (rank === 0 || rank >= cfg.size) failure = `a peer claims invalid rank ${rank}`;
        else if (conns.has(rank)) failure = `rank ${rank} joined twice (duplicate rank)`;
        else if (len === 0 || len > MAX_ADDRESS) {
          failure = `rank ${rank} sent a ${len}-byte address`;
        }
        if (failure !== null) {
          strays.push(conn);
          break;
        }
        table[rank] = await readExact(conn, len);
        conns.set(rank, conn);
      } catch (e) {
        conn.close();
        if (e instanceof PeerError) continue; // a port scanner or a dying peer: ignore
        throw e;
      }
    }
    closeListener();
    if (failure !== null) {
      const msg = enc.encode(failure);
      for (const c of [...conns.values(), ...strays]) {
        await writeAll(c, u32s(1, msg.length), msg).catch(() => {});
        c.close();
      }
      conns.clear();
      throw new PeerError(`bootstrap failed: ${failure}`);
    }
    const parts: Uint8Array[] = [u32s(0, cfg.size)];
    for (const a of table) parts.push(u32s(a!.length), a!);
    await Promise.all([...conns.values()].map((c) => writeAll(c, ...parts)));
    return table as Uint8Array[];
  });
}

async function runPeer(
  cfg: BootstrapConfig,
  address: Uint8Array,
  options: BootstrapOptions,
): Promise<Uint8Array[]> {
  const where = `${cfg.rootHost}:${cfg.rootPort}`;
  let conn: Deno.Conn | null = null;
  let last: unknown;
  const late = (ms: number) =>
    conn === null
      ? `cannot reach the bootstrap root at ${where} within ${ms} ms (${String(last)})`
      : `no table from the bootstrap root at ${where} within ${ms} ms`;
  return await bounded(`bootstrap of rank ${cfg.rank}`, late, options, async (stopped, onStop) => {
    while (conn === null) {
      if (stopped()) {
        throw new TimeoutError(`cannot reach the bootstrap root at ${where}`, { cause: last });
      }
      try {
        conn = await Deno.connect({ hostname: cfg.rootHost, port: cfg.rootPort });
      } catch (e) {
        last = e;
        await new Promise((r) => setTimeout(r, 50));
      }
    }
    const c = conn;
    onStop(() => c.close());
    await writeAll(c, ...hello(cfg, address));
    let reply: Uint8Array[] | string;
    try {
      reply = await readReply(c);
    } catch (cause) {
      if (stopped()) throw cause;
      throw new PeerError(`the bootstrap root at ${where} closed the connection (it failed)`, {
        cause,
      });
    }
    if (typeof reply === "string") throw new PeerError(`bootstrap failed at the root: ${reply}`);
    if (reply.length !== cfg.size) {
      throw new PeerError(`root sent ${reply.length} addresses, expected ${cfg.size}`);
    }
    return reply;
  });
}

/**
 * Exchanges `address` with every other rank through rank 0 and returns the table of all
 * ranks' addresses, indexed by rank. Fails with a `TimeoutError` when the root is not
 * reachable or a rank never arrives in time, and with a `PeerError` (on every rank) for
 * a duplicate rank or a size mismatch.
 */
export function bootstrap(
  config: BootstrapConfig,
  address: Uint8Array,
  options: BootstrapOptions = {},
): Promise<Uint8Array[]> {
  checkConfig(config);
  if (!(address instanceof Uint8Array) || address.length === 0) {
    throw new InvalidArgumentError("bootstrap needs this rank's non-empty address");
  }
  return config.rank === 0 ? runRoot(config, address, options) : runPeer(config, address, options);
}
