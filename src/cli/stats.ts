import { pipelineStats } from "../pipeline/deploy.js";
import { formatStats } from "../stats/read-stats.js";
import type { Command } from "./args.js";
import { checkRunsIn, pipelineArgs } from "./pipeline-args.js";

const HELP = `usage: tsbpf stats (PIPELINE | --pin DIR) [--json]

Prints, once, the counts of a pipeline that runs with stats ('tsbpf up' of a file with
stats: true or 'up --stats', or 'tsbpf attach --stats --pin DIR'): each program's runs and
verdicts, each tail-call site's calls and misses per key with its C line, summed over CPUs.
Counts belong to the version that is up: they start at 0 when it goes up.

  PIPELINE   the pipeline file: its pin: directory, or /sys/fs/bpf/tsbpf/<name>
  --pin DIR  the pipeline's bpffs directory
  --netns NAME  check that it runs in network namespace NAME (counts are read through the pins)
  --json     {"programs":{NAME:{"runs","verdicts"}},"sites":[{"program","map","site","calls","misses","keys"}]}`;

/** `tsbpf stats (PIPELINE | --pin DIR) [--json] [--netns NAME]`. */
export const statsCommand: Command = async (args, io) => {
  const a = pipelineArgs("stats", args, io, HELP, { json: { type: "boolean" } });
  if (a === undefined) return 0;
  const { dir } = await a.target();
  await checkRunsIn(dir, a.netns);
  const report = await pipelineStats(dir);
  io.stdout(a.values.json ? `${JSON.stringify(report)}\n` : `${formatStats(report)}\n`);
  return 0;
};
