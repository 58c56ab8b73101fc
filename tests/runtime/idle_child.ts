// Child of config_test.ts: five timed sleeps, then the executor's counters as JSON.
import { Runtime, sleep } from "../../mod.ts";

const rt = new Runtime();
await rt.run(async () => {
  for (let i = 0; i < 5; i++) await sleep(10);
});
console.log(JSON.stringify(rt.stats().executor));
