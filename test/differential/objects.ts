import { existsSync, readdirSync, readFileSync, statSync } from "node:fs";
import { join, relative } from "node:path";
import { parseTailArg, type TailSlot } from "../../src/tailcall/wiring.js";

/**
 * Wiring the differential applies beyond an object's static `.values`: what its loader or test
 * does. A source may also declare it with `// tsbpf-tail: MAP:KEY=PROG` lines.
 */
const KNOWN_WIRING: Record<string, string[]> = {
  "examples/tail-call/tail_call.bpf.o": ["prog_array:0=port8080_prog", "prog_array:1=port22_prog"],
  "test/bpf/tc/tc_dispatch.bpf.o": ["prog_array:0=tc_port8080", "prog_array:1=tc_port22"],
  "test/bpf/tc/tc_tailcalls.bpf.o": [
    "jmp:0=slot0",
    "jmp:1=slot1",
    "jmp:2=slot2",
    "chain:1=chain1",
    "chain:2=chain2",
    "chain:3=chain3",
    "loop:0=self_loop",
  ],
};

/** A compiled BPF object of the repository and the tail-call wiring it runs with. */
export interface ObjectEntry {
  /** Path relative to the repository root. */
  path: string;
  wiring: TailSlot[];
}

function walk(dir: string, out: string[]): void {
  let names: string[] = [];
  try {
    names = readdirSync(dir);
  } catch {
    return;
  }
  for (const n of names.sort()) {
    const p = join(dir, n);
    if (statSync(p).isDirectory()) walk(p, out);
    else if (n.endsWith(".bpf.o")) out.push(p);
  }
}

/** Every `*.bpf.o` under examples/ and test/bpf/ (relative to `root`), with its wiring. */
export function repositoryObjects(root = process.cwd()): ObjectEntry[] {
  const files: string[] = [];
  walk(join(root, "examples"), files);
  walk(join(root, "test", "bpf"), files);
  return files.map((f) => {
    const path = relative(root, f);
    const lines = [...(KNOWN_WIRING[path] ?? [])];
    const src = f.replace(/\.o$/, ".c");
    if (existsSync(src)) {
      for (const m of readFileSync(src, "utf8").matchAll(/\/\/\s*tsbpf-tail:\s*(\S+)/g))
        lines.push(m[1] as string);
    }
    return { path, wiring: [...new Set(lines)].map(parseTailArg) };
  });
}
