/**
 * The FFI layout of the UCX backend: every constant of `lib/ucx/layout.ts` matches the
 * value the native library reports for it (`pluvio_ucx_layout`), and none is missing on
 * either side.
 */
import assert from "node:assert/strict";
import { LAYOUT } from "../../lib/ucx/layout.ts";
import { readText, ucx } from "../../lib/ucx/native.ts";

Deno.test("ucx: the TypeScript layout constants match the native library's", () => {
  const text = readText(
    (b) => ucx().pluvio_ucx_layout(b, BigInt(b.length)),
    "reading the UCX layout",
  );
  const native: Record<string, number> = {};
  for (const line of text.split("\n")) {
    if (line === "") continue;
    const at = line.indexOf("=");
    native[line.slice(0, at)] = Number(line.slice(at + 1));
  }
  assert.deepEqual(Object.keys(native).sort(), Object.keys(LAYOUT).sort());
  for (const [k, v] of Object.entries(LAYOUT)) assert.equal(v, native[k], k);
  // The ring's event size is also what the worker's areas are built with.
  assert.equal(Number(ucx().pluvio_ucx_ring_info(2)), LAYOUT.EVENT_WORDS);
});
