import { join, resolve } from "node:path";
import { getPinned } from "../kernel/object-ops.js";
import { readPinnedStats } from "../kernel/pinned-stats.js";
import { pinName } from "../kernel/pinning.js";
import { enableRunTimeStats, getProgramRunStats, type ProgramRunStats } from "../kernel/run-stats.js";
import { defaultSys } from "../kernel/sys.js";
import type { StatsReport } from "../stats/read-stats.js";
import { type Command, intFlag, parseCommandArgs, usage } from "./args.js";
import { readTarget } from "./target.js";

const HELP = `usage: tsbpf top (OBJ | PIPELINE.yaml) [--pin DIR] [--prog ENTRY] [--interval MS] [--iterations N]

Shows the counts of a pipeline attached with 'tsbpf attach --stats --pin DIR' live, redrawn every
second (--interval) until Ctrl+C (or --iterations screens): per program its runs and runs/s, per
tail-call site and key its calls and misses with misses/s and the C line, and the whole chain's
average run time per packet from the kernel's own statistics on the entry program
(BPF_ENABLE_STATS, turned on only while top runs; the stages tail-called run inside the entry's
time, so it is the chain's). --prog names the entry (default: the pipeline's entry).`;

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

/** `tsbpf top (OBJ | PIPELINE) [--pin DIR] [--prog ENTRY] [--interval MS] [--iterations N]`. */
export const topCommand: Command = async (args, io) => {
  const { values, positionals } = parseCommandArgs("top", args, {
    pin: { type: "string" },
    prog: { type: "string" },
    interval: { type: "string" },
    iterations: { type: "string" },
    help: { type: "boolean", short: "h" },
  });
  if (values.help) {
    io.stdout(`${HELP}\n`);
    return 0;
  }
  const pipeline = await readTarget(positionals, "top");
  const specs = Object.values(pipeline.plan.objects);
  const spec = specs[0];
  if (specs.length !== 1 || spec === undefined)
    usage("top: a pipeline of one object is what attach --stats pins");
  const pin = values.pin ?? (pipeline.definition === undefined ? undefined : pipeline.pinDir);
  if (pin === undefined) usage("top: missing --pin DIR (the directory given to tsbpf attach --stats --pin)");
  const dir = resolve(io.cwd, pin);
  const entry = values.prog ?? pipeline.entry().program;
  if (spec.programs[entry] === undefined) usage(`top: no program named '${entry}'`);
  const intervalMs = Math.max(100, intFlag("interval", values.interval, 1000, 3_600_000));
  const iterations =
    values.iterations === undefined ? undefined : intFlag("iterations", values.iterations, 1, 1e9);
  const sys = defaultSys();
  let prev = readPinnedStats(dir, spec);
  const prog = getPinned(sys, join(dir, "progs", pinName(entry)));
  const stats = enableRunTimeStats(sys);
  const stop = new AbortController();
  const onSignal = (): void => stop.abort();
  process.on("SIGINT", onSignal);
  process.on("SIGTERM", onSignal);
  try {
    const chainFirst = getProgramRunStats(sys, prog.value);
    let chainPrev = chainFirst;
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
      const now = readPinnedStats(dir, spec);
      const chainNow = getProgramRunStats(sys, prog.value);
      const t = Date.now();
      io.stdout(
        `\x1b[H\x1b[2J${screen(dir, entry, now, prev, (t - last) / 1000, { now: chainNow, prev: chainPrev, first: chainFirst })}`,
      );
      prev = now;
      chainPrev = chainNow;
      last = t;
    }
  } finally {
    process.removeListener("SIGINT", onSignal);
    process.removeListener("SIGTERM", onSignal);
    stats.close();
    prog.close();
  }
  return 0;
};
