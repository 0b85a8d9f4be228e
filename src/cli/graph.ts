import { extname, resolve } from "node:path";
import { pipelineStats } from "../pipeline/deploy.js";
import type { StatsReport } from "../stats/read-stats.js";
import { type GraphFormat, parseGraphFormat, renderGraph } from "../graph/render.js";
import type { PipelineGraph } from "../tailcall/plan.js";
import { checkPlan } from "../tailcall/check-plan.js";
import { type Command, parseCommandArgs, usage } from "./args.js";
import type { CliIo } from "./io.js";
import { writeOutputFile } from "./load-object.js";
import { readTarget } from "./target.js";

const HELP = `usage: tsbpf graph (OBJ [--tail MAP:KEY=PROG ...] [--entry NAME] | PIPELINE.yaml)
                   [--format mermaid|dot|svg] [-o FILE] [--stats [--pin DIR]]

Draws the tail-call pipeline: programs as boxes (the entry with a double border and 'entry' in its
label, each with its type), tail calls as arrows labelled MAP[KEY] (MAP[?] where the key is not a
constant) with the C source line of the call, and a call into an empty slot as a dashed red arrow
into a box saying it falls through. Slots come from the object's static .values and --tail.
Without --entry, every program that no slot holds counts as an entry.

The format is --format, else the extension of -o (.mmd or .mermaid, .dot or .gv, .svg), else
mermaid. The picture goes to -o FILE, or to standard output (SVG too: it is text). SVG is laid out
by Graphviz compiled to WebAssembly, shipped with tsbpf: no Graphviz install, no network.

--stats draws the counts of the pipeline as it runs now (up with stats: 'tsbpf up --stats' or
stats: true): runs and verdicts in each box, calls on each arrow, and the misses of each key as
an arrow into a fall-through box. The counts are read from the pipeline file's pin directory, or
from --pin DIR.`;

/** Formats by file extension, for `-o FILE` without `--format`. */
const BY_EXTENSION: Record<string, GraphFormat> = {
  ".mmd": "mermaid",
  ".mermaid": "mermaid",
  ".dot": "dot",
  ".gv": "dot",
  ".svg": "svg",
};

/**
 * The format asked for: `--format`, else what `-o`'s extension says, else mermaid. An unknown
 * extension without `--format` is an error rather than, say, Mermaid text in `pipeline.png`.
 */
export function chooseGraphFormat(format: string | undefined, out: string | undefined): GraphFormat {
  if (format !== undefined) return parseGraphFormat(format, "graph: --format");
  if (out === undefined) return "mermaid";
  const byExt = BY_EXTENSION[extname(out).toLowerCase()];
  if (byExt === undefined) {
    usage(
      `graph: cannot tell the format from '${out}'`,
      "give --format mermaid, dot or svg, or name the file .mmd, .dot or .svg",
    );
  }
  return byExt;
}

/**
 * Renders a pipeline graph in `format` and writes it to `out`, or to standard output. The one
 * way the CLI draws a pipeline, whatever it was made from (an object and flags, a pipeline file).
 */
export async function writeGraph(
  graph: PipelineGraph,
  opts: { format: GraphFormat; out?: string | undefined; stats?: StatsReport | undefined },
  io: CliIo,
): Promise<void> {
  const text = await renderGraph(graph, opts.format, { stats: opts.stats });
  if (opts.out === undefined) io.stdout(text);
  else await writeOutputFile(opts.out, text, "-o");
}

/** `tsbpf graph`. */
export const graphCommand: Command = async (args, io) => {
  const { values, positionals } = parseCommandArgs("graph", args, {
    tail: { type: "string", multiple: true },
    entry: { type: "string" },
    format: { type: "string" },
    output: { type: "string", short: "o" },
    stats: { type: "boolean" },
    pin: { type: "string" },
    help: { type: "boolean", short: "h" },
  });
  if (values.help) {
    io.stdout(`${HELP}\n`);
    return 0;
  }
  const format = chooseGraphFormat(values.format, values.output);
  if (values.pin !== undefined && values.stats !== true) usage("graph: --pin goes with --stats");
  const pipeline = await readTarget(positionals, "graph", { tail: values.tail, entry: values.entry });
  let stats: StatsReport | undefined;
  if (values.stats === true) {
    if (values.pin === undefined && pipeline.definition === undefined) {
      usage("graph: --stats reads the counts of a pipeline that is up: give its pipeline file, or --pin DIR");
    }
    stats = await pipelineStats(values.pin === undefined ? pipeline : resolve(io.cwd, values.pin));
  }
  await writeGraph(checkPlan(pipeline.plan).graph, { format, out: values.output, stats }, io);
  return 0;
};
