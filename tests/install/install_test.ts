/**
 * Installing from a URL, end to end: the package tree is served over http on 127.0.0.1, a
 * fresh `HOME` and `DENO_DIR` import it by URL, the install command builds the native library
 * (one full cargo build, offline against the shared cargo registry) into
 * `~/.cache/pluvio/<version>`, and a script from that URL then does io_uring file I/O and a
 * UCX message. Before that, the loader's error names the install command for the URL, and a
 * tree with one tampered source is refused without installing anything.
 */
import assert from "node:assert/strict";
import { VERSION } from "../../lib/ffi/native_sources.ts";
import { outputWithin } from "../helpers/bounded.ts";

const root = new URL("../../", import.meta.url);
const rootPath = decodeURIComponent(root.pathname);
const PUBLISHED = /^(mod\.ts|install\.ts|deno\.json|lib\/.+|native\/.+)$/;
const TAMPERED = "native/src/lib.rs";

/** Serves `/pkg/<file>` from the package's published files; `/bad/` with one file changed. */
function serve(): { server: Deno.HttpServer<Deno.NetAddr>; base: string } {
  const server = Deno.serve(
    { hostname: "127.0.0.1", port: 0, onListen() {} },
    async (req) => {
      const m = /^\/(pkg|bad)\/(.+)$/.exec(new URL(req.url).pathname);
      const path = m ? decodeURIComponent(m[2]) : "";
      if (!m || !PUBLISHED.test(path) || path.includes("..") || path.startsWith("native/target/")) {
        return new Response("not found", { status: 404 });
      }
      try {
        let body = await Deno.readFile(`${rootPath}${path}`);
        if (m[1] === "bad" && path === TAMPERED) {
          body = new Uint8Array([...body, ...new TextEncoder().encode("\n// changed\n")]);
        }
        return new Response(body);
      } catch {
        return new Response("not found", { status: 404 });
      }
    },
  );
  return { server, base: `http://127.0.0.1:${server.addr.port}` };
}

function systemUcx(): boolean {
  try {
    return new Deno.Command("pkg-config", { args: ["--atleast-version=1.13", "ucx"] }).outputSync()
      .success;
  } catch {
    return false;
  }
}

/** Runs `deno <args>` in `cwd` with exactly `env`; kills it after `timeoutMs`. */
async function deno(
  args: string[],
  cwd: string,
  env: Record<string, string>,
  timeoutMs: number,
): Promise<{ code: number; stdout: string; stderr: string }> {
  const child = new Deno.Command(Deno.execPath(), {
    args,
    cwd,
    env,
    clearEnv: true,
    stdin: "null",
    stdout: "piped",
    stderr: "piped",
  }).spawn();
  const { output: out } = await outputWithin(child, timeoutMs);
  const dec = new TextDecoder();
  return { code: out.code, stdout: dec.decode(out.stdout), stderr: dec.decode(out.stderr) };
}

/** What a user's script does: io_uring O_DIRECT write + read back, then a UCX AM round. */
function userScript(pkg: string): string {
  return `
import { Runtime } from "${pkg}/mod.ts";
import { allocAligned, DmaFile, IoUringReactor } from "${pkg}/lib/uring/mod.ts";
import { Context } from "${pkg}/lib/ucx/mod.ts";
import { libraryPath } from "${pkg}/lib/ffi/library.ts";

const rt = new Runtime();
const uring = IoUringReactor.builder().queueSize(8).bufferSize(4096).bufferCount(2).build();
rt.registerReactor("io_uring", uring);
const ctx = new Context();
const a = ctx.createWorker();
const b = ctx.createWorker();
const path = Deno.makeTempDirSync({ dir: Deno.cwd() }) + "/data";
const result = await rt.run(async () => {
  await using file = await DmaFile.open(path, { write: true, create: true });
  const out = allocAligned(4096);
  out.fill(7);
  await file.write(out, 0);
  const back = allocAligned(4096);
  const n = await file.read(back, 0);
  const stream = b.amStream(5);
  const got = stream.recv();
  await a.connectAddr(b.address()).amSend(5, new Uint8Array([1, 2, 3]));
  const msg = await got;
  return { read: n, same: back.every((v) => v === 7), header: [...msg.header] };
});
a.close();
b.close();
ctx.close();
await uring.close();
rt.close();
console.log(JSON.stringify({ ...result, lib: libraryPath() }));
`;
}

Deno.test("install from an http URL into a fresh HOME: refuses tampered sources, builds, runs", {
  sanitizeResources: false,
  sanitizeOps: false,
}, async () => {
  const tmp = Deno.makeTempDirSync({ prefix: "pluvio-install-test-" });
  const { server, base } = serve();
  try {
    const realHome = Deno.env.get("HOME") ?? "/root";
    const home = `${tmp}/home`;
    Deno.mkdirSync(home);
    const env: Record<string, string> = {
      HOME: home,
      DENO_DIR: `${tmp}/deno`,
      PATH: `${Deno.env.get("PATH") ?? "/usr/bin:/bin"}:${realHome}/.cargo/bin`,
      // The shared registry, so the build needs no network.
      CARGO_HOME: Deno.env.get("CARGO_HOME") ?? `${realHome}/.cargo`,
      RUSTUP_HOME: Deno.env.get("RUSTUP_HOME") ?? `${realHome}/.rustup`,
      CARGO_NET_OFFLINE: "true",
      // What the script uses (MPI is built and tested by the other tests): the site's UCX
      // when pkg-config finds one, as native/build.ts would choose.
      PLUVIO_FEATURES: `uring,${systemUcx() ? "ucx" : "ucx-bundled"}`,
      NO_COLOR: "1",
    };
    for (const [k, v] of Object.entries(Deno.env.toObject())) {
      if (/^(PLUVIO_UCX|UCX_|LIBCLANG_PATH|PKG_CONFIG)/.test(k)) env[k] = v;
    }
    const cache = `${home}/.cache/pluvio/${VERSION}`;
    Deno.writeTextFileSync(`${tmp}/user.ts`, userScript(`${base}/pkg`));

    const before = await deno(["run", "-A", "user.ts"], tmp, env, 120_000);
    assert.notEqual(before.code, 0, before.stdout);
    assert.match(before.stderr, /NativeLibraryError/);
    assert.ok(
      before.stderr.includes(`install it with: deno run -A ${base}/pkg/install.ts`),
      before.stderr,
    );

    const bad = await deno(["run", "-A", `${base}/bad/install.ts`], tmp, env, 120_000);
    assert.notEqual(bad.code, 0, bad.stderr);
    assert.ok(bad.stderr.includes(`refusing ${base}/bad/${TAMPERED}`), bad.stderr);
    assert.match(bad.stderr, /nothing was installed/);
    assert.throws(() => Deno.statSync(`${cache}/libpluvio.so`), Deno.errors.NotFound);

    const t0 = performance.now();
    const inst = await deno(["run", "-A", `${base}/pkg/install.ts`], tmp, env, 1_200_000);
    const secs = ((performance.now() - t0) / 1000).toFixed(0);
    assert.equal(inst.code, 0, `install failed after ${secs} s:\n${inst.stderr}`);
    assert.match(inst.stderr, /fetching \d+ native source files/);
    assert.match(inst.stderr, /Compiling pluvio_native/); // cargo's progress reaches the user
    assert.ok(inst.stderr.includes(`installed ${cache}/libpluvio.so`), inst.stderr);
    console.error(`  (install: full cargo build in ${secs} s)`);
    // The build directory is gone; only the library (and its bundled libraries) stay.
    for (const e of Deno.readDirSync(cache)) assert.match(e.name, /^(libpluvio\.so|ucx)$/);

    const after = await deno(["run", "-A", "user.ts"], tmp, env, 120_000);
    assert.equal(after.code, 0, after.stderr);
    const r = JSON.parse(after.stdout.trim().split("\n").at(-1)!);
    assert.deepEqual(r, {
      read: 4096,
      same: true,
      header: [1, 2, 3],
      lib: `${cache}/libpluvio.so`,
    });
  } finally {
    await server.shutdown();
    Deno.removeSync(tmp, { recursive: true });
  }
});
