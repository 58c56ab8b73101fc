/**
 * Call signatures (what ranks compare to catch mismatches) and the UCX notices that
 * carry them: round trips, equality, the 13-bit tag hash, descriptions, malformed input.
 */
import assert from "node:assert/strict";
import { mismatchText, Signature } from "../../lib/collective/signature.ts";
import { decodeNotice, encodeNotice, MISMATCH, REJECTED } from "../../lib/collective/ucx/notice.ts";

Deno.test("signature: round trip, equality, hash and description", () => {
  const a = new Signature("allreduce", "ring", 0, 0, -1, 200);
  const b = new Signature("allreduce", "ring", 1, 0, -1, 100);
  const v = new DataView(new ArrayBuffer(64));
  a.encode(v, 8);
  const back = Signature.decode(v, 8)!;
  assert.ok(back.equals(a) && !back.equals(b));
  assert.equal(back.hash13, a.hash13);
  assert.ok(a.hash13 >= 0 && a.hash13 < 1 << 13);
  assert.notEqual(a.hash13, b.hash13);
  assert.ok(a.is(1, "ring", 0, 0, -1, 200) && !a.is(1, "pipelined", 0, 0, -1, 200));
  assert.equal(a.describe(), "allreduce[ring](Float32 × 200, Sum)");
  assert.equal(
    new Signature("broadcast", "", 5, -1, 3, 7).describe(),
    "broadcast(BigInt64 × 7, root 3)",
  );
  assert.equal(new Signature("barrier", "", -1, -1, -1, 0).describe(), "barrier()");
  // The same text on both sides: the higher rank first.
  assert.equal(mismatchText(0, a, 1, b), mismatchText(1, b, 0, a));
  assert.match(
    mismatchText(0, a, 1, b),
    /^rank 1 called allreduce\[ring\]\(Float64 × 100, Sum\) where rank 0/,
  );
  assert.equal(Signature.decode(new DataView(new ArrayBuffer(64)), 0), null); // no marker
});

Deno.test("notice: round trip, long reasons cut, short input refused", () => {
  const sig = new Signature("gather", "", 4, -1, 0, 8);
  const n = {
    who: 3,
    comm: 7,
    seq: 1023,
    rank: 2,
    reason: REJECTED,
    suspect: -1,
    sig,
    text: "x".repeat(500),
  };
  const buf = encodeNotice(n);
  assert.ok(buf.length <= 256);
  const back = decodeNotice(buf, buf.length)!;
  assert.deepEqual({ ...back, sig: null, text: "" }, { ...n, sig: null, text: "" });
  assert.ok(back.sig!.equals(sig));
  assert.ok(back.text.length > 100 && "x".repeat(500).startsWith(back.text));
  const m = decodeNotice(encodeNotice({ ...n, reason: MISMATCH, sig: null, text: "é" }), 256)!;
  assert.equal(m.sig, null);
  assert.equal(m.text, "é");
  assert.equal(decodeNotice(new Uint8Array(8), 8), null);
});
