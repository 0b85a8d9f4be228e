import { readFileSync } from "node:fs";
import { isTsbpfError, isUsageError } from "../errors.js";
import type { Command } from "./args.js";
import { type CliIo, processIo } from "./io.js";

const USAGE = `usage: tsbpf <command> [options]

commands:
  demo                       run the tail-call dispatcher on the built-in VM (no root, no clang)
  inspect OBJ [--json]       programs, maps, tail-call sites and globals of a BPF object
  disasm OBJ [--prog NAME]   disassemble, with the C source lines from BTF
  run OBJ --prog NAME ...    run a program on packets (VM by default, or --backend kernel)
  check OBJ|PIPELINE [--tail ...]    find empty slots, unreachable programs, loops and load failures of tail calls
  graph OBJ|PIPELINE [--format F] [-o FILE] [--stats]   draw the tail-call pipeline (mermaid, dot or svg)
  attach OBJ --prog NAME --iface IF ...   load, wire tail calls, attach XDP, print trace lines (--events: ring-buffer records)
  detach --pin DIR [--netns NAME]   remove a pinned pipeline (the same as down --pin DIR)
  detach --tc HOOK --iface IF       remove the tc filters tsbpf attach left on a hook
  up PIPELINE [--netns NAME]        load, wire, attach and pin a pipeline file; it runs on after exit
  status (PIPELINE | --pin DIR)     what a pipeline that is up runs: programs, slots, interface
  down (PIPELINE | --pin DIR)       detach a pipeline that is up and remove everything it pinned
  gen skeleton OBJ [-o FILE] ...   a typed TypeScript module for an object (its skeleton)
  stats (PIPELINE | --pin DIR) [--json]   counts of a pipeline loaded with stats
  top (PIPELINE | --pin DIR)        those counts live, with rates and the chain's run time
  swap (PIPELINE | --pin DIR) MAP:KEY=[OBJ:]PROG   replace one stage of a running pipeline
  send --iface IF (--packet SPEC | --pcap F) (--count N | --duration S)   test traffic (veths)
  conformance-plugin [MEM]   bpf_conformance plugin protocol

Run 'tsbpf <command> --help' for a command's options. Add --verbose for the details of an error.`;

/**
 * The version in package.json (two levels above dist/src/cli/). Read with node:fs's own call: a
 * dynamic import of node:fs/promises from the bundle started Node's ES module loader (about 7 ms).
 */
function packageVersion(): string {
  const pkg = JSON.parse(readFileSync(new URL("../../../package.json", import.meta.url), "utf8")) as {
    version?: string;
  };
  return pkg.version ?? "unknown";
}

/**
 * Runs the CLI with the command table `table` and returns the exit code. Errors never escape as
 * stack traces: a tsbpf error is one `tsbpf:` line; anything else is an internal error, also one
 * line unless --verbose. `main` (every command) and `kernelMain` (the kernel's) pass their table.
 */
export async function runCli(
  argv: string[],
  table: Readonly<Record<string, Command>>,
  io: CliIo = processIo(),
): Promise<number> {
  const verbose = argv.includes("--verbose") || argv.includes("-v");
  const args = argv.filter((a) => a !== "--verbose" && a !== "-v");
  const [name, ...rest] = args;
  if (name === undefined || name === "help" || name === "--help" || name === "-h") {
    io.stdout(`${USAGE}\n`);
    return name === undefined ? 2 : 0;
  }
  if (name === "--version") {
    io.stdout(`tsbpf ${packageVersion()}\n`);
    return 0;
  }
  const cmd = Object.hasOwn(table, name) ? table[name] : undefined;
  if (cmd === undefined) {
    io.stderr(`tsbpf: unknown command '${name}' (try 'tsbpf help')\n`);
    return 2;
  }
  try {
    return await cmd(rest, io, { verbose });
  } catch (e) {
    io.stderr(`${formatCliError(e, verbose)}\n`);
    return isUsageError(e) ? 2 : 1;
  }
}

/** One line for the user; with `verbose`, the hint, the cause chain, extra detail and the stack. */
export function formatCliError(e: unknown, verbose: boolean): string {
  if (isTsbpfError(e)) {
    let line = `tsbpf: ${e.message}`;
    if (e.hint !== undefined) line += ` — hint: ${e.hint}`;
    if (verbose) {
      const extra = (e as { log?: string[] }).log;
      if (Array.isArray(extra) && extra.length > 0) line += `\n--- verifier log ---\n${extra.join("\n")}`;
      let c: unknown = e.cause;
      while (c instanceof Error) {
        line += `\ncaused by: ${c.message}`;
        c = c.cause;
      }
      if (e.stack) line += `\n${e.stack}`;
    }
    return line;
  }
  const msg = e instanceof Error ? e.message : String(e);
  return verbose && e instanceof Error && e.stack
    ? `tsbpf: internal error: ${msg}\n${e.stack}`
    : `tsbpf: internal error: ${msg} (run with --verbose for details)`;
}
