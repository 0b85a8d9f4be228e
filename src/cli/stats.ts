import { resolve } from "node:path";
import { readPinnedStats } from "../kernel/pinned-stats.js";
import { formatStats } from "../stats/read-stats.js";
import { type Command, parseCommandArgs, usage } from "./args.js";
import { readTarget } from "./target.js";

const HELP = `usage: tsbpf stats (OBJ | PIPELINE.yaml) [--pin DIR] [--json]

Prints, once, the counts of a pipeline that 'tsbpf attach --stats --pin DIR' left running: each
program's runs and verdicts, each tail-call site's calls and misses per key (with its C line),
summed over CPUs. The object (or the pipeline file's object) tells where each count is; --pin
defaults to the pipeline file's pin directory. --json prints
{"programs":{NAME:{"runs","verdicts"}},"sites":[{"program","map","site","calls","misses","keys"}]}.`;

/** `tsbpf stats (OBJ | PIPELINE) [--pin DIR] [--json]`. */
export const statsCommand: Command = async (args, io) => {
  const { values, positionals } = parseCommandArgs("stats", args, {
    pin: { type: "string" },
    json: { type: "boolean" },
    help: { type: "boolean", short: "h" },
  });
  if (values.help) {
    io.stdout(`${HELP}\n`);
    return 0;
  }
  const pipeline = await readTarget(positionals, "stats");
  const specs = Object.values(pipeline.plan.objects);
  if (specs.length !== 1) usage("stats: a pipeline of one object is what attach --stats pins");
  const pin = values.pin ?? (pipeline.definition === undefined ? undefined : pipeline.pinDir);
  if (pin === undefined)
    usage("stats: missing --pin DIR (the directory given to tsbpf attach --stats --pin)");
  const report = readPinnedStats(resolve(io.cwd, pin), specs[0] as NonNullable<(typeof specs)[number]>);
  io.stdout(values.json ? `${JSON.stringify(report)}\n` : `${formatStats(report)}\n`);
  return 0;
};
