/**
 * What `check`, `graph` and `run` take as TARGET: a pipeline file (`*.yaml`), or an object file
 * with `--tail` slots and an `--entry`. Either way the command works on one {@link Pipeline}.
 */
import { loadPipeline, Pipeline } from "../pipeline/pipeline.js";
import type { ProgramRef } from "../tailcall/plan.js";
import { checkWiring, parseTailArg } from "../tailcall/wiring.js";
import { usage } from "./args.js";
import { readObject } from "./load-object.js";

/** Whether the command line names a pipeline file rather than an object. */
export function isPipelineFile(path: string): boolean {
  return /\.ya?ml$/i.test(path);
}

/**
 * The pipeline the command line names. With a pipeline file `--tail` is refused (the file fills
 * its slots) and `--entry` must not contradict it; with an object, `--tail` and `--entry` are
 * checked against its programs and maps, each mistake one usage line.
 */
export async function readTarget(
  positionals: readonly string[],
  command: string,
  opts: { tail?: readonly string[] | undefined; entry?: string | undefined; keepMissing?: boolean } = {},
): Promise<Pipeline> {
  if (positionals.length > 1)
    usage(`${command}: one object or pipeline file expected, got ${positionals.length}`);
  const target = positionals[0];
  if (target !== undefined && isPipelineFile(target)) {
    if (opts.tail !== undefined)
      usage(`${command}: --tail goes with an object; a pipeline file fills its slots itself`);
    if (opts.entry !== undefined)
      usage(`${command}: --entry goes with an object; a pipeline file names its entry`);
    return loadPipeline(target, { keepMissing: opts.keepMissing === true });
  }
  const { spec } = await readObject(target, command);
  const tail = (opts.tail ?? []).map(parseTailArg);
  if (opts.keepMissing !== true) {
    checkWiring(spec, tail);
    if (opts.entry !== undefined && spec.programs[opts.entry] === undefined) {
      usage(
        `${command}: --entry: no program named '${opts.entry}'`,
        `programs: ${Object.keys(spec.programs).join(", ") || "(none)"}`,
      );
    }
  }
  return Pipeline.fromObject(spec, { tail, ...(opts.entry === undefined ? {} : { entry: opts.entry }) });
}

/** `--prog NAME` (or `OBJECT:NAME`) against a pipeline's objects; anything else is one usage line. */
export function pipelineProgram(p: Pipeline, name: string, command: string): ProgramRef {
  const m = /^([^:]+):([^:]+)$/.exec(name);
  const program = m === null ? name : (m[2] as string);
  const refs = Object.entries(p.plan.objects)
    .filter(([alias, spec]) => (m === null || m[1] === alias) && spec.programs[program] !== undefined)
    .map(([object]) => ({ object, program }));
  if (refs.length !== 1) {
    const all = Object.entries(p.plan.objects).flatMap(([a, spec]) =>
      Object.keys(spec.programs).map((n) => `${a}:${n}`),
    );
    usage(
      `${command}: ${refs.length === 0 ? "no" : "more than one"} program named '${name}' in pipeline ${p.name}`,
      `programs: ${all.join(", ")}`,
    );
  }
  return refs[0] as ProgramRef;
}
