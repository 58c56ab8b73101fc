// Environment knobs and library loading, each in a child process (they are read once).
import assert from "node:assert/strict";

const child = new URL("./idle_child.ts", import.meta.url).pathname;

async function run(env: Record<string, string>, script = child) {
  const out = await new Deno.Command(Deno.execPath(), {
    args: ["run", "-A", script],
    env,
    stdin: "null",
    signal: AbortSignal.timeout(30_000),
  }).output();
  const d = new TextDecoder();
  return { code: out.code, stdout: d.decode(out.stdout), stderr: d.decode(out.stderr) };
}

Deno.test("PLUVIO_IDLE_PARK selects doorbell, wait or no parking at all", async () => {
  const stats = async (park: string) => {
    const r = await run({ PLUVIO_IDLE_PARK: park });
    assert.equal(r.code, 0, r.stderr);
    return JSON.parse(r.stdout.trim().split("\n").at(-1)!);
  };
  // Each of the child's five sleeps parks; most wake through the native path (a park
  // armed early for a timer may instead end on its deadline while the VM wakes slowly).
  const parked = (s: { parks: number; nativeWakes: number }) =>
    assert.ok(s.parks >= 5 && s.nativeWakes >= 1, JSON.stringify(s));
  const doorbell = await stats("doorbell");
  parked(doorbell);
  const wait = await stats("wait");
  parked(wait);
  const off = await stats("off");
  assert.equal(off.nativeWakes, 0, JSON.stringify(off));
  assert.ok(off.yields > doorbell.yields, "without parking the executor keeps yielding");
});

Deno.test("PLUVIO_IDLE_SLEEP_AFTER is honoured and bad values are refused", async () => {
  const never = await run({ PLUVIO_IDLE_SLEEP_AFTER: "100000000" });
  assert.equal(never.code, 0, never.stderr);
  assert.equal(JSON.parse(never.stdout.trim()).nativeWakes, 0, "never idle long enough to park");
  const bad = await run({ PLUVIO_IDLE_YIELD_AFTER: "-3" });
  assert.notEqual(bad.code, 0);
  assert.match(bad.stderr, /PLUVIO_IDLE_YIELD_AFTER="-3" is not a non-negative integer/);
  const badPark = await run({ PLUVIO_IDLE_PARK: "sometimes" });
  assert.notEqual(badPark.code, 0);
  assert.match(badPark.stderr, /PLUVIO_IDLE_PARK/);
});

Deno.test("a missing native library is an error that names the build command", async () => {
  const r = await run({ PLUVIO_LIB_PATH: "/nonexistent/libpluvio.so" });
  assert.notEqual(r.code, 0);
  assert.match(r.stderr, /NativeLibraryError/);
  assert.match(r.stderr, /\/nonexistent\/libpluvio\.so/);
  assert.match(r.stderr, /deno task build/);
});
