/**
 * The adaptive policy: which algorithm each collective runs for a message size and a
 * rank count, read from the tuning table `deno task tune` measured on this machine
 * (`tuning.json`).
 *
 * @module
 */
import { InvalidArgumentError } from "../../errors.ts";
import { ALGORITHMS, type Algorithms } from "./communicator.ts";
import measured from "./tuning.json" with { type: "json" };

/** One rule: up to `maxBytes` (inclusive; null = no limit) use `algorithm`. */
export interface TuningRule<A extends string = string> {
  /** Largest message size in bytes the rule covers; null for "and above". */
  maxBytes: number | null;
  /** The algorithm to run. */
  algorithm: A;
}

/** Rules per collective for one rank count, in increasing `maxBytes`. */
export type TuningRules = { [K in keyof Algorithms]: TuningRule<Algorithms[K]>[] };

/** A tuning table: rules per rank count, and how they were measured. */
export interface TuningTable {
  /** How and when the table was made (command, date, machine notes). */
  source: string;
  /** Rules per rank count (keys are rank counts as strings), ranks on one host. */
  ranks: Record<string, TuningRules>;
  /**
   * Rules for ranks spanning hosts, keyed `"<hosts>x<ranks per host>"` (e.g. `"2x2"`),
   * measured by `deno task tune --hosts=…`.
   */
  hosts?: Record<string, TuningRules>;
}

/** The table shipped with pluvio (made by `deno task tune`). */
export const TUNING: TuningTable = measured as TuningTable;

/** Checks a table's shape and algorithm names; returns it. */
export function checkTuning(t: TuningTable): TuningTable {
  if (!t || typeof t !== "object" || typeof t.ranks !== "object") {
    throw new InvalidArgumentError("tuning table: expected { source, ranks: {...} }");
  }
  const shapes = Object.entries(t.ranks).map(([n, rules]) => {
    if (!(Number(n) >= 1)) throw new InvalidArgumentError(`tuning table: bad rank count ${n}`);
    return [n, rules] as const;
  });
  if (t.hosts !== undefined) {
    if (typeof t.hosts !== "object" || t.hosts === null) {
      throw new InvalidArgumentError("tuning table: hosts must be an object");
    }
    for (const [k, rules] of Object.entries(t.hosts)) {
      if (!/^[1-9]\d*x[1-9]\d*$/.test(k)) {
        throw new InvalidArgumentError(`tuning table: bad hosts shape ${JSON.stringify(k)}`);
      }
      shapes.push([k, rules]);
    }
  }
  for (const [n, rules] of shapes) {
    for (const k of Object.keys(ALGORITHMS) as (keyof Algorithms)[]) {
      const list = rules[k];
      if (!Array.isArray(list) || list.length === 0) {
        throw new InvalidArgumentError(`tuning table: no ${k} rules for ${n} ranks`);
      }
      for (const rule of list) {
        if (!(ALGORITHMS[k] as readonly string[]).includes(rule.algorithm)) {
          throw new InvalidArgumentError(
            `tuning table: unknown ${k} algorithm ${JSON.stringify(rule.algorithm)}`,
          );
        }
      }
      if (list[list.length - 1].maxBytes !== null) {
        throw new InvalidArgumentError(`tuning table: the last ${k} rule must have maxBytes null`);
      }
    }
  }
  return t;
}

/**
 * The rules for `size` ranks on `hosts` hosts (default 1). Across hosts: the measured
 * multi-host shape nearest in host count, then in ranks per host, when the table has
 * one; else (and on one host) the measured rank count itself, else the nearest one
 * measured (ties go to the larger).
 */
export function rulesFor(t: TuningTable, size: number, hosts = 1): TuningRules {
  if (hosts > 1 && t.hosts && Object.keys(t.hosts).length > 0) {
    const per = size / hosts;
    const dist = (k: string) => {
      const [h, r] = k.split("x").map(Number);
      return Math.abs(h - hosts) * 1e6 + Math.abs(r - per);
    };
    const best = Object.keys(t.hosts).reduce((a, b) => (dist(b) < dist(a) ? b : a));
    return t.hosts[best];
  }
  const counts = Object.keys(t.ranks).map(Number);
  if (counts.length === 0) throw new InvalidArgumentError("tuning table: no rank counts");
  let best = counts[0];
  for (const c of counts) {
    const d = Math.abs(c - size), db = Math.abs(best - size);
    if (d < db || (d === db && c > best)) best = c;
  }
  return t.ranks[String(best)];
}

/** The algorithm `rules` choose for collective `k` and a message of `bytes`. */
export function choose<K extends keyof Algorithms>(
  rules: TuningRules,
  k: K,
  bytes: number,
): Algorithms[K] {
  const list = rules[k] as TuningRule<Algorithms[K]>[];
  for (const r of list) if (r.maxBytes === null || bytes <= r.maxBytes) return r.algorithm;
  return list[list.length - 1].algorithm;
}
