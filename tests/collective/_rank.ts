/**
 * Harness of the rank scripts that `mpirun` launches: initialises MPI, runs `body` inside
 * a pluvio Runtime with an MpiReactor registered, prints one summary line
 * `SUMMARY rank=R size=S checks=N failures=F` and exits non-zero on any failure, so the
 * test driver (and mpirun) see it.
 *
 * @module
 */
import { Runtime } from "../../mod.ts";
import { finalize, init, MpiCommunicator, MpiReactor } from "../../lib/collective/mod.ts";

/** Counts checks; a failed check is logged with its rank and description. */
export class Checks {
  count = 0;
  failures = 0;
  constructor(readonly rank: number) {}
  /** Records one check. */
  ok(cond: boolean, what: string): void {
    this.count++;
    if (!cond) {
      this.failures++;
      if (this.failures <= 20) console.error(`rank ${this.rank}: FAILED ${what}`);
    }
  }
  /** Checks that `p` rejects with an error of class `cls` (and a message matching `re`). */
  async rejects(
    p: () => Promise<unknown>,
    cls: abstract new (...a: never[]) => Error,
    re: RegExp,
    what: string,
  ): Promise<Error | undefined> {
    try {
      await p();
      this.ok(false, `${what}: resolved, expected ${cls.name}`);
    } catch (e) {
      const good = e instanceof cls && re.test((e as Error).message);
      this.ok(good, `${what}: got ${(e as Error)?.name}: ${(e as Error)?.message}`);
      return e as Error;
    }
  }
}

/** Element-wise equality of two typed arrays (exact, also for floats). */
export function same(a: ArrayLike<number | bigint>, b: ArrayLike<number | bigint>): boolean {
  if (a.length !== b.length) return false;
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return false;
  return true;
}

/** Runs `body` on every rank and exits with the verdict. */
export async function runRank(
  name: string,
  body: (world: MpiCommunicator, reactor: MpiReactor, c: Checks) => Promise<void>,
  options: { capacity?: number } = {},
): Promise<never> {
  let code = 1;
  let rank = -1;
  try {
    await init();
    const reactor = new MpiReactor({ capacity: options.capacity });
    const rt = new Runtime();
    rt.registerReactor("mpi", reactor);
    const world = MpiCommunicator.world(reactor);
    rank = world.rank;
    const c = new Checks(world.rank);
    const t0 = performance.now();
    await rt.run(() => body(world, reactor, c));
    c.ok(reactor.status() === 0, `nothing in flight at the end (status ${reactor.status()})`);
    const ms = (performance.now() - t0).toFixed(0);
    console.log(
      `SUMMARY ${name} rank=${world.rank} size=${world.size} checks=${c.count} ` +
        `failures=${c.failures} ms=${ms}`,
    );
    world.close();
    reactor.close();
    await finalize();
    code = c.failures === 0 && c.count > 0 ? 0 : 1;
  } catch (e) {
    console.error(`rank ${rank}: ${name} crashed:`, e);
    code = 2;
  }
  Deno.exit(code);
}
