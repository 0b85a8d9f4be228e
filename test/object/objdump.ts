import { run } from "../elf/fixture-objects.js";

/** One instruction slot as llvm-objdump prints it (a lddw is one line of 16 bytes). */
export interface DumpInsn {
  /** Slot index within the section. */
  index: number;
  bytes: number[];
  reloc: { type: string; symbol: string } | undefined;
}

/** A function label and its instructions. */
export interface DumpFunction {
  section: string;
  name: string;
  /** First slot within the section. */
  start: number;
  insns: DumpInsn[];
}

/** Parses `llvm-objdump -d -r` into functions, independently of tsbpf's ELF reader. */
export function objdumpFunctions(obj: string): DumpFunction[] {
  const out: DumpFunction[] = [];
  let section = "";
  let cur: DumpFunction | undefined;
  let last: DumpInsn | undefined;
  for (const line of run("llvm-objdump", ["-d", "-r", obj]).split("\n")) {
    let m = /^Disassembly of section (.*):$/.exec(line);
    if (m) {
      section = m[1] as string;
      continue;
    }
    m = /^([0-9a-f]{16}) <(.*)>:$/.exec(line);
    // Branch-target labels (LBB0_9) are inside a function, not the start of one.
    if (m && !/^(LBB|\.L)/.test(m[2] as string)) {
      cur = { section, name: m[2] as string, start: Number.parseInt(m[1] as string, 16) / 8, insns: [] };
      out.push(cur);
      continue;
    }
    if (m) continue;
    m = /^\s*(\d+):\t([0-9a-f]{2}(?: [0-9a-f]{2})*)/.exec(line);
    if (m && cur) {
      last = {
        index: Number(m[1]),
        bytes: (m[2] as string)
          .trim()
          .split(" ")
          .map((h) => Number.parseInt(h, 16)),
        reloc: undefined,
      };
      cur.insns.push(last);
      continue;
    }
    m = /^\s+[0-9a-f]+:\s+(R_BPF_\w+)\s+(\S+)/.exec(line);
    if (m && last) last.reloc = { type: m[1] as string, symbol: m[2] as string };
  }
  return out;
}

/** Number of 8-byte slots a function occupies. */
export function slotCount(f: DumpFunction): number {
  return f.insns.reduce((n, i) => n + i.bytes.length / 8, 0);
}
