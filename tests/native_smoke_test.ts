// The native chain end to end: each backend's first real call, reached from Deno.
import assert from "node:assert/strict";
import { checkPtr, coreLib, hasBackend, openBackend } from "../lib/ffi/library.ts";
import { URING_SYMBOLS } from "../lib/ffi/symbols/uring.ts";
import { UCX_SYMBOLS } from "../lib/ffi/symbols/ucx.ts";
import { ABI_VERSION } from "../mod.ts";
import { ucxVersion } from "../lib/ucx/mod.ts";
import { mpirun, requireMpi, skipMpi } from "./helpers/mpirun.ts";

Deno.test("native library: ABI version and features", () => {
  const core = coreLib();
  assert.equal(core.pluvio_abi_version(), ABI_VERSION);
  assert.equal(hasBackend("uring"), true);
  assert.equal(hasBackend("ucx"), true);
  const t1 = core.pluvio_now_ns();
  const t2 = core.pluvio_now_ns();
  assert.ok(t2 >= t1);
});

Deno.test("io_uring: ring setup, NOP round trip, teardown", () => {
  const u = openBackend("uring", URING_SYMBOLS);
  const ring = checkPtr(u.pluvio_uring_create(8), "io_uring setup");
  try {
    for (const tag of [1n, 0xdead_beef_cafe_f00dn]) {
      assert.equal(u.pluvio_uring_nop(ring, tag), 0, "NOP completes with result 0");
    }
  } finally {
    assert.equal(u.pluvio_uring_destroy(ring), 0);
  }
  assert.throws(() => checkPtr(u.pluvio_uring_create(0), "io_uring setup"), /EINVAL|invalid/i);
});

Deno.test("UCX: context and worker create/destroy, worker address", () => {
  const x = openBackend("ucx", UCX_SYMBOLS);
  const ctx = checkPtr(x.pluvio_ucx_context_create(), "UCX context");
  try {
    const w1 = checkPtr(x.pluvio_ucx_worker_create(ctx), "UCX worker");
    const w2 = checkPtr(x.pluvio_ucx_worker_create(ctx), "UCX worker");
    try {
      const len = Number(x.pluvio_ucx_worker_address(w1, null, 0n));
      assert.ok(len > 16, `address length ${len}`);
      const a1 = new Uint8Array(len);
      const a2 = new Uint8Array(len);
      assert.equal(Number(x.pluvio_ucx_worker_address(w1, a1, BigInt(len))), len);
      x.pluvio_ucx_worker_address(w2, a2, BigInt(len));
      assert.notDeepEqual(a1, a2, "two workers have different addresses");
    } finally {
      x.pluvio_ucx_worker_destroy(w2);
      x.pluvio_ucx_worker_destroy(w1);
    }
  } finally {
    x.pluvio_ucx_context_destroy(ctx);
  }
});

Deno.test("UCX: the library reports the UCX it was built against and the one it loaded", () => {
  const { builtAgainst, loaded } = ucxVersion();
  assert.match(builtAgainst, /^(system \d+\.\d+(\.\d+)?|bundled 1\.12\.1)$/);
  assert.match(loaded, /^\d+\.\d+\.\d+/);
  // A system build runs the installation's library (the loader found it, no copy).
  if (builtAgainst.startsWith("system")) {
    assert.ok(
      loaded.startsWith(builtAgainst.slice("system ".length)),
      `${builtAgainst} / ${loaded}`,
    );
  } else assert.equal(loaded, "1.12.1");
});

Deno.test({
  name: "MPI: init, rank, size and finalize under mpirun -n 2",
  ignore: skipMpi,
  fn: async () => {
    requireMpi();
    const rank = new URL("./native/mpi_smoke_rank.ts", import.meta.url).pathname;
    const { stdout, context } = await mpirun(2, rank);
    const lines = stdout.split("\n").filter((l) => l.startsWith("mpi-smoke")).sort();
    assert.deepEqual(lines, ["mpi-smoke rank 0 of 2 ok", "mpi-smoke rank 1 of 2 ok"], context);
  },
});
