import { type ParseArgsConfig, parseArgs } from "node:util";
import { UsageError } from "../errors.js";

/** Options shared by every command. */
export interface GlobalFlags {
  verbose: boolean;
}

/** A command: takes its arguments (after the command name) and returns the exit code. */
export type Command = (args: string[], io: import("./io.js").CliIo, flags: GlobalFlags) => Promise<number>;

/** Raises a usage error; commands call it for bad arguments. */
export function usage(message: string, hint?: string): never {
  throw new UsageError(message, hint === undefined ? {} : { hint });
}

/**
 * `util.parseArgs` with its TypeErrors turned into one-line usage errors naming the command.
 * Options are strict: an unknown flag is an error, never silently ignored.
 */
export function parseCommandArgs<T extends NonNullable<ParseArgsConfig["options"]>>(
  command: string,
  args: string[],
  options: T,
): ReturnType<typeof parseArgs<{ args: string[]; options: T; allowPositionals: true; strict: true }>> {
  try {
    return parseArgs({ args, options, allowPositionals: true, strict: true });
  } catch (e) {
    const msg = e instanceof Error ? e.message.replace(/^.*?: /, "").split(/\. |\n/)[0] : String(e);
    throw new UsageError(`${command}: ${msg}`, { hint: `see 'tsbpf ${command} --help'` });
  }
}

/** Parses a non-negative integer flag value, naming the flag when it is not one. */
export function intFlag(
  name: string,
  value: string | undefined,
  def: number,
  max = Number.MAX_SAFE_INTEGER,
): number {
  if (value === undefined) return def;
  if (!/^\d+$/.test(value) || Number(value) > max)
    usage(`--${name} takes a whole number from 0 to ${max}, not '${value}'`);
  return Number(value);
}
