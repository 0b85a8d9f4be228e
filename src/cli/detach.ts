import { resolve } from "node:path";
import { unpinPipeline } from "../kernel/pinning.js";
import { type Command, parseCommandArgs, usage } from "./args.js";

const HELP = `usage: tsbpf detach --pin DIR

Removes a pipeline that 'tsbpf attach --pin DIR' left running: detaches the XDP link, then
removes the pinned link, maps and programs and the directory itself.`;

/** `tsbpf detach --pin DIR`. */
export const detachCommand: Command = async (args, io) => {
  const { values, positionals } = parseCommandArgs("detach", args, {
    pin: { type: "string" },
    help: { type: "boolean", short: "h" },
  });
  if (values.help) {
    io.stdout(`${HELP}\n`);
    return 0;
  }
  if (positionals.length > 0)
    usage(`detach: unexpected argument '${positionals[0]}'`, "tsbpf detach --pin DIR");
  if (values.pin === undefined)
    usage("detach: missing --pin DIR (the directory given to tsbpf attach --pin)");
  const dir = resolve(io.cwd, values.pin);
  const r = unpinPipeline(dir);
  io.stdout(`${r.detached ? "detached, and " : ""}removed ${r.removed.length} pins and ${dir}\n`);
  return 0;
};
