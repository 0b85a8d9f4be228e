import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { test } from "node:test";
import { LDDW } from "../../src/asm/opcodes.js";
import { disassembleWithSource } from "../../src/cli/disasm.js";
import { parseElf } from "../../src/elf/index.js";
import { loadCollectionSpec } from "../../src/object/load-collection-spec.js";
import { findObjects, objdumpAvailable, objdumpListing } from "../asm/objdump-listing.js";

/**
 * `tsbpf disasm` prints each program linked; its entry function's instructions must read exactly
 * as llvm-objdump prints them in the object, except that a relocated bpf-to-bpf `call` shows the
 * linked offset and a map reference gains ` # name`.
 */
test("tsbpf disasm matches llvm-objdump on every program's own instructions", (t) => {
  const avail = objdumpAvailable();
  if (!avail.ok) return t.skip(avail.reason);
  let compared = 0;
  const mismatches: string[] = [];
  for (const file of findObjects(["examples", "test/bpf/fixtures", "test/bpf/object"])) {
    const bytes = new Uint8Array(readFileSync(file));
    let spec: ReturnType<typeof loadCollectionSpec>;
    try {
      spec = loadCollectionSpec(bytes, { file });
    } catch {
      continue; // objects the model refuses are covered by its own tests
    }
    if (spec.byteOrder !== "little") continue;
    const elf = parseElf(bytes);
    const listing = objdumpListing(file);
    for (const p of Object.values(spec.programs)) {
      const lines = listing.get(p.section);
      if (!lines) continue;
      const base = p.sectionOffset / 8;
      const want = new Map<number, string>();
      for (const l of lines) if ("index" in l) want.set(l.index - base, l.text);
      const entry = p.functions[0];
      const ours = disassembleWithSource(p, elf).filter((l) => /^\d+: /.test(l));
      for (const l of ours) {
        const i = Number(l.slice(0, l.indexOf(":")));
        if (entry === undefined || i >= entry.end) continue;
        const insn = p.instructions[i];
        let text = l.slice(l.indexOf(": ") + 2);
        if (insn?.opcode === 0x85 && insn.src === 1) continue; // linked call offset
        if (insn?.opcode === LDDW) text = text.replace(/ # \S+$/, "");
        compared++;
        if (text !== want.get(i))
          mismatches.push(
            `${file} ${p.name} ${i}: ours ${JSON.stringify(text)} objdump ${JSON.stringify(want.get(i))}`,
          );
      }
    }
  }
  t.diagnostic(`${compared} instructions compared`);
  assert.deepEqual(mismatches.slice(0, 20), []);
  assert.ok(compared > 200);
});
