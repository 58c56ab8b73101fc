/**
 * Bootstrap of a UCX communicator: rank 0 gathers every rank's UCX worker address over
 * TCP and hands the full table back (Pluvio's protocol, with a magic, the group size and
 * an error reply so that mistakes are reported to every rank instead of hanging them).
 *
 * Wire format (little-endian u32s):
 * - hello, peer → root: `magic, rank, size, len, address[len]`
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
  /** Port of rank 0's bootstrap listener (default 13337). */
  rootPort: number;
}

/** Options of {@link bootstrap}. */
export interface BootstrapOptions {
  /** Give up after this many milliseconds (default 30 000). */
  timeoutMs?: number;
  /** Aborts the bootstrap. */
  signal?: AbortSignal;
}

const MAGIC = 0x42564c50; // "PLVB"
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

function firstInt(names: string[], what: string): number | undefined {
  for (const n of names) {
    const v = envVar(n);
    if (v === undefined || v === "") continue;
    const x = Number(v);
    if (!Number.isInteger(x) || x < 0) {
      throw new InvalidArgumentError(`${n}=${JSON.stringify(v)} is not a valid ${what}`);
    }
    return x;
  }
  return undefined;
}

/**
 * Reads the bootstrap configuration from the environment: the rank from
 * `PLUVIO_COLL_RANK`, else `OMPI_COMM_WORLD_RANK`, else `PMI_RANK`; the size likewise
 * (`PLUVIO_COLL_SIZE`, `OMPI_COMM_WORLD_SIZE`, `PMI_SIZE`); `PLUVIO_COLL_ROOT_HOST` and
 * `PLUVIO_COLL_ROOT_PORT`.
 */
export function bootstrapConfigFromEnv(): BootstrapConfig {
  const rank = firstInt(["PLUVIO_COLL_RANK", "OMPI_COMM_WORLD_RANK", "PMI_RANK"], "rank");
  const size = firstInt(["PLUVIO_COLL_SIZE", "OMPI_COMM_WORLD_SIZE", "PMI_SIZE"], "size");
  if (rank === undefined || size === undefined) {
    throw new InvalidArgumentError(
      "no rank/size in the environment: launch with `deno task launch -n N script.ts`, " +
        "under mpirun, or set PLUVIO_COLL_RANK and PLUVIO_COLL_SIZE",
    );
  }
  const port = firstInt(["PLUVIO_COLL_ROOT_PORT"], "port") ?? 13337;
  if (port < 1 || port > 65535) throw new InvalidArgumentError(`bad root port ${port}`);
  const cfg = {
    rank,
    size,
    rootHost: envVar("PLUVIO_COLL_ROOT_HOST") || "127.0.0.1",
    rootPort: port,
  };
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

async function runRoot(
  cfg: BootstrapConfig,
  address: Uint8Array,
  options: BootstrapOptions,
): Promise<Uint8Array[]> {
  const table: (Uint8Array | undefined)[] = new Array(cfg.size);
  const missing = () =>
    [...Array(cfg.size).keys()].filter((r) => table[r] === undefined).join(", ");
  const what = `bootstrap root on ${cfg.rootHost}:${cfg.rootPort}`;
  const late = (ms: number) => `rank(s) ${missing()} never arrived within ${ms} ms`;
  return await bounded(what, late, options, async (_, onStop) => {
    table[0] = address;
    if (cfg.size === 1) return table as Uint8Array[];
    let listener: Deno.Listener;
    try {
      listener = Deno.listen({ hostname: cfg.rootHost, port: cfg.rootPort });
    } catch (cause) {
      throw new PeerError(
        `bootstrap root cannot listen on ${cfg.rootHost}:${cfg.rootPort} (PLUVIO_COLL_ROOT_*)`,
        { cause },
      );
    }
    onStop(() => listener.close());
    const conns = new Map<number, Deno.Conn>();
    onStop(() => {
      for (const c of conns.values()) c.close();
    });
    let failure: string | null = null;
    const strays: Deno.Conn[] = [];
    while (conns.size < cfg.size - 1 && failure === null) {
      let conn: Deno.Conn;
      try {
        conn = await listener.accept();
      } catch (cause) {
        throw new PeerError(`${what}: the listener failed`, { cause });
      }
      try {
        const magic = await readU32(conn);
        const rank = await readU32(conn);
        const size = await readU32(conn);
        const len = await readU32(conn);
        if (magic !== MAGIC) failure = `a peer sent a bad bootstrap magic 0x${magic.toString(16)}`;
        else if (size !== cfg.size) {
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
    await writeAll(c, u32s(MAGIC, cfg.rank, cfg.size, address.length), address);
    let status: number;
    try {
      status = await readU32(c);
    } catch (cause) {
      if (stopped()) throw cause;
      throw new PeerError(`the bootstrap root at ${where} closed the connection (it failed)`, {
        cause,
      });
    }
    if (status !== 0) {
      const len = await readU32(c);
      throw new PeerError(`bootstrap failed at the root: ${dec.decode(await readExact(c, len))}`);
    }
    const count = await readU32(c);
    if (count !== cfg.size) {
      throw new PeerError(`root sent ${count} addresses, expected ${cfg.size}`);
    }
    const table: Uint8Array[] = [];
    for (let i = 0; i < count; i++) table.push(await readExact(c, await readU32(c)));
    return table;
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
