import { commands } from "./commands.js";
import type { CliIo } from "./io.js";
import { runCli } from "./run-cli.js";

/** Runs the CLI (every command) and returns the exit code; see {@link runCli}. */
export function main(argv: string[], io?: CliIo): Promise<number> {
  return runCli(argv, commands, io);
}
