import { relative, resolve } from "node:path";
import { upPipeline } from "../pipeline/deploy.js";
import { loadPipeline } from "../pipeline/pipeline.js";
import { type Command, parseCommandArgs, usage } from "./args.js";
import { isPipelineFile } from "./target.js";
import { describeAttachment, describeSlots } from "./status.js";

const HELP = `usage: tsbpf up PIPELINE [--netns NAME] [--stats]

Puts a pipeline file up on the kernel (root) so that it keeps running after this command exits:
loads every object, fills the slots the file names, attaches the entry program to attach.iface
in attach.mode through a bpf_link, and pins it all in bpffs under the file's pin: directory
(default /sys/fs/bpf/tsbpf/<name>): DIR/link, DIR/meta (what 'tsbpf status' shows) and each
object's maps and programs under DIR/<object>/. Then it exits.

  --netns NAME   the interface is in network namespace NAME (instead of the file's attach.netns);
                 pins stay in this host's bpffs
  --stats        load the programs with per-stage counters (as stats: true in the file does):
                 'tsbpf stats PIPELINE' and 'tsbpf top PIPELINE' read them

If the same pipeline (same objects, slots and attach point) is up already, nothing changes. A
changed pipeline is refused and what runs is left alone: upgrading a running pipeline is not
supported yet; 'tsbpf down PIPELINE' then 'tsbpf up PIPELINE' replaces it. If anything fails,
nothing is left behind. Run it from the host, with --netns, rather than inside 'ip netns exec'.`;

/** `tsbpf up PIPELINE [--netns NAME] [--stats]`. */
export const upCommand: Command = async (args, io) => {
  const { values, positionals } = parseCommandArgs("up", args, {
    netns: { type: "string" },
    stats: { type: "boolean" },
    help: { type: "boolean", short: "h" },
  });
  if (values.help) {
    io.stdout(`${HELP}\n`);
    return 0;
  }
  if (positionals.length !== 1) {
    usage(`up: one pipeline file expected, got ${positionals.length}`, "tsbpf up PIPELINE [--netns NAME]");
  }
  const given = positionals[0] as string;
  if (!isPipelineFile(given)) {
    usage(
      `up: ${given} is not a pipeline file (.yaml)`,
      "to keep one object attached, use tsbpf attach OBJ --prog NAME --iface IF --pin DIR",
    );
  }
  const file = resolve(io.cwd, given);
  const pipeline = await loadPipeline(file);
  // Ctrl+C while going up undoes everything rather than leaving half a pipeline behind.
  const stop = new AbortController();
  const onSignal = (): void => stop.abort();
  process.on("SIGINT", onSignal);
  process.on("SIGTERM", onSignal);
  let r: Awaited<ReturnType<typeof upPipeline>>;
  try {
    r = await upPipeline(pipeline, {
      ...(values.netns === undefined ? {} : { netns: values.netns }),
      onWarning: (m) => io.stderr(`tsbpf: warning: ${m}\n`),
      signal: stop.signal,
      by: "tsbpf up",
      ...(values.stats === true ? { stats: true } : {}),
    });
  } finally {
    process.removeListener("SIGINT", onSignal);
    process.removeListener("SIGTERM", onSignal);
  }
  if (r.mountedBpffs) io.stderr("tsbpf: note: no bpffs was mounted on /sys/fs/bpf; mounted one\n");
  const s = r.status;
  const shown = relative(io.cwd, file).startsWith("..") ? file : relative(io.cwd, file);
  if (!r.changed) {
    io.stdout(
      `${s.meta.name} is already up under ${s.dir} with the same content (since ${s.meta.upAt}): nothing changed\n`,
    );
    return 0;
  }
  io.stdout(`up: ${s.meta.name}: ${describeAttachment(s)}; slots: ${describeSlots(s)}\n`);
  io.stdout(`pinned under ${s.dir}: it runs until 'tsbpf down ${shown}'; 'tsbpf status ${shown}' shows it\n`);
  return 0;
};
