import type { Btf } from "../btf/index.js";
import { type ElfFile, SymbolType } from "../elf/index.js";

/**
 * Fills in what clang leaves for the linker in DATASEC records, as libbpf does before loading:
 * each section's size, and each global variable's offset (clang writes 0 and a relocation).
 * Offsets come from the ELF symbol of the same name in that section; variables are then sorted
 * by offset, which the kernel requires.
 */
export function fixupDatasecs(btf: Btf, elf: ElfFile): void {
  // One pass over the symbols, so the work stays linear in the object's size.
  const bySectionAndName = new Map<string, number>();
  for (const y of elf.symbols) {
    if (y.type !== SymbolType.OBJECT && y.type !== SymbolType.NOTYPE) continue;
    const key = `${y.section}\0${y.name}`;
    if (!bySectionAndName.has(key)) bySectionAndName.set(key, y.value);
  }
  const sections = new Map<string, (typeof elf.sections)[number]>();
  for (const s of elf.sections) if (!sections.has(s.name)) sections.set(s.name, s);
  for (const t of btf.types) {
    if (t.kind !== "DATASEC") continue;
    const sec = sections.get(t.name);
    if (sec === undefined) continue;
    if (t.size === 0) t.size = sec.size;
    for (const v of t.vars) {
      const vt = btf.types[v.type];
      if (vt === undefined || vt.kind !== "VAR" || vt.linkage === 2) continue;
      const value = bySectionAndName.get(`${sec.index}\0${vt.name}`);
      if (value !== undefined) v.offset = value;
    }
    t.vars.sort((a, b) => a.offset - b.offset);
  }
}
