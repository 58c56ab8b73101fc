/**
 * Shared helpers of the UCX tests: spawning bounded peer processes, deadlines.
 *
 * @module
 */
import assert from "node:assert/strict";
import { Buffer } from "node:buffer";
import { Runtime } from "../../mod.ts";
import { Context, type Endpoint, type Worker } from "../../lib/ucx/mod.ts";

/** A running peer process. */
export interface Peer {
  /** The peer's worker address. */
  addr: Uint8Array;
  /** Its listener port (0 in `sink` mode). */
  port: number;
  /** Lines it printed after the first. */
  lines: AsyncIterator<string>;
  /** The child. */
  child: Deno.ChildProcess;
  /** Kills it (SIGKILL) if still running. */
  kill(): void;
  /** Waits for its exit status (bounded). */
  status(): Promise<Deno.CommandStatus>;
}

const PEER = new URL("./peer.ts", import.meta.url).pathname;

/** Environment of every peer: keep-alive short so dead peers are noticed quickly. */
export const UCX_ENV = { UCX_KEEPALIVE_INTERVAL: "1s", UCX_KEEPALIVE_NUM_EPS: "10" };

/** Starts `peer.ts <mode>` connected to `parentAddr`; fails if it is not up in 20 s. */
export async function startPeer(
  mode: string,
  parentAddr: Uint8Array,
  env: Record<string, string> = {},
): Promise<Peer> {
  const child = new Deno.Command(Deno.execPath(), {
    args: ["run", "-A", PEER, mode, Buffer.from(parentAddr).toString("base64")],
    stdin: "null",
    stdout: "piped",
    stderr: "inherit",
    env: { ...UCX_ENV, ...env },
  }).spawn();
  const lines = splitLines(child.stdout.pipeThrough(new TextDecoderStream()));
  let exited = false;
  const statusP = child.status.then((s) => {
    exited = true;
    return s;
  });
  const kill = () => {
    if (!exited) {
      try {
        child.kill("SIGKILL");
      } catch { /* already gone */ }
    }
  };
  const first = await deadline(lines.next(), 20_000, "peer start").catch((e) => {
    kill();
    throw e;
  });
  if (first.done) throw new Error(`peer ${mode} exited before printing its address`);
  const info = JSON.parse(first.value);
  return {
    addr: new Uint8Array(Buffer.from(info.addr, "base64")),
    port: info.port,
    lines,
    child,
    kill,
    status: () => deadline(statusP, 20_000, "peer exit"),
  };
}

/** Rejects when `p` takes longer than `ms`. */
export function deadline<T>(p: Promise<T>, ms: number, what: string): Promise<T> {
  let t: ReturnType<typeof setTimeout> | undefined;
  const timer = new Promise<never>((_, reject) => {
    t = setTimeout(() => reject(new Error(`${what}: no result within ${ms} ms`)), ms);
  });
  return Promise.race([p, timer]).finally(() => clearTimeout(t));
}

/** A u32 little-endian header. */
export function u32(...v: number[]): Uint8Array {
  return new Uint8Array(new Uint32Array(v).buffer);
}

/** Reads u32 `i` of a header. */
export function readU32(b: Uint8Array, i = 0): number {
  return new DataView(b.buffer, b.byteOffset, b.byteLength).getUint32(i * 4, true);
}

/** A payload of `n` bytes, a function of `seed` and position. */
export function pattern(n: number, seed: number): Uint8Array {
  const b = new Uint8Array(n);
  for (let i = 0; i < n; i++) b[i] = (i * 31 + seed) & 0xff;
  return b;
}

export async function* splitLines(s: ReadableStream<string>): AsyncGenerator<string> {
  let rest = "";
  for await (const chunk of s) {
    rest += chunk;
    let i;
    while ((i = rest.indexOf("\n")) >= 0) {
      yield rest.slice(0, i);
      rest = rest.slice(i + 1);
    }
  }
  if (rest) yield rest;
}

/** Tells an echo peer to exit (AM 9 on `ep`) and checks that it exited cleanly. */
export async function stopPeer(ep: Endpoint, peer: Peer): Promise<void> {
  await ep.amSend(9);
  assert.equal((await peer.status()).code, 0);
}

/**
 * Runs `body` in a runtime with a fresh worker and a started peer (`mode` of
 * tests/ucx/peer.ts), bounded by `ms`; always kills the peer and closes everything.
 */
export async function withPeer(
  mode: string,
  body: (w: Worker, peer: Peer) => Promise<void>,
  ms = 60_000,
): Promise<void> {
  const rt = new Runtime();
  const ctx = new Context();
  const w = ctx.createWorker();
  let peer: Peer | undefined;
  try {
    await deadline(
      rt.run(async () => {
        peer = await startPeer(mode, w.address());
        await body(w, peer);
      }),
      ms,
      "test body",
    );
  } finally {
    peer?.kill();
    await peer?.status().catch(() => {});
    w.close();
    ctx.close();
    rt.close();
  }
}

/**
 * Runs `body` in `rt` with two workers of one context in this process; always closes
 * the workers, the runtime and the context.
 */
export async function withTwoWorkers(
  body: (a: Worker, b: Worker) => Promise<void>,
  rt: Runtime = new Runtime(),
): Promise<void> {
  const ctx = new Context();
  const a = ctx.createWorker();
  const b = ctx.createWorker();
  try {
    await rt.run(() => body(a, b));
  } finally {
    a.close();
    b.close();
    rt.close();
    ctx.close();
  }
}
