// The bootstrap record of a UCX communicator rank: host identity, pid, worker address.
import assert from "node:assert/strict";
import { Runtime } from "../../mod.ts";
import { PeerError } from "../../lib/errors.ts";
import { bootstrap } from "../../lib/collective/ucx/bootstrap.ts";
import { UcxCommunicator } from "../../lib/collective/ucx/communicator.ts";
import { freePort } from "../../lib/collective/ucx/launch.ts";
import { encodePeerRecord, parsePeerRecord, sameHost } from "../../lib/collective/ucx/peer.ts";

const bytes = (s: string) => new TextEncoder().encode(s);

Deno.test("peer record: round trip, with and without a host identity", () => {
  for (const host of [bytes("boot-id/pidns:4026531836"), new Uint8Array(0)]) {
    const rec = { host, pid: 4242, address: bytes("ucx worker address") };
    const b = encodePeerRecord(rec);
    // Parsed from a view inside a larger buffer (the bootstrap hands out subarrays).
    const big = new Uint8Array(b.length + 10);
    big.set(b, 5);
    const got = parsePeerRecord(big.subarray(5, 5 + b.length), 3);
    assert.deepEqual(got.host, rec.host);
    assert.equal(got.pid, 4242);
    assert.deepEqual(got.address, rec.address);
  }
});

Deno.test("peer record: malformed records are a PeerError naming the rank", () => {
  const ok = encodePeerRecord({ host: bytes("h"), pid: 7, address: bytes("addr") });
  const cases: [Uint8Array, RegExp][] = [
    [new Uint8Array(0), /shorter than its header/],
    [bytes("short"), /shorter than its header/],
    [ok.subarray(0, 9), /no worker address/], // header, host, pid: nothing after
    [Uint8Array.of(0xff, 0xff, 0, 0, 1, 2, 3, 4, 5), /host identity length 65535/],
    [encodePeerRecord({ host: bytes("h"), pid: 0, address: bytes("a") }), /pid 0 /],
    [encodePeerRecord({ host: bytes("h"), pid: 2 ** 31, address: bytes("a") }), /pid 2147483648/],
  ];
  for (const [b, re] of cases) {
    assert.throws(
      () => parsePeerRecord(b, 5),
      (e: unknown) =>
        e instanceof PeerError && /rank 5 sent a malformed/.test(e.message) &&
        re.test(e.message),
      `${b.length} bytes: ${re}`,
    );
  }
});

Deno.test("peer record: sameHost compares identities, an empty one matches nothing", () => {
  assert.equal(sameHost(bytes("abc"), bytes("abc")), true);
  assert.equal(sameHost(bytes("abc"), bytes("abd")), false);
  assert.equal(sameHost(bytes("abc"), bytes("ab")), false);
  assert.equal(sameHost(new Uint8Array(0), new Uint8Array(0)), false);
});

Deno.test("UcxCommunicator.create rejects a rank whose bootstrap record is malformed", async () => {
  const port = freePort();
  const rt = new Runtime();
  try {
    await rt.run(async () => {
      const cfg = (rank: number) => ({ rank, size: 2, rootHost: "127.0.0.1", rootPort: port });
      // Rank 1 speaks the bootstrap protocol but sends a bare worker address, as an
      // older pluvio would.
      const [root, other] = await Promise.allSettled([
        UcxCommunicator.create({ config: cfg(0), bootstrapTimeoutMs: 20_000 }),
        bootstrap(cfg(1), bytes("not a record"), { timeoutMs: 20_000 }),
      ]);
      assert.equal(other.status, "fulfilled");
      assert.equal(root.status, "rejected");
      assert.ok(
        root.reason instanceof PeerError && /rank 1 sent a malformed/.test(root.reason.message),
        String(root.reason),
      );
    });
  } finally {
    rt.close();
  }
});
