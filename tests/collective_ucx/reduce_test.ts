import assert from "node:assert/strict";
import { DTYPES } from "../../lib/collective/dtype.ts";
import { opAllowed, REDUCE_OPS, reduceInto } from "../../lib/collective/ops.ts";
import { reduceNative } from "../../lib/collective/ucx/reduce.ts";
import { InvalidArgumentError, Sum } from "../../lib/collective/mod.ts";

function fill(a: { length: number; [i: number]: number | bigint }, big: boolean, seed: number) {
  let x = seed >>> 0 || 1;
  for (let i = 0; i < a.length; i++) {
    x ^= x << 13;
    x ^= x >>> 17;
    x ^= x << 5;
    x >>>= 0;
    const v = (x % 2001) - 1000;
    a[i] = big ? BigInt(v) * 3_000_000_007n : v / 7;
  }
}

Deno.test("native reduce kernels match the reference for every type × op", () => {
  for (const dt of DTYPES) {
    for (const op of REDUCE_OPS) {
      if (!opAllowed(op, dt)) {
        assert.throws(
          () => reduceNative(op, new dt.ctor(4), new dt.ctor(4)),
          InvalidArgumentError,
        );
        continue;
      }
      for (const n of [0, 1, 7, 64, 1001]) {
        const a = new dt.ctor(n), b = new dt.ctor(n);
        fill(a, dt.bigint, n * 31 + op.index);
        fill(b, dt.bigint, n * 17 + dt.index + 5);
        const want = reduceInto(op, dt, a.slice(), b);
        const got = reduceNative(op, a, b);
        assert.deepEqual(got, want, `${dt.name} ${op.name} n=${n}`);
      }
    }
  }
});

Deno.test("native reduce works on unaligned-offset subarrays and rejects bad input", () => {
  const base = new Float64Array(100).fill(1);
  const src = new Float64Array(100).fill(2);
  reduceNative(Sum, base.subarray(3, 50), src.subarray(10, 57));
  assert.equal(base[2], 1);
  assert.equal(base[3], 3);
  assert.equal(base[49], 3);
  assert.equal(base[50], 1);
  const mixed = new Float64Array(3) as unknown as Float32Array; // a caller without types
  assert.throws(() => reduceNative(Sum, new Float32Array(3), mixed), /Float64Array/);
  assert.throws(() => reduceNative(Sum, new Int32Array(3), new Int32Array(4)), /4/);
  const shared = new Int32Array(10);
  assert.throws(
    () => reduceNative(Sum, shared.subarray(0, 6), shared.subarray(4, 10)),
    /overlap/,
  );
});
