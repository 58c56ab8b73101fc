/**
 * Idle back-off settings (`PLUVIO_IDLE_*`), read from the environment once per process.
 *
 * @module
 */

/** How the executor sleeps once it has been idle long enough. */
export type ParkMode = "doorbell" | "wait" | "off";

/** Idle back-off configuration of a runtime. */
export interface IdleConfig {
  /**
   * `"doorbell"` (default): a native notifier thread wakes the JS thread through a
   * thread-safe callback (~µs wake). `"wait"`: a `nonblocking` FFI wait (~50 µs wake,
   * no extra thread). `"off"`: never park; keep yielding to the event loop (busy).
   */
  park: ParkMode;
  /** Idle executor turns spent spinning on microtasks before yielding to macrotasks. */
  yieldAfter: number;
  /** Idle executor turns (counted from the start of idling) before parking. */
  sleepAfter: number;
  /**
   * The most microseconds the executor busy-polls in one go on behalf of a reactor's
   * adaptive spin budget (see `SpinBudget`), also how early at most it wakes before a
   * timer deadline. `0` turns spinning off (timers are then as late as the wake-up).
   */
  spinUs: number;
}

/** Defaults chosen from `deno task bench:runtime` on the reference machine. */
export const DEFAULT_IDLE: Readonly<IdleConfig> = Object.freeze({
  park: "doorbell",
  yieldAfter: 16,
  sleepAfter: 32,
  spinUs: 200,
});

let fromEnv: IdleConfig | undefined;

function env(name: string): string | undefined {
  try {
    return Deno.env.get(name);
  } catch {
    return undefined;
  }
}

function count(name: string, fallback: number): number {
  const v = env(name);
  if (v === undefined || v === "") return fallback;
  const n = Number(v);
  if (!Number.isInteger(n) || n < 0) {
    throw new RangeError(`${name}=${JSON.stringify(v)} is not a non-negative integer`);
  }
  return n;
}

/**
 * The idle configuration from `PLUVIO_IDLE_PARK` (`1`/`doorbell`, `wait`, `0`/`off`),
 * `PLUVIO_IDLE_YIELD_AFTER`, `PLUVIO_IDLE_SLEEP_AFTER` and `PLUVIO_IDLE_SPIN_US`; read
 * once, then cached.
 */
export function idleConfigFromEnv(): IdleConfig {
  if (fromEnv) return fromEnv;
  const p = (env("PLUVIO_IDLE_PARK") ?? "").toLowerCase();
  let park: ParkMode;
  if (p === "" || p === "1" || p === "doorbell" || p === "true") park = "doorbell";
  else if (p === "wait") park = "wait";
  else if (p === "0" || p === "off" || p === "false") park = "off";
  else throw new RangeError(`PLUVIO_IDLE_PARK=${JSON.stringify(p)}: use doorbell, wait or off`);
  fromEnv = {
    park,
    yieldAfter: count("PLUVIO_IDLE_YIELD_AFTER", DEFAULT_IDLE.yieldAfter),
    sleepAfter: count("PLUVIO_IDLE_SLEEP_AFTER", DEFAULT_IDLE.sleepAfter),
    spinUs: count("PLUVIO_IDLE_SPIN_US", DEFAULT_IDLE.spinUs),
  };
  return fromEnv;
}
