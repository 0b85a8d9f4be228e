import type { UnpinResult } from "../kernel/pipeline-pins.js";
import { downPipeline } from "../pipeline/deploy.js";
import type { Command } from "./args.js";
import { pipelineArgs } from "./pipeline-args.js";

const HELP = `usage: tsbpf down (PIPELINE | --pin DIR) [--netns NAME]

Takes down a pipeline that 'tsbpf up' (or 'tsbpf attach --pin DIR') left running: detaches its
link first (XDP, or tcx: only the pipeline's own link, other programs on that tc hook stay),
so no packet meets a half-removed pipeline, then removes every pin it made (the
link, its description, each object's maps and programs, the by_name pins it created) and its
directory. 'tsbpf detach --pin DIR' is the same operation.

  PIPELINE       the pipeline file: its pin: directory, or /sys/fs/bpf/tsbpf/<name>
  --pin DIR      the pipeline's bpffs directory
  --netns NAME   the network namespace it was attached in: a pipeline that is not attached
                 there is refused, and nothing is removed. Taking it down needs no namespace.

Run it from the host, not inside 'ip netns exec': that hides the host's bpffs and its pins.`;

/** What `down` and `detach` print. */
export function formatDown(r: UnpinResult, dir: string): string {
  const where = [...(r.netns === undefined ? [] : [`netns ${r.netns}`]), `ifindex ${r.ifindex}`].join(", ");
  const from = r.iface === undefined ? "" : ` ${r.name ?? "the pipeline"} from ${r.iface} (${where})`;
  let out = r.detached
    ? `detached${from}, and removed ${r.removed.length} pins and ${dir}\n`
    : `removed ${r.removed.length} pins and ${dir} (nothing was attached: no link, or its interface is gone)\n`;
  if (r.kept.length > 0) out += `kept the by_name pins it did not create: ${r.kept.join(", ")}\n`;
  if (r.filter?.left !== undefined) out += `note: ${r.filter.left}\n`;
  if (r.filter?.qdiscRemoved === true)
    out += "removed the clsact qdisc up had created (nothing else was on it)\n";
  return out;
}

/** `tsbpf down (PIPELINE | --pin DIR) [--netns NAME]`. */
export const downCommand: Command = async (args, io) => {
  const a = pipelineArgs("down", args, io, HELP);
  if (a === undefined) return 0;
  const { dir } = await a.target();
  const r = await downPipeline(dir, a.netnsOption);
  io.stdout(formatDown(r, dir));
  return 0;
};
