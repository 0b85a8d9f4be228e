import { conformancePlugin } from "./conformance-plugin.js";
import type { Command } from "./args.js";

/** `tsbpf conformance-plugin [MEMHEX]`: the bpf_conformance plugin protocol on the VM. */
export const conformanceCommand: Command = async (args, io) => {
  const stdin = args.includes("--program") ? "" : await io.readStdin();
  return conformancePlugin(args, { stdin, stdout: io.stdout, stderr: io.stderr });
};
