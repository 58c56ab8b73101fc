/**
 * The backend-neutral parts of the collectives, without MPI: element types, reduction
 * operations (identities, C semantics of local reductions) and local shape checks.
 */
import assert from "node:assert/strict";
import {
  BitAnd,
  BitOr,
  BitXor,
  checkOp,
  dtypeOf,
  DTYPES,
  InvalidArgumentError,
  Max,
  Min,
  opAllowed,
  Prod,
  REDUCE_OPS,
  reduceInto,
  ShapeError,
  Sum,
} from "../../lib/collective/mod.ts";
import { checkCount, checkDisjoint, checkLength, checkRoot } from "../../lib/collective/shape.ts";

Deno.test("dtypes: every TypedArray maps to its type; others are refused by name", () => {
  assert.equal(DTYPES.length, 10);
  for (const d of DTYPES) {
    assert.equal(dtypeOf(new d.ctor(2)), d);
    assert.equal(d.bytes, d.ctor.BYTES_PER_ELEMENT);
  }
  class Sub extends Float64Array {}
  assert.equal(dtypeOf(new Sub(1)).name, "f64");
  for (const bad of [new Uint8ClampedArray(1), new DataView(new ArrayBuffer(1)), [1], null, 3]) {
    assert.throws(() => dtypeOf(bad, "buf"), InvalidArgumentError);
  }
  assert.throws(() => dtypeOf(new Uint8ClampedArray(1)), /got Uint8ClampedArray/);
});

Deno.test("ops: identities, float Min/Max use infinities, bitwise only on integers", () => {
  const f32 = dtypeOf(new Float32Array());
  const i8 = dtypeOf(new Int8Array());
  const u64 = dtypeOf(new BigUint64Array());
  assert.equal(Min.identity(f32), Infinity);
  assert.equal(Max.identity(f32), -Infinity);
  assert.equal(Min.identity(i8), 127);
  assert.equal(Max.identity(i8), -128);
  assert.equal(BitAnd.identity(u64), (1n << 64n) - 1n);
  assert.equal(Prod.identity(u64), 1n);
  for (const d of DTYPES) {
    for (const op of REDUCE_OPS) {
      assert.equal(opAllowed(op, d), !(op.bitwise && d.kind === "float"), `${op.name} ${d.name}`);
      // x op identity === x for a few values.
      const a = new d.ctor(3) as Int32Array;
      const vals = d.bigint ? [0n, 5n, 77n] : [0, 5, 77];
      // deno-lint-ignore no-explicit-any
      (a as any).set(vals);
      const id = new d.ctor(3) as Int32Array;
      // deno-lint-ignore no-explicit-any
      (id as any).fill(op.identity(d));
      if (opAllowed(op, d)) {
        // deno-lint-ignore no-explicit-any
        assert.deepEqual([...reduceInto(op, d, id, a as any)], [...a], `${op.name} ${d.name}`);
      } else assert.throws(() => checkOp(op, d), /not defined for/);
    }
  }
});

Deno.test("ops: local reductions follow C semantics (wrap-around, single precision)", () => {
  const i8 = dtypeOf(new Int8Array());
  assert.deepEqual([...reduceInto(Sum, i8, new Int8Array([100, -128]), new Int8Array([100, -1]))], [
    -56,
    127,
  ]);
  const u32 = dtypeOf(new Uint32Array());
  assert.deepEqual(
    [...reduceInto(Prod, u32, new Uint32Array([0xffffffff]), new Uint32Array([0xffffffff]))],
    [1],
  );
  const i32 = dtypeOf(new Int32Array());
  assert.deepEqual([...reduceInto(Prod, i32, new Int32Array([65536]), new Int32Array([65537]))], [
    65536,
  ]);
  const u64 = dtypeOf(new BigUint64Array());
  assert.deepEqual(
    [...reduceInto(Sum, u64, new BigUint64Array([(1n << 64n) - 1n]), new BigUint64Array([2n]))],
    [1n],
  );
  const f32 = dtypeOf(new Float32Array());
  assert.deepEqual([...reduceInto(Sum, f32, new Float32Array([1]), new Float32Array([1e-8]))], [1]);
  const u8 = dtypeOf(new Uint8Array());
  assert.deepEqual(
    [...reduceInto(BitXor, u8, new Uint8Array([0xf0]), new Uint8Array([0xff]))],
    [0x0f],
  );
  assert.deepEqual([...reduceInto(BitOr, u8, new Uint8Array([1]), new Uint8Array([2]))], [3]);
  assert.throws(() => checkOp({ name: "avg", index: 0 } as never, u8), /unknown reduction/);
  // A missing op is a typed error too (not a TypeError from reading its fields).
  assert.throws(() => checkOp(undefined as never, u8), InvalidArgumentError);
  assert.throws(() => checkOp(null as never, u8), /unknown reduction null/);
  assert.throws(
    () => reduceInto(Sum, u8, new Uint8Array(2), new Uint8Array(3)),
    InvalidArgumentError,
  );
});

Deno.test("shape checks: lengths, roots, counts, overlap", () => {
  assert.throws(
    () => checkLength("allgather", "recv", new Float32Array(3), 4, "send.length 2 × size 2"),
    (e: unknown) =>
      e instanceof ShapeError && e instanceof InvalidArgumentError &&
      e.expected === "recv.length === 4 (send.length 2 × size 2)" &&
      e.actual === "recv.length === 3" && e.code === "EINVAL",
  );
  for (const r of [-1, 4, 0.5, NaN]) assert.throws(() => checkRoot("bcast", r, 4), /root/);
  checkRoot("bcast", 3, 4);
  assert.throws(() => checkCount("x", 2 ** 31), /exceeds the limit of 2147483647/);
  checkCount("x", 2 ** 31 - 1);
  const b = new Float32Array(8);
  assert.throws(() => checkDisjoint("x", b.subarray(0, 4), b.subarray(3, 8)), /overlap/);
  checkDisjoint("x", b.subarray(0, 4), b.subarray(4, 8));
  checkDisjoint("x", b.subarray(0, 0), b);
});
