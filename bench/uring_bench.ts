/**
 * io_uring benchmark: fio (io_uring, O_DIRECT) vs pluvio (DmaFile, fixed buffers, plain
 * `await` loops; on io_uring and on the thread backend) vs Deno's own file API (node:fs
 * positional reads/writes on an O_DIRECT descriptor, N concurrent promises), on the same
 * target, in one run. Each measurement runs in its own process; tools alternate within
 * every repetition and the table shows medians.
 *
 * Two targets: `disk` (a file on /tmp, the virtio disk) and `fast` (a loop device over a
 * file in /dev/shm, created with losetup and detached afterwards, or `--device PATH`):
 * there the CPU is the limit, as on NVMe.
 *
 * Usage: deno run -A bench/uring_bench.ts [--mode both|disk|fast] [--seconds 2] [--reps 3]
 *          [--size-mib 1024] [--file /tmp/pluvio_bench_uring.dat] [--device PATH]
 *          [--write-results]
 *
 * @module
 */

function arg(name: string, fallback: string): string {
  const i = Deno.args.indexOf(`--${name}`);
  return i >= 0 && i + 1 < Deno.args.length ? Deno.args[i + 1] : fallback;
}

const seconds = Number(arg("seconds", "2"));
const reps = Number(arg("reps", "3"));
const sizeMiB = Number(arg("size-mib", "1024"));
const diskFile = arg("file", "/tmp/pluvio_bench_uring.dat");
const givenDevice = arg("device", "");
const mode = arg("mode", "both");
const fastMiB = Number(arg("fast-size-mib", "512"));
const here = new URL(".", import.meta.url).pathname;
/** The current target (file or device) and its size. */
let file = diskFile;
let size = sizeMiB * 1024 * 1024;

interface Case {
  name: string;
  rw: "randread" | "randwrite" | "read" | "write";
  bs: number;
  qd: number;
}

const DISK_CASES: Case[] = [
  { name: "4 KiB rand read QD1", rw: "randread", bs: 4096, qd: 1 },
  { name: "4 KiB rand read QD32", rw: "randread", bs: 4096, qd: 32 },
  { name: "4 KiB rand write QD32", rw: "randwrite", bs: 4096, qd: 32 },
  { name: "1 MiB seq read QD8", rw: "read", bs: 1 << 20, qd: 8 },
  { name: "1 MiB seq write QD8", rw: "write", bs: 1 << 20, qd: 8 },
];

const FAST_CASES: Case[] = [
  { name: "4 KiB rand read QD1", rw: "randread", bs: 4096, qd: 1 },
  { name: "4 KiB rand read QD32", rw: "randread", bs: 4096, qd: 32 },
  { name: "4 KiB rand read QD128", rw: "randread", bs: 4096, qd: 128 },
  { name: "4 KiB rand write QD1", rw: "randwrite", bs: 4096, qd: 1 },
  { name: "4 KiB rand write QD32", rw: "randwrite", bs: 4096, qd: 32 },
  { name: "4 KiB rand write QD128", rw: "randwrite", bs: 4096, qd: 128 },
  { name: "1 MiB seq read QD8", rw: "read", bs: 1 << 20, qd: 8 },
  { name: "1 MiB seq write QD8", rw: "write", bs: 1 << 20, qd: 8 },
];

interface Result {
  iops: number;
  mbps: number;
  latMeanUs: number;
  latP99Us: number;
  cpuUsPerIo: number;
}

type Tool = "fio" | "pluvio" | "pluvio-spin" | "pluvio-threads" | "deno";

let fastMode = false;

function toolsFor(c: Case): Tool[] {
  // On the disk at QD1 the latency target needs the executor to poll instead of parking
  // between completions: measure both the default (parks) and waitCompleteTimeout(1 ms).
  if (fastMode) return ["fio", "pluvio", "pluvio-threads", "deno"];
  return c.qd === 1 ? ["fio", "pluvio", "pluvio-spin", "deno"] : ["fio", "pluvio", "deno"];
}

async function run(cmd: string, args: string[], env?: Record<string, string>): Promise<string> {
  const out = await new Deno.Command(cmd, {
    args,
    env,
    stdin: "null",
    stderr: "piped",
    stdout: "piped",
  }).output();
  const text = new TextDecoder().decode(out.stdout);
  if (!out.success) {
    throw new Error(`${cmd} ${args.join(" ")} failed:\n${new TextDecoder().decode(out.stderr)}`);
  }
  return text;
}

async function fio(c: Case): Promise<Result> {
  const out = await run("fio", [
    "--name=bench",
    `--filename=${file}`,
    "--ioengine=io_uring",
    "--direct=1",
    "--fixedbufs=1",
    `--rw=${c.rw}`,
    `--bs=${c.bs}`,
    `--iodepth=${c.qd}`,
    `--size=${size}`,
    "--time_based=1",
    `--runtime=${seconds}`,
    "--ramp_time=0.2",
    "--norandommap=1",
    "--randrepeat=0",
    "--lat_percentiles=1",
    "--output-format=json",
  ]);
  const job = JSON.parse(out.slice(out.indexOf("{"))).jobs[0];
  const d = c.rw.includes("write") ? job.write : job.read;
  const runtimeMs = job.job_runtime as number;
  const cpuMs = ((job.usr_cpu + job.sys_cpu) / 100) * runtimeMs;
  return {
    iops: d.iops,
    mbps: d.bw_bytes / 1e6,
    latMeanUs: d.lat_ns.mean / 1000,
    latP99Us: d.lat_ns.percentile["99.000000"] / 1000,
    cpuUsPerIo: (cpuMs * 1000) / d.total_ios,
  };
}

async function child(tool: Tool, c: Case): Promise<Result> {
  const out = await run(Deno.execPath(), [
    "run",
    "-A",
    `${here}uring/child.ts`,
    "--tool",
    tool.startsWith("pluvio") ? "pluvio" : tool,
    "--rw",
    c.rw,
    "--bs",
    String(c.bs),
    "--qd",
    String(c.qd),
    "--seconds",
    String(seconds),
    "--file",
    file,
    "--size",
    String(size),
    "--spin-ms",
    tool === "pluvio-spin" ? "1" : "0",
  ], {
    PLUVIO_URING: tool === "pluvio-threads" ? "threads" : "io_uring",
  });
  return JSON.parse(out.trim().split("\n").pop()!);
}

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  return s.length % 2 ? s[(s.length - 1) >> 1] : (s[s.length / 2 - 1] + s[s.length / 2]) / 2;
}

// The target is written once with real data (fallocated extents would read as zeros
// without touching the disk).
async function prepare(): Promise<void> {
  let st: Deno.FileInfo | undefined;
  try {
    st = await Deno.stat(file);
  } catch { /* missing */ }
  if (st?.isFile && st.size === size) return;
  console.error(`preparing ${file} (${size >> 20} MiB) with fio...`);
  await run("fio", [
    "--name=prep",
    `--filename=${file}`,
    "--ioengine=io_uring",
    "--direct=1",
    "--rw=write",
    "--bs=1M",
    "--iodepth=8",
    `--size=${size}`,
    "--output-format=terse",
  ]);
}

/** Runs `cases` on the current target; returns the markdown table and a summary line. */
async function measure(cases: Case[], label: string): Promise<string> {
  const samples = new Map<string, Result[]>();
  for (let r = 0; r < reps; r++) {
    for (const c of cases) {
      const tools = toolsFor(c);
      // Rotate the order per repetition so no tool always runs first.
      const order = tools.map((_, i) => tools[(i + r) % tools.length]);
      for (const t of order) {
        const res = t === "fio" ? await fio(c) : await child(t, c);
        const key = `${c.name}|${t}`;
        if (!samples.has(key)) samples.set(key, []);
        samples.get(key)!.push(res);
        console.error(
          `${label} rep ${r + 1}/${reps}  ${c.name.padEnd(22)} ${t.padEnd(14)} ` +
            `${res.iops.toFixed(0).padStart(7)} IOPS ${res.mbps.toFixed(0).padStart(5)} MB/s ` +
            `mean ${res.latMeanUs.toFixed(1)} µs p99 ${res.latP99Us.toFixed(1)} µs ` +
            `cpu ${res.cpuUsPerIo.toFixed(2)} µs/IO`,
        );
      }
    }
  }

  const med = (c: Case, t: Tool): Result => {
    const xs = samples.get(`${c.name}|${t}`)!;
    return {
      iops: median(xs.map((x) => x.iops)),
      mbps: median(xs.map((x) => x.mbps)),
      latMeanUs: median(xs.map((x) => x.latMeanUs)),
      latP99Us: median(xs.map((x) => x.latP99Us)),
      cpuUsPerIo: median(xs.map((x) => x.cpuUsPerIo)),
    };
  };

  const lines: string[] = [];
  lines.push(
    "| case | tool | IOPS | MB/s | mean lat µs | p99 lat µs | CPU µs/IO | IOPS vs fio | MB/s vs fio | CPU/IO vs fio | IOPS vs deno |",
  );
  lines.push("|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|");
  for (const c of cases) {
    const f = med(c, "fio");
    const d = med(c, "deno");
    for (const t of toolsFor(c)) {
      const m = med(c, t);
      const vs = (a: number, b: number) => (t === "fio" ? "1.00" : (a / b).toFixed(2));
      lines.push(
        `| ${c.name} | ${t} | ${m.iops.toFixed(0)} | ${m.mbps.toFixed(0)} | ${
          m.latMeanUs.toFixed(1)
        } | ` +
          `${m.latP99Us.toFixed(1)} | ${m.cpuUsPerIo.toFixed(2)} | ${vs(m.iops, f.iops)} | ` +
          `${vs(m.mbps, f.mbps)} | ${vs(m.cpuUsPerIo, f.cpuUsPerIo)} | ` +
          `${t === "deno" ? "1.00" : (m.iops / d.iops).toFixed(2)} |`,
      );
    }
  }
  const q1 = cases[0];
  const fioQ1 = med(q1, "fio").latMeanUs;
  const p = med(q1, "pluvio").latMeanUs;
  const summary = `QD1 read mean latency: fio ${fioQ1.toFixed(1)} µs, pluvio ${p.toFixed(1)} µs ` +
    `(+${(p - fioQ1).toFixed(1)})`;
  const out = lines.join("\n") + "\n\n" + summary;
  console.log(out);
  return out;
}

async function sh(cmd: string, args: string[]): Promise<string> {
  return (await run(cmd, args)).trim();
}

/** A loop device over a /dev/shm file (tmpfs: the CPU is the limit); detached by `done`. */
async function loopDevice(): Promise<{ dev: string; done(): Promise<void> }> {
  const img = `/dev/shm/pluvio_bench_loop_${Deno.pid}.img`;
  const f = await Deno.open(img, { write: true, create: true, truncate: true });
  await f.truncate(fastMiB * 1024 * 1024);
  f.close();
  let dev: string;
  try {
    dev = await sh("losetup", ["--find", "--show", img]);
  } catch (e) {
    await Deno.remove(img);
    throw e;
  }
  const done = async () => {
    await run("losetup", ["--detach", dev]).catch((e) => console.error(String(e)));
    await Deno.remove(img).catch(() => {});
  };
  // Detach on Ctrl-C too.
  const onSig = () => done().finally(() => Deno.exit(130));
  Deno.addSignalListener("SIGINT", onSig);
  Deno.addSignalListener("SIGTERM", onSig);
  return { dev, done };
}

const sections: string[] = [];
if (mode === "both" || mode === "disk") {
  fastMode = false;
  file = diskFile;
  size = sizeMiB * 1024 * 1024;
  await prepare();
  sections.push(
    `## Virtio disk (file ${file}, ${sizeMiB} MiB on ext4 /tmp)\n\n` +
      (await measure(DISK_CASES, "disk")),
  );
}
if (mode === "both" || mode === "fast") {
  fastMode = true;
  const loop = givenDevice ? null : await loopDevice();
  try {
    file = givenDevice || loop!.dev;
    size = givenDevice ? Number(await sh("blockdev", ["--getsize64", file])) : fastMiB << 20;
    size = Math.min(size, fastMiB << 20);
    if (loop) await prepare();
    sections.push(
      `## Fast device (${
        givenDevice ? file : `loop device over a ${fastMiB} MiB file in /dev/shm`
      }: CPU-bound)\n\n` + (await measure(FAST_CASES, "fast")),
    );
  } finally {
    await loop?.done();
  }
}

if (Deno.args.includes("--write-results")) {
  const cmd = `flock /tmp/pluvio-heavy.lock deno task bench:uring   (= deno run -A ` +
    `bench/uring_bench.ts --mode ${mode} --seconds ${seconds} --reps ${reps} --size-mib ` +
    `${sizeMiB} --write-results)`;
  const md = `# io_uring benchmark\n\n` +
    `Command: \`${cmd}\`\n\n` +
    `Code: commit ${await sh("git", ["rev-parse", "--short", "HEAD"]).catch(() => "?")}. ` +
    `Date: ${new Date().toISOString()}; Linux ${Deno.osRelease()}; Deno ${Deno.version.deno}; ` +
    `${navigator.hardwareConcurrency} CPUs.\n\n` +
    `Medians of ${reps} repetitions of ${seconds} s each (tools alternate within a repetition; ` +
    `each measurement is its own process). fio: ioengine=io_uring, direct=1, fixedbufs=1. ` +
    `pluvio: QD concurrent plain \`await file.readFixed(buf, off)\` / \`writeFixed\` loops on a ` +
    `Runtime with the default builder options (pluvio-spin: waitCompleteTimeout(1); ` +
    `pluvio-threads: the same code on the thread backend, PLUVIO_URING=threads, 4 threads). ` +
    `deno: node:fs read/write(fd, buf, 0, bs, position) on an O_DIRECT descriptor, QD concurrent ` +
    `promises. Latency is per operation, submission to completion as the caller sees it. ` +
    `Latency is taken with one clock read per I/O (the end of one is the start of the next). ` +
    `CPU µs/IO is user+system CPU of the process divided by I/Os: for pluvio every thread ` +
    `(executor, parking notifier, V8 helpers, and the kernel's io-wq workers \`iou-wrk\` that ` +
    `carry out 1 MiB requests), for fio its job thread only (fio counts per thread: its ` +
    `io-wq workers, ~10 µs per 1 MiB request here, are left out).\n\n` +
    sections.join("\n\n") + "\n";
  await Deno.writeTextFile(new URL("./results/uring.md", import.meta.url), md);
}
