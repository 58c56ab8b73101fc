// A rank of the launcher/bootstrap test: exchanges a rank-specific address, checks the
// table, and prints its digest (every rank must print the same one).
import { bootstrap, bootstrapConfigFromEnv } from "../../lib/collective/ucx/bootstrap.ts";

const cfg = bootstrapConfigFromEnv();
const addr = new TextEncoder().encode(`rank-${cfg.rank}-` + "x".repeat(cfg.rank * 100 + 1));
const table = await bootstrap(cfg, addr, { timeoutMs: 20_000 });
if (table.length !== cfg.size) throw new Error(`table has ${table.length} entries`);
table.forEach((a, r) => {
  const s = new TextDecoder().decode(a);
  if (!s.startsWith(`rank-${r}-`) || s.length !== `rank-${r}-`.length + r * 100 + 1) {
    throw new Error(`entry ${r} is wrong: ${s.slice(0, 20)}`);
  }
});
const digest = await crypto.subtle.digest("SHA-256", new Uint8Array(table.flatMap((a) => [...a])));
console.log(`table ${cfg.size} ${[...new Uint8Array(digest)].slice(0, 8).join(".")}`);
if (Deno.args[0] === "fail-rank" && cfg.rank === Number(Deno.args[1])) Deno.exit(3);
if (Deno.args[0] === "fail-rank") await new Promise((r) => setTimeout(r, 60_000));
