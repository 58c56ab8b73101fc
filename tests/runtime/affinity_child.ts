// Child process of runtime_test.ts: pins its JS thread, checks the errors, reports.
import assert from "node:assert/strict";
import { InvalidArgumentError, Runtime } from "../../mod.ts";

const rt = new Runtime();
rt.setAffinity(0);
const stat = Deno.readTextFileSync("/proc/thread-self/status");
const allowed = /Cpus_allowed_list:\s*(\S+)/.exec(stat)?.[1];
assert.equal(allowed, "0", `thread should be pinned to cpu 0, status says ${allowed}`);
assert.throws(() => rt.setAffinity(-1), InvalidArgumentError);
assert.throws(() => rt.setAffinity(1.5), InvalidArgumentError);
assert.throws(() => rt.setAffinity(100_000), (e: unknown) => {
  assert.ok(e instanceof InvalidArgumentError);
  assert.equal(e.errno, 22);
  return true;
});
// In range of the kernel's mask type but not present on this machine.
assert.throws(() => rt.setAffinity(1000), (e: unknown) => {
  assert.ok(e instanceof InvalidArgumentError, String(e));
  assert.match((e as Error).message, /cpu 1000/);
  return true;
});
console.log("affinity ok");
