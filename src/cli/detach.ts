import { resolve } from "node:path";
import { checkNetns } from "../kernel/netns.js";
import { unpinPipeline } from "../kernel/pinning.js";
import { type Command, parseCommandArgs, usage } from "./args.js";

const HELP = `usage: tsbpf detach --pin DIR [--netns NAME]

Removes a pipeline that 'tsbpf attach --pin DIR' left running: detaches the XDP link, then
removes the pinned link, maps and programs and the directory itself.

  --netns NAME   the network namespace the pipeline was attached in (attach --netns NAME):
                 the interface is named in the output, and a pipeline that is not attached
                 there is refused. Detaching itself needs no namespace.

Run it from the host, not inside 'ip netns exec': that hides the host's bpffs and its pins.`;

/** `tsbpf detach --pin DIR [--netns NAME]`. */
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
  const { netns } = values;
  if (netns !== undefined) checkNetns(netns);
  const dir = resolve(io.cwd, values.pin);
  const r = unpinPipeline(dir, netns === undefined ? {} : { netns });
  const from = r.iface === undefined ? "" : ` from ${r.iface} (netns ${netns}, ifindex ${r.ifindex})`;
  io.stdout(`${r.detached ? `detached${from}, and ` : ""}removed ${r.removed.length} pins and ${dir}\n`);
  return 0;
};
