import { pipelineStats } from "../pipeline/deploy.js";
import { formatStats } from "../stats/read-stats.js";
import { type Command, parseCommandArgs } from "./args.js";
import { checkRunsIn, pinnedTarget } from "./down.js";

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
  const { values, positionals } = parseCommandArgs("stats", args, {
    pin: { type: "string" },
    netns: { type: "string" },
    json: { type: "boolean" },
    help: { type: "boolean", short: "h" },
  });
  if (values.help) {
    io.stdout(`${HELP}\n`);
    return 0;
  }
  const { dir } = await pinnedTarget("stats", positionals, values.pin, io);
  await checkRunsIn(dir, values.netns);
  const report = await pipelineStats(dir);
  io.stdout(values.json ? `${JSON.stringify(report)}\n` : `${formatStats(report)}\n`);
  return 0;
};
