/**
 * The UCX examples run end to end (each spawns its own server process and checks what
 * the server received; a mismatch makes it exit non-zero).
 */
import assert from "node:assert/strict";
import { UCX_ENV } from "./helpers.ts";

async function runExample(args: string[]): Promise<string> {
  const script = new URL(`../../examples/${args[0]}`, import.meta.url).pathname;
  const child = new Deno.Command(Deno.execPath(), {
    args: ["run", "-A", script, ...args.slice(1)],
    stdin: "null",
    stdout: "piped",
    stderr: "piped",
    env: UCX_ENV,
  }).spawn();
  const kill = setTimeout(() => child.kill("SIGKILL"), 60_000);
  try {
    const out = await child.output();
    const text = new TextDecoder().decode(out.stdout);
    assert.ok(out.success, `${args.join(" ")} failed: ${new TextDecoder().decode(out.stderr)}`);
    return text;
  } finally {
    clearTimeout(kill);
  }
}

for (const [size, count, window] of [["1048576", "200", "32"], ["4096", "20000", "32"]]) {
  Deno.test(`example ucx_example.ts: ${count} × ${size} B, window ${window}`, async () => {
    const out = await runExample(["ucx_example.ts", "auto", size, count, window]);
    assert.match(
      out,
      new RegExp(
        `^${count} messages of ${size} B, window ${window}: [\\d.]+ s, [\\d.]+ MiB/s, \\d+ messages/s`,
        "m",
      ),
    );
  });
}

Deno.test("example remoteio_example.ts: writes, reads back and verifies", async () => {
  const out = await runExample(["remoteio_example.ts"]);
  assert.match(out, /^verified \d+ blocks$/m);
});
