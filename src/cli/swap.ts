import { resolve } from "node:path";
import { swapStage } from "../pipeline/deploy.js";
import { type Command, usage } from "./args.js";
import { pipelineArgs } from "./pipeline-args.js";

const HELP = `usage: tsbpf swap (PIPELINE | --pin DIR) MAP:KEY=[OBJFILE:]PROG [--netns NAME]

Replaces one stage of a pipeline that is up, in place: one prog array update, which the kernel
makes atomically (a packet tail-calls the old program or the new one). For shipping a fix to one
stage; 'tsbpf up' of a changed file upgrades the whole pipeline.

  MAP:KEY=PROG           put the pipeline's own program PROG (one it pinned) into MAP[KEY]
  MAP:KEY=OBJFILE:PROG   put PROG of the object file OBJFILE (a .bpf.o) there: it must be of the
                         pipeline's type (XDP, or tc for a tc pipeline) and pass 'tsbpf check' without error; its maps named as the
                         pipeline's maps are the pipeline's (same state, same prog arrays); with
                         stats, it runs uncounted (a warning says so)
  --netns NAME           the network namespace the pipeline runs in (checked)

The pipeline file stays the truth: 'tsbpf status PIPELINE' shows the swapped slot as not the
file's, and a later 'tsbpf up PIPELINE' of the unchanged file puts the file's program back.`;

/** `tsbpf swap (PIPELINE | --pin DIR) MAP:KEY=[OBJFILE:]PROG [--netns NAME]`. */
export const swapCommand: Command = async (args, io) => {
  const a = pipelineArgs("swap", args, io, HELP);
  if (a === undefined) return 0;
  const { positionals } = a;
  const synopsis = "tsbpf swap (PIPELINE | --pin DIR) MAP:KEY=[OBJFILE:]PROG";
  const assignment = positionals.at(-1);
  const m = assignment === undefined ? null : /^([^:=\s]+):(\d+)=(?:(.+\.o):)?([^:=\s]+)$/.exec(assignment);
  if (m === null) {
    usage(
      assignment === undefined
        ? "swap: missing MAP:KEY=PROG"
        : `swap: '${assignment}' is not MAP:KEY=[OBJFILE:]PROG`,
      synopsis,
    );
  }
  const { dir } = await a.target(positionals.slice(0, -1));
  const r = await swapStage(
    dir,
    {
      map: m[1] as string,
      key: Number(m[2]),
      program: m[4] as string,
      ...(m[3] === undefined ? {} : { objectFile: resolve(io.cwd, m[3]) }),
    },
    {
      ...a.netnsOption,
      onWarning: (w) => io.stderr(`tsbpf: warning: ${w}\n`),
    },
  );
  io.stdout(`swapped ${r.slot}: ${r.was} -> ${r.now} (one atomic slot update)\n`);
  if (r.sharedMaps.length > 0) io.stdout(`it uses the pipeline's maps ${r.sharedMaps.join(", ")}\n`);
  io.stdout("the pipeline file still names the old program: 'tsbpf up' of it puts that back\n");
  return 0;
};
