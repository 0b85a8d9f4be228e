import type { Btf } from "../btf/index.js";
import { type ElfFile, type ElfSection, type ElfSymbol, SymbolType } from "../elf/index.js";
import { sortedInPlace } from "../internal/sorted.js";

/**
 * Fills in what clang leaves for the linker in DATASEC records, as libbpf does before loading:
 * each section's size, and each global variable's offset (clang writes 0 and a relocation).
 * Offsets come from the ELF symbol of the same name in that section; variables are then sorted
 * by offset, which the kernel requires.
 */
export function fixupDatasecs(btf: Btf, elf: ElfFile): void {
  // Indexed loops (cold code allocates an iterator result per element of a for...of), and the
  // symbol index is built only when a DATASEC needs it, keyed by section then name.
  const { types } = btf;
  let bySection: Map<number, Map<string, number>> | undefined;
  let sections: Map<string, ElfSection> | undefined;
  for (let i = 0; i < types.length; i++) {
    const t = types[i];
    if (t === undefined || t.kind !== "DATASEC") continue;
    if (sections === undefined) {
      sections = new Map();
      for (let k = 0; k < elf.sections.length; k++) {
        const s = elf.sections[k] as ElfSection;
        if (!sections.has(s.name)) sections.set(s.name, s);
      }
    }
    const sec = sections.get(t.name);
    if (sec === undefined) continue;
    if (t.size === 0) t.size = sec.size;
    if (bySection === undefined) bySection = symbolsBySectionAndName(elf.symbols);
    const named = bySection.get(sec.index);
    for (let k = 0; k < t.vars.length; k++) {
      const v = t.vars[k] as (typeof t.vars)[number];
      const vt = types[v.type];
      if (vt === undefined || vt.kind !== "VAR" || vt.linkage === 2) continue;
      const value = named?.get(vt.name);
      if (value !== undefined) v.offset = value;
    }
    sortedInPlace(t.vars, (a, b) => a.offset - b.offset);
  }
}

/** The value of the first OBJECT or NOTYPE symbol of each name, per section. */
function symbolsBySectionAndName(symbols: readonly ElfSymbol[]): Map<number, Map<string, number>> {
  const out = new Map<number, Map<string, number>>();
  for (let i = 0; i < symbols.length; i++) {
    const y = symbols[i] as ElfSymbol;
    if (y.type !== SymbolType.OBJECT && y.type !== SymbolType.NOTYPE) continue;
    let m = out.get(y.section);
    if (m === undefined) {
      m = new Map();
      out.set(y.section, m);
    }
    if (!m.has(y.name)) m.set(y.name, y.value);
  }
  return out;
}
