import { readFile, writeFile } from "node:fs/promises";
import { basename, dirname, relative, resolve, sep } from "node:path";
import { UsageError } from "../errors.js";
import { generateSkeleton } from "../gen/skeleton.js";
import { type Command, parseCommandArgs, usage } from "./args.js";
import { readObject } from "./load-object.js";

const HELP = `usage: tsbpf gen skeleton OBJ [-o FILE] [--name NAME] [--check] [--type MAP=STRUCT ...] [--embed|--path]

Writes a TypeScript module for a BPF object, as 'bpftool gen skeleton' writes a C header: the
types of its maps' keys and values and of its global variables, from BTF (structs as
interfaces, u64 as bigint, enums as unions with a constant of their names), its programs by
name, and NAME.open() / NAME.openAndLoad({ backend }) to load it on the VM or the kernel.
The same object gives the same bytes.

  -o, --output FILE   write the module to FILE (default: standard output)
  --name NAME         the exported constant and the prefix of its types (default: from OBJ,
                      tail_call.bpf.o → TailCall)
  --check             write nothing: exit 1 when FILE is not what OBJ generates now (for CI)
  --type MAP=STRUCT   the record type of ring buffer or perf event array MAP, which BTF cannot
                      give (repeatable); STRUCT must be in the object's BTF
  --embed             embed the object in the module (the default)
  --path              read the object when the skeleton is opened, from its path relative to
                      FILE (needs -o)`;

/** `tsbpf gen skeleton OBJ ...`: the subcommands of `gen` (only `skeleton` so far). */
export const genCommand: Command = async (args, io) => {
  const [what, ...rest] = args;
  if (what === "--help" || what === "-h" || what === "help") {
    io.stdout(`${HELP}\n`);
    return 0;
  }
  if (what !== "skeleton") {
    usage(
      what === undefined ? "gen: say what to generate" : `gen: unknown generator '${what}'`,
      "tsbpf gen skeleton OBJ [-o FILE]",
    );
  }
  const { values, positionals } = parseCommandArgs("gen skeleton", rest, {
    output: { type: "string", short: "o" },
    name: { type: "string" },
    check: { type: "boolean" },
    type: { type: "string", multiple: true },
    embed: { type: "boolean" },
    path: { type: "boolean" },
    help: { type: "boolean", short: "h" },
  });
  if (values.help) {
    io.stdout(`${HELP}\n`);
    return 0;
  }
  if (positionals.length > 1) usage(`gen skeleton: one object file expected, got ${positionals.length}`);
  if (values.embed && values.path) usage("gen skeleton: --embed and --path exclude each other");
  const output = values.output === undefined ? undefined : resolve(io.cwd, values.output);
  if (values.check && output === undefined) usage("gen skeleton: --check needs -o FILE, the file to check");
  if (values.path && output === undefined) {
    usage("gen skeleton: --path needs -o FILE: the object's path is written relative to it");
  }
  const recordTypes: Record<string, string> = {};
  for (const t of values.type ?? []) {
    const m = /^([^=]+)=(.+)$/.exec(t);
    if (m === null) usage(`gen skeleton: --type takes MAP=STRUCT, not '${t}'`, "such as --type events=event");
    recordTypes[m[1] as string] = m[2] as string;
  }
  const objPath = positionals[0];
  const { spec, bytes } = await readObject(objPath, "gen skeleton");
  const file = basename(objPath as string);
  const text = generateSkeleton(spec, bytes, {
    file,
    recordTypes,
    ...(values.name === undefined ? {} : { name: values.name }),
    ...(values.path && output !== undefined
      ? { objectPath: relativeUrl(dirname(output), resolve(io.cwd, objPath as string)) }
      : {}),
  });
  if (output === undefined) {
    io.stdout(text);
    return 0;
  }
  if (values.check) {
    const current = await readFile(output, "utf8").catch(() => undefined);
    if (current === text) return 0;
    const again = `tsbpf gen skeleton ${rest.filter((a) => a !== "--check").join(" ")}`;
    const why = current === undefined ? "no such file" : `not what ${file} generates now`;
    io.stderr(`tsbpf: ${values.output}: ${why} — hint: generate it again: ${again}\n`);
    return 1;
  }
  try {
    await writeFile(output, text);
  } catch (e) {
    throw new UsageError(
      `gen skeleton: cannot write ${values.output}: ${(e as NodeJS.ErrnoException).code ?? e}`,
    );
  }
  return 0;
};

/** `to` as a URL path relative to directory `from` (`./tail_call.bpf.o`, `../obj/x.bpf.o`). */
function relativeUrl(from: string, to: string): string {
  const rel = relative(from, to).split(sep).join("/");
  return rel.startsWith("../") ? rel : `./${rel}`;
}
