/**
 * The interpreter's ns per instruction on loops.bpf.o's programs, timed in this fresh process as
 * part 1 times it; prints one JSON line ({ program: ns per insn }). bench/run.ts starts it twice
 * during a run (see interpreterInFreshProcess).
 *
 *   node dist/bench/interp-process.js TRIAL_MS TRIALS PROGRAM...
 */
import { interpreterNsPerInsn } from "./interp-bench.js";

const [trialMs, trials, ...programs] = process.argv.slice(2);
if (trialMs === undefined || trials === undefined || programs.length === 0) {
  console.error("usage: interp-process TRIAL_MS TRIALS PROGRAM...");
  process.exit(2);
}
interpreterNsPerInsn(programs, { trialMs: Number(trialMs), trials: Number(trials) }).then(
  (r) => console.log(JSON.stringify(r)),
  (e: unknown) => {
    console.error(`interp-process: ${e instanceof Error ? e.message : String(e)}`);
    process.exit(1);
  },
);
