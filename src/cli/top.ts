import { shownName } from "../kernel/pipeline-status.js";
import type { ProgramRunStats } from "../kernel/run-stats.js";
import { openPipelineStats } from "../pipeline/deploy.js";
import type { StatsReport } from "../stats/read-stats.js";
import { type Command, intFlag } from "./args.js";
import { checkRunsIn, pipelineArgs } from "./pipeline-args.js";

const HELP = `usage: tsbpf top (PIPELINE | --pin DIR) [--interval MS] [--iterations N] [--netns NAME]

Shows the counts of a pipeline that runs with stats ('tsbpf up' with stats: true or --stats,
'tsbpf attach --stats --pin DIR') live, redrawn every
second (--interval) until Ctrl+C (or --iterations screens): per program its runs and runs/s, per
tail-call site and key its calls and misses with misses/s and the C line, and the whole chain's
average run time per packet from the kernel's own statistics on the entry program
(BPF_ENABLE_STATS, turned on only while top runs; the stages tail-called run inside the entry's
time, so it is the chain's).

  --netns NAME   check that the pipeline runs in network namespace NAME (the counts are read
                 through the pins, from any namespace)`;

const pad = (s: string | number, n: number): string => String(s).padStart(n);
const rate = (now: number, before: number | undefined, secs: number): string =>
  before === undefined ? "-" : ((now - before) / secs).toFixed(1);

/** One screen of `top`. */
function screen(
  dir: string,
  entry: string,
  now: StatsReport,
  prev: StatsReport | undefined,
  secs: number,
  chain: { now: ProgramRunStats; prev: ProgramRunStats | undefined; first: ProgramRunStats } | undefined,
): string {
  const out = [`tsbpf top — ${dir} — every ${secs.toFixed(1)} s (Ctrl+C to quit)`];
  if (chain !== undefined) {
    const avg = (ns: bigint, runs: bigint): string =>
      runs > 0n ? `${(Number(ns) / Number(runs)).toFixed(0)} ns per packet` : "no packets";
    const runs = chain.now.runCount - (chain.prev?.runCount ?? 0n);
    const ns = chain.now.runTimeNs - (chain.prev?.runTimeNs ?? 0n);
    out.push(
      `chain (entry ${entry}, kernel stats): ${avg(ns, runs)}, ${(Number(runs) / secs).toFixed(1)} packets/s; since top started: ${avg(chain.now.runTimeNs - chain.first.runTimeNs, chain.now.runCount - chain.first.runCount)} over ${chain.now.runCount - chain.first.runCount} packets`,
    );
  }
  out.push("", `${"program".padEnd(24)}${pad("runs", 12)}${pad("runs/s", 10)}  verdicts`);
  for (const [name, p] of Object.entries(now.programs)) {
    const v = Object.entries(p.verdicts)
      .map(([k, n]) => `${k} ${n}`)
      .join(", ");
    out.push(
      `${name.padEnd(24)}${pad(p.runs, 12)}${pad(rate(p.runs, prev?.programs[name]?.runs, secs), 10)}  ${v}`,
    );
  }
  out.push(
    "",
    `${"tail-call site".padEnd(40)}${pad("key", 6)}${pad("calls", 10)}${pad("misses", 10)}${pad("misses/s", 10)}`,
  );
  for (const [i, s] of now.sites.entries()) {
    const file = s.site.file?.replace(/^.*\//, "");
    const where = `${s.program} ${s.map ?? "?"}${file === undefined ? "" : ` ${file}:${s.site.line}`}`;
    for (const k of s.keys) {
      const before = prev?.sites[i]?.keys.find((x) => x.key === k.key)?.misses;
      out.push(
        `${where.padEnd(40)}${pad(k.key, 6)}${pad(k.calls, 10)}${pad(k.misses, 10)}${pad(rate(k.misses, prev === undefined ? undefined : (before ?? 0), secs), 10)}`,
      );
    }
    if (s.keys.length === 0) out.push(`${where.padEnd(40)}${pad("-", 6)}${pad(0, 10)}${pad(0, 10)}`);
  }
  return `${out.join("\n")}\n`;
}

/** `tsbpf top (PIPELINE | --pin DIR) [--interval MS] [--iterations N]`. */
export const topCommand: Command = async (args, io) => {
  const a = pipelineArgs("top", args, io, HELP, {
    interval: { type: "string" },
    iterations: { type: "string" },
  });
  if (a === undefined) return 0;
  const { values } = a;
  const { dir } = await a.target();
  await checkRunsIn(dir, a.netns);
  const intervalMs = Math.max(100, intFlag("interval", values.interval, 1000, 3_600_000));
  const iterations =
    values.iterations === undefined ? undefined : intFlag("iterations", values.iterations, 1, 1e9);
  const pinned = await openPipelineStats(dir);
  const entry = shownName(pinned.meta, pinned.meta.entry.object, pinned.meta.entry.program);
  const stop = new AbortController();
  const onSignal = (): void => stop.abort();
  process.on("SIGINT", onSignal);
  process.on("SIGTERM", onSignal);
  let runTime: { close(): void } | undefined;
  try {
    let prev: StatsReport | undefined = pinned.read();
    runTime = pinned.enableRunTime();
    let chainFirst = pinned.entryRunStats();
    let chainPrev: ProgramRunStats | undefined = chainFirst;
    let generation = pinned.generation;
    let last = Date.now();
    for (let n = 0; iterations === undefined || n < iterations; n++) {
      await new Promise<void>((res) => {
        const t = setTimeout(res, intervalMs);
        stop.signal.addEventListener("abort", () => {
          clearTimeout(t);
          res();
        });
      });
      if (stop.signal.aborted) break;
      const now = pinned.read();
      const chainNow = pinned.entryRunStats();
      if (pinned.generation !== generation) {
        // Upgraded (or put up again): new counters and a new entry, counted from zero.
        generation = pinned.generation;
        prev = undefined;
        chainPrev = undefined;
        chainFirst = { runCount: 0n, runTimeNs: 0n };
      }
      const t = Date.now();
      io.stdout(
        `\x1b[H\x1b[2J${screen(`${pinned.meta.name} (${dir})`, entry, now, prev, (t - last) / 1000, { now: chainNow, prev: chainPrev, first: chainFirst })}`,
      );
      prev = now;
      chainPrev = chainNow;
      last = t;
    }
  } finally {
    process.removeListener("SIGINT", onSignal);
    process.removeListener("SIGTERM", onSignal);
    runTime?.close();
    pinned.close();
  }
  return 0;
};
