/**
 * Mismatches and root-only rejections on the UCX backend with real rank processes
 * (rank_mismatch.ts): every rank fails the call with a typed error within 1 s, naming both
 * sides, and the next allreduce is correct.
 */
import assert from "node:assert/strict";
import { launch } from "../../lib/collective/ucx/launch.ts";

const here = (f: string) => new URL(f, import.meta.url).pathname;

const MISMATCHES: Record<string, RegExp> = {
  "dtype-same-bytes":
    /called allreduce\[ring\]\(Float64 × 100, Sum\) where rank 0 called allreduce\[ring\]\(Float32 × 200, Sum\)/,
  "dtype-other-bytes":
    /Float64 × 100, Sum\) where rank 0 called allreduce\[ring\]\(Float32 × 100, Sum\)/,
  "op": /\(Float32 × 1000, Sum\) where rank 0 called allreduce\[ring\]\(Float32 × 1000, Max\)/,
  "count": /\(Float32 × 1000, Sum\) where rank 0 called allreduce\[ring\]\(Float32 × 1001, Sum\)/,
  "kind": /broadcast\[binomial\]\(Float32 × 16, root 0\) where rank 0 called allreduce\[ring\]/,
  "small-op":
    /\(Int32 × 1, Sum\) where rank 0 called allreduce\[recursive-doubling\]\(Int32 × 1, Max\)/,
  "root-broadcast":
    /called broadcast\[binomial\]\(Float32 × 64, root \d\) where rank \d called broadcast/,
  "root-gather":
    /called gather\(Float32 × 8, root \d\) where rank \d called gather\(Float32 × 8, root \d\)/,
};

for (const n of [2, 3]) {
  Deno.test(`ucx collectives: mismatches and root-only rejections fail every rank on ${n} ranks`, async () => {
    const lines: string[] = [];
    const r = await launch({
      ranks: n,
      script: here("rank_mismatch.ts"),
      timeoutS: 120,
      out: (l) => lines.push(l),
    });
    const text = lines.join("\n");
    assert.ok(r.success, `${r.reason}\n${text}`);
    const cases = new Map<string, { rank: number; cls: string; ms: number; msg: string }[]>();
    for (const l of lines) {
      const m = /^\[(\d+)\] CASE (\S+) (\S+) (\d+) ?(.*)$/.exec(l);
      if (!m) continue;
      const list = cases.get(m[2]) ?? [];
      list.push({ rank: Number(m[1]), cls: m[3], ms: Number(m[4]), msg: m[5] });
      cases.set(m[2], list);
    }
    for (const [name, re] of Object.entries(MISMATCHES)) {
      const got = cases.get(name) ?? [];
      assert.equal(got.length, n, `${name}: every rank reported\n${text}`);
      for (const g of got) {
        assert.equal(g.cls, "MismatchError", `${name} on rank ${g.rank}: ${g.msg}`);
        assert.match(g.msg, re, `${name} on rank ${g.rank}`);
        assert.ok(g.ms < 1000, `${name} on rank ${g.rank} within 1 s: ${g.ms} ms`);
      }
    }
    const rejections: [string, string, RegExp][] = [
      ["reject-scatter", "InvalidArgumentError", /send is required at the root/],
      ["reject-op", "InvalidArgumentError", /unknown reduction undefined/],
      ["reject-gather", "ShapeError", /recv\.length === 3/],
    ];
    for (const [name, cls, re] of rejections) {
      const got = cases.get(name) ?? [];
      assert.equal(got.length, n, `${name}: every rank reported\n${text}`);
      for (const g of got) {
        assert.ok(g.ms < 1000, `${name} on rank ${g.rank} within 1 s: ${g.ms} ms`);
        if (g.rank === 0) {
          assert.equal(g.cls, cls, `${name} at the root: ${g.msg}`);
          assert.match(g.msg, re);
        } else if (name === "reject-gather" && g.cls === "resolved") {
          // A gather sender whose message left before the root's notice arrived is done.
        } else {
          assert.equal(g.cls, "PeerRejectedError", `${name} on rank ${g.rank}: ${g.msg}`);
          assert.match(g.msg, /rank 0 rejected the call/);
          assert.match(g.msg, re);
        }
      }
    }
    for (const name of cases.keys()) {
      for (let k = 0; k < n; k++) assert.ok(lines.includes(`[${k}] AFTER ${name} ok`), name);
    }
  });
}

for (const n of [3, 4]) {
  Deno.test(`ucx collectives: split and dup on ${n} ranks`, async () => {
    const lines: string[] = [];
    const r = await launch({
      ranks: n,
      script: here("rank_split.ts"),
      timeoutS: 120,
      out: (l) => lines.push(l),
    });
    const text = lines.join("\n");
    assert.ok(r.success, `${r.reason}\n${text}`);
    assert.equal(lines.filter((l) => / SPLIT OK \d+/.test(l)).length, n, text);
  });
}
