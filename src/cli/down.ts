import { resolve } from "node:path";
import type { UnpinResult } from "../kernel/pipeline-pins.js";
import { downPipeline, pinDirOfFile, pipelineStatus } from "../pipeline/deploy.js";
import { UsageError } from "../errors.js";
import { type Command, parseCommandArgs, usage } from "./args.js";
import type { CliIo } from "./io.js";

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

/** Which pin directory `PIPELINE | --pin DIR` names. */
export async function pinnedTarget(
  command: string,
  positionals: string[],
  pin: string | undefined,
  io: CliIo,
): Promise<{ dir: string; file: string | undefined }> {
  const synopsis = `tsbpf ${command} (PIPELINE | --pin DIR)`;
  if (positionals.length > 1)
    usage(`${command}: one pipeline file expected, got ${positionals.length}`, synopsis);
  const [file] = positionals;
  if (file !== undefined && pin !== undefined)
    usage(`${command}: give a pipeline file or --pin DIR, not both`);
  if (pin !== undefined) return { dir: resolve(io.cwd, pin), file: undefined };
  if (file === undefined) usage(`${command}: missing the pipeline file or --pin DIR`, synopsis);
  const path = resolve(io.cwd, file);
  return { dir: await pinDirOfFile(path), file: path };
}

/**
 * `--netns NAME` of stats and top, which read pins only: a check that the pipeline under `dir`
 * runs in that namespace, so a wrong name is said rather than ignored.
 */
export async function checkRunsIn(dir: string, netns: string | undefined): Promise<void> {
  if (netns === undefined) return;
  const s = await pipelineStatus(dir, { netns });
  if (!s.running || (s.meta.attach.netns ?? undefined) !== netns) {
    throw new UsageError(
      `the pipeline pinned at ${dir} does not run in network namespace '${netns}' (it went up in ${s.meta.attach.netns === null ? "the host's" : `'${s.meta.attach.netns}'`})`,
      { hint: "leave --netns out: the counts are read through the pins, from any namespace" },
    );
  }
}

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
  const { values, positionals } = parseCommandArgs("down", args, {
    pin: { type: "string" },
    netns: { type: "string" },
    help: { type: "boolean", short: "h" },
  });
  if (values.help) {
    io.stdout(`${HELP}\n`);
    return 0;
  }
  const { dir } = await pinnedTarget("down", positionals, values.pin, io);
  const r = await downPipeline(dir, values.netns === undefined ? {} : { netns: values.netns });
  io.stdout(formatDown(r, dir));
  return 0;
};
