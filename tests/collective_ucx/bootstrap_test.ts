import assert from "node:assert/strict";
import { bootstrap, type BootstrapConfig } from "../../lib/collective/ucx/bootstrap.ts";
import { freePort, launch } from "../../lib/collective/ucx/launch.ts";
import { InvalidArgumentError, PeerError, TimeoutError } from "../../mod.ts";

const rankScript = new URL("./rank_bootstrap.ts", import.meta.url).pathname;
const addr = (s: string) => new TextEncoder().encode(s);
const cfg = (rank: number, size: number, port: number): BootstrapConfig => ({
  rank,
  size,
  rootHost: "127.0.0.1",
  rootPort: port,
});

Deno.test("launcher + bootstrap: 4 ranks exchange addresses and agree on the table", async () => {
  const lines: string[] = [];
  const r = await launch({ ranks: 4, script: rankScript, timeoutS: 60, out: (l) => lines.push(l) });
  assert.ok(r.success, `${r.reason}\n${lines.join("\n")}`);
  const tables = lines.filter((l) => / table 4 /.test(l));
  assert.equal(tables.length, 4, lines.join("\n"));
  for (let i = 0; i < 4; i++) assert.ok(tables.some((l) => l.startsWith(`[${i}] `)));
  assert.equal(new Set(tables.map((l) => l.replace(/^\[\d\] /, ""))).size, 1, "same table");
});

Deno.test("launcher: a failing rank stops the others and the launch fails", async () => {
  const lines: string[] = [];
  const t0 = performance.now();
  const r = await launch({
    ranks: 3,
    script: rankScript,
    args: ["fail-rank", "1"],
    timeoutS: 60,
    out: (l) => lines.push(l),
  });
  assert.equal(r.success, false);
  assert.match(r.reason ?? "", /rank 1 failed \(exit 3\)/);
  assert.ok(performance.now() - t0 < 30_000, "the sleeping ranks were stopped");
  assert.equal(r.codes[1], 3);
});

Deno.test("bootstrap in one process: root and peers, size 1, and bad configs", async () => {
  const port = freePort();
  const t = await Promise.all([0, 1, 2].map((r) => bootstrap(cfg(r, 3, port), addr(`a${r}`))));
  for (const table of t) assert.deepEqual(table, [addr("a0"), addr("a1"), addr("a2")]);
  assert.deepEqual(await bootstrap(cfg(0, 1, port), addr("solo")), [addr("solo")]);
  assert.throws(() => bootstrap(cfg(3, 3, port), addr("x")), InvalidArgumentError);
  assert.throws(() => bootstrap(cfg(0, 2, port), new Uint8Array()), InvalidArgumentError);
});

Deno.test("bootstrap: a duplicate rank fails every rank with a PeerError", async () => {
  const port = freePort();
  const rs = await Promise.allSettled([
    bootstrap(cfg(0, 3, port), addr("r0"), { timeoutMs: 10_000 }),
    bootstrap(cfg(1, 3, port), addr("r1"), { timeoutMs: 10_000 }),
    new Promise((r) => setTimeout(r, 100)).then(() =>
      bootstrap(cfg(1, 3, port), addr("again"), { timeoutMs: 10_000 })
    ),
  ]);
  for (const r of rs) {
    assert.equal(r.status, "rejected");
    assert.ok(r.reason instanceof PeerError, String(r.reason));
    assert.match(String(r.reason.message), /rank 1 joined twice/);
  }
});

Deno.test("bootstrap: a size mismatch is reported to both sides", async () => {
  const port = freePort();
  const rs = await Promise.allSettled([
    bootstrap(cfg(0, 2, port), addr("r0"), { timeoutMs: 10_000 }),
    bootstrap(cfg(1, 3, port), addr("r1"), { timeoutMs: 10_000 }),
  ]);
  for (const r of rs) {
    assert.equal(r.status, "rejected");
    assert.match(String(r.reason), /size 3.*size 2/);
  }
});

Deno.test("bootstrap: an unreachable root and a rank that never arrives time out", async () => {
  const port = freePort(); // nobody listens here
  const t0 = performance.now();
  await assert.rejects(
    bootstrap(cfg(1, 2, port), addr("lonely"), { timeoutMs: 400 }),
    (e: unknown) => e instanceof TimeoutError && /cannot reach the bootstrap root/.test(e.message),
  );
  assert.ok(performance.now() - t0 < 5_000);

  const port2 = freePort();
  const rs = await Promise.allSettled([
    bootstrap(cfg(0, 3, port2), addr("r0"), { timeoutMs: 600 }),
    bootstrap(cfg(1, 3, port2), addr("r1"), { timeoutMs: 5_000 }),
  ]);
  assert.equal(rs[0].status, "rejected");
  assert.ok(rs[0].reason instanceof TimeoutError);
  assert.match(rs[0].reason.message, /rank\(s\) 2 never arrived/);
  assert.equal(rs[1].status, "rejected");
  assert.ok(rs[1].reason instanceof PeerError, String(rs[1].reason));
});

Deno.test("UcxCommunicator over shared memory (errorHandling none): 3 ranks agree", async () => {
  const lines: string[] = [];
  const script = new URL("./rank_shm.ts", import.meta.url).pathname;
  const r = await launch({ ranks: 3, script, timeoutS: 90, out: (l) => lines.push(l) });
  assert.ok(r.success, `${r.reason}\n${lines.join("\n")}`);
  assert.equal(lines.filter((l) => / shm ok 12$/.test(l)).length, 3, lines.join("\n"));
});

Deno.test("UcxCommunicator.create refuses a bad spinUs before it creates anything", async () => {
  const { UcxCommunicator } = await import("../../lib/collective/mod.ts");
  for (const spinUs of [-1, NaN, Infinity, 2e6]) {
    await assert.rejects(
      UcxCommunicator.create({ config: cfg(0, 1, 1), spinUs }),
      (e: unknown) => e instanceof InvalidArgumentError && /spinUs/.test(String(e)),
    );
  }
});
