import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { test } from "node:test";
import { callTarget } from "../../src/asm/disasm.js";
import { LDDW } from "../../src/asm/opcodes.js";
import { disassembleWithSource } from "../../src/cli/disasm.js";
import { parseElf, SymbolType } from "../../src/elf/index.js";
import { loadCollectionSpec } from "../../src/object/load-collection-spec.js";
import {
  findObjects,
  objdumpAvailable,
  objdumpRelocated,
  type RelocatedSection,
} from "../asm/objdump-listing.js";

/**
 * The function a bpf-to-bpf call at slot `k` of `sec` enters, as `llvm-objdump -dr` shows it: the
 * symbol of the relocation listed under the call (`R_BPF_64_32 global_len`, with `call -1`), or,
 * when that is a section symbol (`R_BPF_64_32 .text`, a static function) or there is none (a
 * call within the section), the label llvm-objdump heads the target slot with.
 */
function objdumpCallee(
  listing: Map<string, RelocatedSection>,
  secName: string,
  k: number,
): string | undefined {
  const sec = listing.get(secName);
  const line = sec?.insns.get(k);
  const m = line && /^call (-?\d+)$/.exec(line.text);
  if (!sec || !line || !m) return undefined;
  const imm = Number(m[1]);
  if (line.reloc === undefined) return sec.labels.get(k + 1 + imm);
  if (!line.reloc.startsWith(".")) return line.reloc;
  return listing.get(line.reloc)?.labels.get(imm + 1);
}

/**
 * `tsbpf disasm` prints each program linked. Every function's instructions (the entry's and each
 * subprogram's) must read exactly as `llvm-objdump -dr` prints them where the object holds them,
 * except that a map reference gains ` # name` and a bpf-to-bpf call shows the linked offset and
 * names the function it enters: the one llvm-objdump's relocation (or target label) points to.
 */
test("tsbpf disasm matches llvm-objdump -dr on every function, and names each call's callee as it does", (t) => {
  const avail = objdumpAvailable();
  if (!avail.ok) return t.skip(avail.reason);
  let compared = 0;
  let calls = 0;
  const mismatches: string[] = [];
  for (const file of findObjects(["examples", "test/bpf/fixtures", "test/bpf/object", "test/bpf/edge"])) {
    const bytes = new Uint8Array(readFileSync(file));
    let spec: ReturnType<typeof loadCollectionSpec>;
    try {
      spec = loadCollectionSpec(bytes, { file });
    } catch {
      continue; // objects the model refuses are covered by its own tests
    }
    if (spec.byteOrder !== "little") continue;
    const elf = parseElf(bytes);
    const listing = objdumpRelocated(file);
    for (const p of Object.values(spec.programs)) {
      const ours = new Map<number, string>();
      for (const l of disassembleWithSource(p, elf)) {
        const m = /^(\d+): (.*)$/.exec(l);
        if (m) ours.set(Number(m[1]), m[2] as string);
      }
      for (const f of p.functions) {
        const sym = elf.symbols.find((s) => s.name === f.name && s.type === SymbolType.FUNC);
        const secName = sym && elf.sections[sym.section]?.name;
        if (sym === undefined || secName === undefined) {
          mismatches.push(`${file} ${p.name}: no symbol for ${f.name}`);
          continue;
        }
        const want = listing.get(secName);
        for (let i = f.start; i < f.end; i++) {
          const insn = p.instructions[i];
          const text = ours.get(i);
          if (insn === undefined || text === undefined) continue; // the second slot of a lddw
          const k = sym.value / 8 + (i - f.start);
          const where = `${file} ${p.name} ${i} (${secName} ${k})`;
          const target = callTarget(insn, i);
          if (target !== undefined) {
            calls++;
            const callee = objdumpCallee(listing, secName, k);
            const expected = `call ${target - i - 1} <${callee}>`;
            if (callee === undefined || text !== expected)
              mismatches.push(`${where}: ours ${JSON.stringify(text)}, want ${JSON.stringify(expected)}`);
            continue;
          }
          compared++;
          const plain = insn.opcode === LDDW ? text.replace(/ # \S+$/, "") : text;
          if (plain !== want?.insns.get(k)?.text)
            mismatches.push(
              `${where}: ours ${JSON.stringify(plain)}, llvm-objdump ${JSON.stringify(want?.insns.get(k)?.text)}`,
            );
        }
      }
    }
  }
  t.diagnostic(`${compared} instructions and ${calls} bpf-to-bpf calls compared`);
  assert.deepEqual(mismatches.slice(0, 20), []);
  assert.ok(compared > 500, `only ${compared} instructions compared`);
  assert.ok(calls >= 15, `only ${calls} calls compared`);
});
