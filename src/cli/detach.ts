import { resolve } from "node:path";
import { downPipeline } from "../pipeline/deploy.js";
import { type Command, parseCommandArgs, usage } from "./args.js";
import { formatDown } from "./down.js";

const HELP = `usage: tsbpf detach --pin DIR [--netns NAME]

Removes a pipeline that 'tsbpf attach --pin DIR' (or 'tsbpf up') left running: detaches its link
(XDP or tcx; other tools' programs on the same tc hook stay), then removes the pinned link, description, maps and programs and the directory itself.
It is the same operation as 'tsbpf down --pin DIR'.

  --netns NAME   the network namespace the pipeline was attached in (attach --netns NAME):
                 a pipeline that is not attached there is refused. Detaching itself needs no
                 namespace.

Run it from the host, not inside 'ip netns exec': that hides the host's bpffs and its pins.`;

/** `tsbpf detach --pin DIR [--netns NAME]`: `tsbpf down --pin DIR`. */
export const detachCommand: Command = async (args, io) => {
  const { values, positionals } = parseCommandArgs("detach", args, {
    pin: { type: "string" },
    netns: { type: "string" },
    help: { type: "boolean", short: "h" },
  });
  if (values.help) {
    io.stdout(`${HELP}\n`);
    return 0;
  }
  if (positionals.length > 0)
    usage(`detach: unexpected argument '${positionals[0]}'`, "tsbpf detach --pin DIR [--netns NAME]");
  if (values.pin === undefined)
    usage("detach: missing --pin DIR (the directory given to tsbpf attach --pin)");
  const dir = resolve(io.cwd, values.pin);
  const r = await downPipeline(dir, values.netns === undefined ? {} : { netns: values.netns });
  io.stdout(formatDown(r, dir));
  return 0;
};
