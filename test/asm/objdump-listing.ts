/**
 * Runs llvm-objdump and reads its listing, for the tests that hold our disassembler against it.
 */
import { spawnSync } from "node:child_process";
import { readdirSync, statSync } from "node:fs";
import { join } from "node:path";
import { STT_FILE, STT_SECTION, type TestElf } from "./elf-sections.js";

/** One listed instruction (`index: text`) or a run of zero slots llvm-objdump elided as `...`. */
export type ListingLine = { index: number; text: string } | { skippedZeroesAfter: number };

/** Whether llvm-objdump can be run; the reason when not. */
export function objdumpAvailable(): { ok: true } | { ok: false; reason: string } {
  const r = spawnSync("llvm-objdump", ["--version"], { encoding: "utf8" });
  if (r.error || r.status !== 0) return { ok: false, reason: "needs llvm-objdump on PATH (not found)" };
  return { ok: true };
}

/** `llvm-objdump -d --no-show-raw-insn [extra] file`, as lines per section name. */
export function objdumpListing(file: string, extra: string[] = []): Map<string, ListingLine[]> {
  const r = spawnSync("llvm-objdump", ["-d", "--no-show-raw-insn", ...extra, file], {
    encoding: "utf8",
    maxBuffer: 64 << 20,
  });
  if (r.status !== 0) throw new Error(`llvm-objdump failed on ${file}: ${r.stderr}`);
  const out = new Map<string, ListingLine[]>();
  let current: ListingLine[] | undefined;
  let last = -1;
  for (const line of r.stdout.split("\n")) {
    const sec = /^Disassembly of section (.*):$/.exec(line);
    if (sec) {
      current = [];
      last = -1;
      out.set(sec[1] as string, current);
      continue;
    }
    if (!current) continue;
    const m = /^\s*(\d+):\t(.*)$/.exec(line);
    if (m) {
      last = Number(m[1]);
      current.push({ index: last, text: m[2] as string });
    } else if (line === "\t\t...") {
      current.push({ skippedZeroesAfter: last });
    }
  }
  return out;
}

/** One section of `llvm-objdump -dr`: instructions by slot, each with the relocation listed under it. */
export interface RelocatedSection {
  insns: Map<number, { text: string; reloc?: string }>;
  /** The symbol llvm-objdump heads each labelled slot with (`0000000000000030 <bump>:`). */
  labels: Map<number, string>;
}

/** `llvm-objdump -dr --no-show-raw-insn file`, by section name. */
export function objdumpRelocated(file: string): Map<string, RelocatedSection> {
  const r = spawnSync("llvm-objdump", ["-dr", "--no-show-raw-insn", file], {
    encoding: "utf8",
    maxBuffer: 64 << 20,
  });
  if (r.status !== 0) throw new Error(`llvm-objdump failed on ${file}: ${r.stderr}`);
  const out = new Map<string, RelocatedSection>();
  let current: RelocatedSection | undefined;
  let last: { text: string; reloc?: string } | undefined;
  for (const line of r.stdout.split("\n")) {
    const sec = /^Disassembly of section (.*):$/.exec(line);
    if (sec) {
      current = { insns: new Map(), labels: new Map() };
      last = undefined;
      out.set(sec[1] as string, current);
      continue;
    }
    if (!current) continue;
    const label = /^([0-9a-f]{16}) <(.*)>:$/.exec(line);
    const insn = /^\s*(\d+):\t(.*)$/.exec(line);
    const reloc = /^\t\t[0-9a-f]+:\s+R_BPF_\w+\t(.*)$/.exec(line);
    if (label) current.labels.set(Number.parseInt(label[1] as string, 16) / 8, label[2] as string);
    else if (insn) {
      last = { text: insn[2] as string };
      current.insns.set(Number(insn[1]), last);
    } else if (reloc && last) last.reloc = reloc[1] as string;
  }
  return out;
}

/**
 * The label llvm-objdump prints after a jump to slot `target` of section `shndx`: the last symbol
 * (by address, then name) at or before the target address, computed in unsigned 64-bit arithmetic
 * as llvm-objdump does, plus `+0x<hex>` when the target is past it. Section and file symbols are
 * never used.
 */
export function objdumpLabeler(elf: TestElf, shndx: number): (target: number) => string | undefined {
  const syms = elf.symbols
    .filter((s) => s.shndx === shndx && s.type !== STT_SECTION && s.type !== STT_FILE && s.name !== "")
    .map((s) => ({ addr: BigInt(s.value), name: s.name }))
    .sort((a, b) =>
      a.addr !== b.addr ? (a.addr < b.addr ? -1 : 1) : a.name < b.name ? -1 : a.name > b.name ? 1 : 0,
    );
  return (target) => {
    const addr = BigInt.asUintN(64, BigInt(target) * 8n);
    let best: { addr: bigint; name: string } | undefined;
    for (const s of syms) if (s.addr <= addr) best = s;
    if (!best) return undefined;
    const disp = addr - best.addr;
    return disp === 0n ? best.name : `${best.name}+0x${disp.toString(16)}`;
  };
}

/** Every `*.bpf.o` under the given directories (relative to the repo root), sorted. */
export function findObjects(dirs: string[]): string[] {
  const out: string[] = [];
  const walk = (dir: string) => {
    let entries: string[];
    try {
      entries = readdirSync(dir);
    } catch {
      return;
    }
    for (const e of entries) {
      const p = join(dir, e);
      if (statSync(p).isDirectory()) walk(p);
      else if (p.endsWith(".bpf.o")) out.push(p);
    }
  };
  for (const d of dirs) walk(d);
  return out.sort();
}
