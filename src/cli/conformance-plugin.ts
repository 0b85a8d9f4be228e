import { UsageError } from "../errors.js";
import { runConformance } from "../vm/conformance.js";

/**
 * A bpf_conformance plugin (the protocol of github.com/Alan-Jowett/bpf_conformance): the test
 * memory comes as argv[0] and the program on stdin, both as hex bytes (separated by spaces, or
 * not); the plugin prints r0 in hex on one line and exits 0, or prints an error and exits 1.
 * Optional flags as uBPF's plugin takes them: `--program HEX` instead of stdin, `--interpret`.
 */

/** I/O of the plugin, injectable for tests. */
export interface PluginIo {
  stdin: string;
  stdout(s: string): void;
  stderr(s: string): void;
}

/** Runs the plugin protocol on `args` (argv after the program name) and returns the exit code. */
export function conformancePlugin(args: string[], io: PluginIo): number {
  const rest = [...args];
  let memoryHex = "";
  let programHex: string | undefined;
  if (rest.length > 0 && !(rest[0] as string).startsWith("--")) memoryHex = rest.shift() as string;
  while (rest.length > 0) {
    const a = rest.shift() as string;
    if (a === "--program" && rest.length > 0) programHex = rest.shift() as string;
    else if (a === "--interpret" || a === "") continue;
    else {
      io.stderr(`Invalid arguments: ${a}\n`);
      return 1;
    }
  }
  try {
    const program = parseHexBytes(programHex ?? firstLine(io.stdin), "program");
    const memory = parseHexBytes(memoryHex, "memory");
    const r0 = runConformance(program, memory);
    io.stdout(`${r0.toString(16)}\n`);
    return 0;
  } catch (e) {
    const msg = e instanceof Error ? e.message : String(e);
    // bpf_conformance compares stdout with a test's expected error text, so the error goes to both.
    io.stdout(`${msg}\n`);
    io.stderr(`${msg}\n`);
    return 1;
  }
}

function firstLine(s: string): string {
  const nl = s.indexOf("\n");
  return nl < 0 ? s : s.slice(0, nl);
}

/** Parses "b7 00 00 ..." or "b70000..." into bytes. */
function parseHexBytes(s: string, what: string): Uint8Array {
  const tokens = s
    .trim()
    .split(/\s+/)
    .filter((t) => t.length > 0);
  const out: number[] = [];
  for (const t of tokens) {
    if (!/^(0x)?[0-9a-fA-F]+$/.test(t)) throw new UsageError(`${what}: "${t}" is not hex`);
    const h = t.startsWith("0x") ? t.slice(2) : t;
    if (tokens.length === 1 && h.length > 2) {
      if (h.length % 2 !== 0) throw new UsageError(`${what}: odd number of hex digits`);
      for (let i = 0; i < h.length; i += 2) out.push(Number.parseInt(h.slice(i, i + 2), 16));
    } else {
      if (h.length > 2) throw new UsageError(`${what}: "${t}" is not one byte`);
      out.push(Number.parseInt(h, 16));
    }
  }
  return Uint8Array.from(out);
}
