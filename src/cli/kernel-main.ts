import type { CliIo } from "./io.js";
import { kernelCommands } from "./kernel-commands.js";
import { runCli } from "./run-cli.js";

/**
 * The CLI of the kernel's commands only ({@link kernelCommands}): the entry of each kernel
 * command's bundle, which bin/tsbpf.js runs for that command (scripts/bundle.mjs). Named `main`
 * as main.ts's (every command) is: each CLI bundle exports the `main` bin/tsbpf.js calls.
 */
export function main(argv: string[], io?: CliIo): Promise<number> {
  return runCli(argv, kernelCommands, io);
}
