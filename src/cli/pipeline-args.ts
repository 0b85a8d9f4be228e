/**
 * The arguments every command on a pinned pipeline takes (detach, down, swap, stats, status,
 * top): `--pin DIR`, `--netns NAME`, `--help`, and PIPELINE (a pipeline file) or `--pin DIR`
 * naming its bpffs directory. One place, so each command says only what is its own.
 */
import { resolve } from "node:path";
import type { ParseArgsConfig } from "node:util";
import { UsageError } from "../errors.js";
import { pinDirOfFile, pipelineStatus } from "../pipeline/deploy.js";
import { parseCommandArgs, usage } from "./args.js";
import type { CliIo } from "./io.js";

/** The options shared by the commands on a pinned pipeline. */
const PINNED_OPTIONS = {
  pin: { type: "string" },
  netns: { type: "string" },
  help: { type: "boolean", short: "h" },
} as const;

type Options = NonNullable<ParseArgsConfig["options"]>;

/** A pinned-pipeline command's parsed arguments (undefined from {@link pipelineArgs} after --help). */
export interface PipelineArgs<T extends Options> {
  /** The option values: the shared ones and the command's own. */
  values: ReturnType<typeof parseCommandArgs<typeof PINNED_OPTIONS & T>>["values"];
  positionals: string[];
  /** `--netns NAME`, when given. */
  netns: string | undefined;
  /** `{ netns }` when --netns was given, `{}` otherwise: the library's option as it is spelt. */
  netnsOption: { netns?: string };
  /**
   * The pin directory PIPELINE or `--pin DIR` names, from `positionals` (all of them unless the
   * command took its own off first); `file` is the pipeline file's path when one was given.
   */
  target(positionals?: readonly string[]): Promise<{ dir: string; file: string | undefined }>;
}

/**
 * Parses a pinned-pipeline command's arguments (the shared options and `own`), and prints
 * `help` and returns undefined when --help was given.
 */
export function pipelineArgs<T extends Options = Record<never, never>>(
  command: string,
  args: string[],
  io: CliIo,
  help: string,
  own?: T,
): PipelineArgs<T> | undefined {
  const { values, positionals } = parseCommandArgs(command, args, {
    ...PINNED_OPTIONS,
    ...(own ?? ({} as T)),
  });
  // The shared options, typed as they are whatever the command adds.
  const shared = values as { help?: boolean; netns?: string; pin?: string };
  if (shared.help === true) {
    io.stdout(`${help}\n`);
    return undefined;
  }
  const { netns, pin } = shared;
  return {
    values,
    positionals,
    netns,
    netnsOption: netns === undefined ? {} : { netns },
    target: (p = positionals) => pinnedTarget(command, p, pin, io),
  };
}

/** Which pin directory `PIPELINE | --pin DIR` names. */
export async function pinnedTarget(
  command: string,
  positionals: readonly string[],
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
