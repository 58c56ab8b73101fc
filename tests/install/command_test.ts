/** The install command the loader names, for each place pluvio may be imported from. */
import assert from "node:assert/strict";
import { cacheDir, installCommand } from "../../lib/ffi/cache.ts";

Deno.test("the install command matches the URL pluvio was imported from", () => {
  assert.equal(
    installCommand(new URL("https://jsr.io/@pluvio/pluvio/0.1.0/")),
    "deno run -A jsr:@pluvio/pluvio@0.1.0/install",
  );
  assert.equal(
    installCommand(new URL("https://example.org/x/pluvio/")),
    "deno run -A https://example.org/x/pluvio/install.ts",
  );
  assert.match(installCommand(new URL("file:///opt/pluvio/")), /deno task build .*\/opt\/pluvio/);
  assert.match(
    installCommand(new URL("file:///opt/pluvio/")),
    /deno run -A \/opt\/pluvio\/install\.ts/,
  );
});

Deno.test("the cache directory: PLUVIO_CACHE_DIR, else XDG_CACHE_HOME, else HOME", () => {
  const saved = ["PLUVIO_CACHE_DIR", "XDG_CACHE_HOME", "HOME"].map((k) => [k, Deno.env.get(k)]);
  try {
    Deno.env.set("HOME", "/home/u");
    Deno.env.delete("XDG_CACHE_HOME");
    Deno.env.delete("PLUVIO_CACHE_DIR");
    assert.equal(cacheDir("1.2.3"), "/home/u/.cache/pluvio/1.2.3");
    Deno.env.set("XDG_CACHE_HOME", "/xdg/");
    assert.equal(cacheDir("1.2.3"), "/xdg/pluvio/1.2.3");
    Deno.env.set("PLUVIO_CACHE_DIR", "/opt/cache");
    assert.equal(cacheDir("1.2.3"), "/opt/cache/1.2.3");
  } finally {
    for (const [k, v] of saved) v === undefined ? Deno.env.delete(k!) : Deno.env.set(k!, v);
  }
});
