/**
 * A rank of `deno task bench:coll` (UCX side, through the launcher): allreduce with every
 * UCX algorithm and with the adaptive choice, 4 B to `max_bytes` (f32 sums).
 * Output lines (rank 0): `RESULT <series> allreduce <bytes> <µs>`.
 *
 * @module
 */
import { Runtime } from "../../mod.ts";
import {
  AdaptiveCommunicator,
  ALGORITHMS,
  Sum,
  UcxCommunicator,
} from "../../lib/collective/mod.ts";
import { sizes, timeCalls } from "../../lib/collective/ucx/measure.ts";
import { allocAligned } from "../../lib/uring/memory.ts";

const maxBytes = Number(Deno.args[0] ?? 16 << 20);
const rt = new Runtime();
await rt.run(async () => {
  const c = await UcxCommunicator.create({ timeout: 120_000 });
  const ad = new AdaptiveCommunicator(c);
  const buf = new Float32Array(maxBytes / 4);
  const aligned = allocAligned(maxBytes);
  const page = new Float32Array(aligned.buffer, aligned.byteOffset, maxBytes / 4);
  for (const b of sizes(maxBytes)) {
    const f = buf.subarray(0, b / 4);
    for (const a of ALGORITHMS.allreduce) {
      const us = await timeCalls(c, b, () => c.allreduce(f, Sum, { algorithm: a }));
      if (c.rank === 0) console.log(`RESULT ucx-${a} allreduce ${b} ${us.toFixed(3)}`);
    }
    const us = await timeCalls(c, b, () => ad.allreduce(f, Sum));
    if (c.rank === 0) {
      console.log(`RESULT adaptive allreduce ${b} ${us.toFixed(3)} ${ad.choice("allreduce", b)}`);
    }
    const fp = page.subarray(0, b / 4);
    const usPage = await timeCalls(c, b, () => ad.allreduce(fp, Sum));
    if (c.rank === 0) console.log(`RESULT adaptive-page allreduce ${b} ${usPage.toFixed(3)}`);
  }
  await c.close();
});
rt.close();
