// Host identity and pidfds (lib/ffi/process.ts over native/src/proc.rs).
import assert from "node:assert/strict";
import { hostId, Pidfd } from "../../lib/ffi/process.ts";
import { ClosedError, InvalidArgumentError, OsError } from "../../lib/errors.ts";

Deno.test("hostId: the boot id and PID namespace, the same on every call", () => {
  const a = hostId(), b = hostId();
  assert.ok(a && b, "this Linux has /proc");
  assert.deepEqual(a, b);
  const text = new TextDecoder().decode(a);
  const boot = Deno.readTextFileSync("/proc/sys/kernel/random/boot_id").trim();
  const ino = Deno.statSync("/proc/self/ns/pid").ino;
  assert.equal(text, `${boot}/pidns:${ino}`);
});

Deno.test("Pidfd: a child is running until it ends, then exited", async () => {
  // `cat` runs until its stdin closes: no timing involved.
  const child = new Deno.Command("cat", { stdin: "piped", stdout: "null" }).spawn();
  using fd = Pidfd.open(child.pid);
  assert.equal(fd.pid, child.pid);
  assert.ok(fd.fd >= 0);
  assert.equal(fd.exited(), false, "running");
  assert.equal(fd.exited(), false, "still running");
  await child.stdin.close();
  const status = await child.status;
  assert.equal(status.success, true);
  assert.equal(fd.exited(), true, "exited");
  fd.close();
  fd.close(); // idempotent
  assert.equal(fd.fd, -1);
  assert.throws(() => fd.exited(), ClosedError);
});

Deno.test("Pidfd: this process is not exited", () => {
  using fd = Pidfd.open(Deno.pid);
  assert.equal(fd.exited(), false);
});

Deno.test("Pidfd.open: a bogus pid gives a typed error", () => {
  // Above the largest pid_max (2^22): no such process.
  assert.throws(
    () => Pidfd.open(0x7fff_ffff),
    (e: unknown) => e instanceof OsError && e.code === "ESRCH" && e.errno === 3,
  );
  for (const pid of [0, -1]) {
    assert.throws(() => Pidfd.open(pid), InvalidArgumentError, `pid ${pid}`);
  }
  for (const pid of [1.5, NaN, 2 ** 31]) {
    assert.throws(() => Pidfd.open(pid), InvalidArgumentError, `pid ${pid}`);
  }
});
