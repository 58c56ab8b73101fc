/**
 * Which ranks share a host, from the host identities the bootstrap exchanged (boot id
 * and PID namespace, see `peer.ts`): the hosts in order of their lowest rank, each with
 * its ranks in rank order. A rank without a host identity is a host of its own.
 *
 * @module
 */
import { sameHost } from "./peer.ts";

/** The host layout of a group, as every rank computes it alike. */
export interface Topology {
  /** Ranks per host: hosts in order of their lowest rank, ranks in increasing order. */
  readonly hosts: readonly (readonly number[])[];
  /** Index into {@link Topology.hosts} of each rank's host. */
  readonly hostOf: readonly number[];
  /** Position of each rank among its host's ranks. */
  readonly localOf: readonly number[];
}

/** The topology of ranks whose host identities are `ids` (indexed by rank). */
export function topologyOf(ids: readonly Uint8Array[]): Topology {
  const hosts: number[][] = [];
  const hostOf: number[] = new Array(ids.length);
  const localOf: number[] = new Array(ids.length);
  for (let r = 0; r < ids.length; r++) {
    let h = -1;
    if (ids[r].length > 0) {
      for (let k = 0; k < hosts.length && h < 0; k++) {
        if (sameHost(ids[hosts[k][0]], ids[r])) h = k;
      }
    }
    if (h < 0) h = hosts.push([]) - 1;
    hostOf[r] = h;
    localOf[r] = hosts[h].length;
    hosts[h].push(r);
  }
  return { hosts, hostOf, localOf };
}
