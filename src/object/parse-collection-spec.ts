import { decodeInstructions, type Instruction } from "../asm/instruction.js";
import { type Btf, type BtfExt, parseBtf, parseBtfExt } from "../btf/index.js";
import {
  type ElfRelocation,
  type ElfSection,
  type ElfSymbol,
  parseElf,
  SectionFlag,
  SectionIndex,
  SectionType,
  SymbolBinding,
  SymbolType,
} from "../elf/index.js";
import { type ErrorContext, isTsbpfError, NotSupportedError, ParseError } from "../errors.js";
import { ByteReader } from "../internal/bytes.js";
import { type BtfMapDef, emptyMapSpec, parseBtfMaps } from "./btf-maps.js";
import { fixupDatasecs } from "./fixup-datasecs.js";
import { type FunctionDef, type LinkContext, linkProgram } from "./link-program.js";
import { MapFlag, MapType, ProgType, mapTypeName } from "../abi/index.js";
import type { LoadCollectionSpecOptions, ObjectBtf } from "./object-types.js";
import { matchSection } from "./sec-table.js";
import { findTailCalls } from "./tail-calls.js";
import type {
  CollectionSpec,
  MapReference,
  MapSpec,
  ProgramSpec,
  SkippedSection,
  TailCallSite,
  VariableSpec,
} from "./types.js";
import { sortedInPlace } from "../internal/sorted.js";

/** `name` is `base` or `base.<suffix>`. */
const isOrSuffixed = (name: string, base: string): boolean =>
  name.startsWith(base) && (name.length === base.length || name.charCodeAt(base.length) === 0x2e);
/**
 * `.rodata`, `.data`, `.bss` and their `.name` suffixed forms. Not a regular expression: V8
 * compiles each one on its first use, which every process pays cold (see asciiText).
 */
const isGlobalData = (name: string): boolean =>
  isOrSuffixed(name, ".rodata") || isOrSuffixed(name, ".data") || isOrSuffixed(name, ".bss");
const EXECINSTR = BigInt(SectionFlag.EXECINSTR);
const LEGACY_MAP_DEF_MIN = 20;
/** A `.bss` larger than this is refused: its size costs nothing in the file but would be allocated. */
const MAX_ZERO_DATA = 1 << 26;
/** Every program copies the subprograms it calls; this bounds the copies a hostile object can ask for. */
const MAX_TOTAL_INSNS = 1 << 23;

/**
 * Parses a clang-compiled BPF object into a {@link CollectionSpec}, following libbpf's
 * conventions: each global function of an executable section other than `.text` is a program;
 * `.text` functions are subprograms linked into every program that calls them; maps come from
 * BTF `.maps`, the legacy `maps` section and global data sections.
 *
 * Global data maps are named after their section (`.rodata`, `.data.foo`, `.rodata.str1.1`),
 * not libbpf's `<object prefix>.<section>`: the name is stable whatever the file is called.
 * Each `lddw` that refers to a map or global data is rewritten to `BPF_PSEUDO_MAP_FD` /
 * `BPF_PSEUDO_MAP_VALUE` (with the value offset in the second slot) and listed in `references`;
 * the backend fills in the map fd.
 *
 * Always parses: {@link loadCollectionSpec} is the entry point, which may open what this program
 * remembered of the same bytes instead (object-cache.ts).
 */
export function parseCollectionSpec(bytes: Uint8Array, opts: LoadCollectionSpecOptions = {}): CollectionSpec {
  const file = opts.file;
  const fctx: ErrorContext = file === undefined ? {} : { file };
  try {
    return load(bytes, file, fctx);
  } catch (e) {
    if (isTsbpfError(e)) throw e.withContext(fctx);
    // Anything else is a bug in tsbpf, but callers are promised typed errors on bad input.
    throw new ParseError(`malformed object: ${(e as Error)?.message ?? String(e)}`, { ...fctx, cause: e });
  }
}

function load(bytes: Uint8Array, file: string | undefined, fctx: ErrorContext): CollectionSpec {
  const elf = parseElf(bytes, file === undefined ? {} : { file });
  const symbolsBySection = new Map<number, ElfSymbol[]>();
  // Indexed loops over symbols and sections: cold code allocates an iterator result per element
  // of a for...of (issue 14's in-process load).
  const { symbols, sections } = elf;
  for (let i = 0; i < symbols.length; i++) {
    const y = symbols[i] as ElfSymbol;
    const l = symbolsBySection.get(y.section);
    if (l === undefined) symbolsBySection.set(y.section, [y]);
    else l.push(y);
  }
  const symbolsIn = (sec: number): ElfSymbol[] => symbolsBySection.get(sec) ?? [];
  const le = elf.littleEndian;
  const used = new Set<number>();
  const skipped: SkippedSection[] = [];
  const firstByName = new Map<string, ElfSection>();
  for (let i = 0; i < sections.length; i++) {
    const s = sections[i] as ElfSection;
    if (!firstByName.has(s.name)) firstByName.set(s.name, s);
  }
  const byName = (name: string) => firstByName.get(name);

  // License and kernel version.
  let license = "";
  const lic = byName("license");
  if (lic !== undefined) {
    used.add(lic.index);
    const end = lic.data.indexOf(0);
    license = new TextDecoder().decode(lic.data.subarray(0, end < 0 ? lic.data.length : end));
  }
  let kernelVersion: number | undefined;
  const ver = byName("version");
  if (ver !== undefined) {
    used.add(ver.index);
    if (ver.data.byteLength !== 4) {
      throw new ParseError(`version section is ${ver.data.byteLength} bytes, expected 4`, {
        ...fctx,
        section: "version",
      });
    }
    kernelVersion = new ByteReader(ver.data, le, { ...fctx, section: "version" }, ver.offset).u32(
      0,
      "version",
    );
  }

  // BTF.
  let btf: Btf | undefined;
  let ext: BtfExt | undefined;
  const btfSec = byName(".BTF");
  if (btfSec !== undefined) {
    used.add(btfSec.index);
    btf = parseBtf(btfSec.data, { ...fctx, littleEndian: le });
    fixupDatasecs(btf, elf);
    const extSec = byName(".BTF.ext");
    if (extSec !== undefined) {
      used.add(extSec.index);
      ext = parseBtfExt(extSec.data, btf.strings, { ...fctx, littleEndian: le });
    }
  }

  const maps: Record<string, MapSpec> = {};
  const addMap = (m: MapSpec, ctx: ErrorContext) => {
    if (Object.hasOwn(maps, m.name))
      throw new ParseError(`map ${m.name} is defined twice`, { ...ctx, map: m.name });
    maps[m.name] = m;
  };

  // BTF-defined maps.
  const mapsSec = byName(".maps");
  let btfMaps: BtfMapDef[] = [];
  const btfMapAt = new Map<number, BtfMapDef>();
  if (mapsSec !== undefined) {
    used.add(mapsSec.index);
    const ctx = { ...fctx, section: ".maps" };
    if (btf === undefined) {
      throw new ParseError("the object has a .maps section but no BTF to describe it", {
        ...ctx,
        hint: "compile with clang -g so that BTF is emitted",
      });
    }
    btfMaps = parseBtfMaps(btf, ctx);
    for (const m of btfMaps) {
      addMap(m.spec, ctx);
      if (!btfMapAt.has(m.offset)) btfMapAt.set(m.offset, m);
    }
  }

  // Legacy `struct bpf_map_def` maps.
  const legacySec = byName("maps");
  const legacyMaps = new Map<number, { offset: number; name: string }>();
  if (legacySec !== undefined) {
    used.add(legacySec.index);
    readLegacyMaps(
      legacySec,
      symbolsIn(legacySec.index),
      le,
      { ...fctx, section: "maps" },
      addMap,
      legacyMaps,
    );
  }

  // Global data.
  const dataMaps = new Map<number, string>();
  for (let i = 0; i < sections.length; i++) {
    const s = sections[i] as ElfSection;
    if (!isGlobalData(s.name)) continue;
    if (s.type !== SectionType.PROGBITS && s.type !== SectionType.NOBITS) continue;
    if ((s.flags & EXECINSTR) !== 0n) continue;
    used.add(s.index);
    if (s.size === 0) {
      skipped.push({ name: s.name, reason: "empty global data section" });
      continue;
    }
    if (s.type === SectionType.NOBITS && s.size > MAX_ZERO_DATA) {
      throw new ParseError(
        `${s.name} claims ${s.size} bytes, more than the ${MAX_ZERO_DATA} tsbpf allocates`,
        {
          ...fctx,
          section: s.name,
          hint: "the kernel refuses array values this large anyway (KMALLOC_MAX_SIZE)",
        },
      );
    }
    const m = emptyMapSpec(s.name, "global-data");
    m.type = MapType.array;
    m.typeName = mapTypeName(MapType.array);
    m.keySize = 4;
    m.valueSize = s.size;
    m.maxEntries = 1;
    m.section = s.name;
    m.readOnly = s.name.startsWith(".rodata");
    m.initialData = s.type === SectionType.NOBITS ? new Uint8Array(s.size) : s.data.slice();
    const ds = btf === undefined ? -1 : datasecId(btf, s.name);
    m.variables = dataVariables(symbolsIn(s.index), btf, ds);
    if (ds > 0) m.valueTypeId = ds;
    // libbpf's flags: mmap()able only when its BTF section has a variable a skeleton exposes (not
    // static), as libbpf's map_is_mmapable decides. The kernel puts a mmap()able array in
    // page-aligned vmalloc'ed memory: the seed's .rodata (printk formats only) took 62 µs to
    // create with the flag, 16 without it.
    const exposed = ds > 0 && m.variables.some((v) => v.linkage !== "static");
    m.flags = (exposed ? MapFlag.MMAPABLE : 0) | (m.readOnly ? MapFlag.RDONLY_PROG : 0);
    addMap(m, { ...fctx, section: s.name });
    dataMaps.set(s.index, m.name);
  }

  // Code.
  const code = new Map<number, Instruction[]>();
  const relocs = new Map<number, Map<number, ElfRelocation>>();
  const functions = new Map<number, FunctionDef[]>();
  for (let i = 0; i < sections.length; i++) {
    const s = sections[i] as ElfSection;
    if (s.type !== SectionType.PROGBITS || (s.flags & EXECINSTR) === 0n) continue;
    used.add(s.index);
    if (s.size === 0) continue;
    const ctx = { ...fctx, section: s.name };
    code.set(s.index, decodeInstructions(s.data, le, ctx));
    const byInsn = new Map<number, ElfRelocation>();
    const rels = elf.relocations.get(s.index) ?? [];
    for (let k = 0; k < rels.length; k++) {
      const r = rels[k] as ElfRelocation;
      if (r.offset % 8 !== 0 || r.offset >= s.size) {
        throw new ParseError(`relocation at offset ${r.offset} does not point at an instruction`, {
          ...ctx,
          offset: r.offset,
        });
      }
      byInsn.set(r.offset / 8, r);
    }
    relocs.set(s.index, byInsn);
    functions.set(s.index, sectionFunctions(symbolsIn(s.index), s, ctx));
  }

  const resolveData = (sym: ElfSymbol, imm: number, ctx: ErrorContext): Omit<MapReference, "insn"> => {
    const label = sym.name || `section ${sym.section}`;
    if (sym.section === SectionIndex.UNDEF) {
      throw new NotSupportedError(
        `reference to extern symbol ${sym.name} (kconfig/ksym) is not supported`,
        ctx,
      );
    }
    if (mapsSec !== undefined && sym.section === mapsSec.index) {
      const off = sym.value + (sym.type === SymbolType.SECTION ? imm : 0);
      const m = btfMapAt.get(off);
      if (m === undefined) throw new ParseError(`relocation against ${label} in .maps names no map`, ctx);
      return { kind: "map", map: m.spec.name, offset: 0 };
    }
    if (legacySec !== undefined && sym.section === legacySec.index) {
      const off = sym.value + (sym.type === SymbolType.SECTION ? imm : 0);
      const m = legacyMaps.get(off);
      if (m === undefined) throw new ParseError(`relocation against ${label} in maps names no map`, ctx);
      return { kind: "map", map: m.name, offset: 0 };
    }
    const dm = dataMaps.get(sym.section);
    if (dm !== undefined) {
      const offset = sym.value + imm;
      const size = (maps[dm] as MapSpec).valueSize;
      if (offset < 0 || offset >= size) {
        throw new ParseError(`reference to ${label}+${imm} lies outside ${dm} (${size} bytes)`, ctx);
      }
      return { kind: "map_value", map: dm, offset };
    }
    const sec = elf.sections[sym.section];
    throw new ParseError(
      `relocation against ${label} in section ${sec?.name ?? sym.section}, which holds no map or global data`,
      ctx,
    );
  };
  const lc: LinkContext = { file, symbols: elf.symbols, code, relocs, functions, resolveData, btf, ext };

  const programs: Record<string, ProgramSpec> = {};
  let totalInsns = 0;
  for (const [secIdx, fns] of functions) {
    const sec = elf.sections[secIdx] as ElfSection;
    if (sec.name === ".text") continue;
    // libbpf's `?` prefix: the program is in the object but not loaded unless asked for.
    const optional = sec.name.startsWith("?");
    const match = matchSection(optional ? sec.name.slice(1) : sec.name);
    for (const f of fns) {
      if (!f.global) continue;
      const pctx = { ...fctx, section: sec.name, program: f.name };
      if (Object.hasOwn(programs, f.name)) throw new ParseError(`program ${f.name} is defined twice`, pctx);
      let linked: ReturnType<typeof linkProgram>;
      try {
        linked = linkProgram(lc, f);
      } catch (e) {
        throw isTsbpfError(e) ? e.withContext(pctx) : e;
      }
      totalInsns += linked.instructions.length;
      if (totalInsns > MAX_TOTAL_INSNS) {
        throw new ParseError(
          `the object's programs link to more than ${MAX_TOTAL_INSNS} instructions in all`,
          pctx,
        );
      }
      const program: ProgramSpec = {
        name: f.name,
        section: sec.name,
        type: match?.type ?? ProgType.unspec,
        typeName: match?.typeName ?? "unspec",
        expectedAttachType: match?.expectedAttachType,
        attachTo: match?.attachTo,
        sleepable: match?.sleepable ?? false,
        license,
        ...linked,
        tailCalls: [],
        sectionOffset: f.start * 8,
        ...(optional ? { autoload: false } : {}),
      };
      lazyTailCalls(program);
      programs[f.name] = program;
    }
  }

  // Static `.values = { [i] = &x }` slots of prog arrays and maps of maps.
  if (mapsSec !== undefined) {
    const rels = elf.relocations.get(mapsSec.index);
    if (rels !== undefined && rels.length > 0)
      staticValues(rels, elf.symbols, mapsSec, btfMaps, programs, maps, fctx);
  }

  // Report what was not used.
  for (let i = 0; i < sections.length; i++) {
    const s = sections[i] as ElfSection;
    if (s.index === 0 || used.has(s.index)) continue;
    if (s.type === SectionType.SYMTAB || s.type === SectionType.STRTAB) continue;
    // Relocation sections are consumed with the section they apply to (or skipped with it).
    if (s.type === SectionType.REL || s.type === SectionType.RELA) continue;
    const reason = s.name.startsWith(".debug")
      ? "DWARF debug information"
      : s.name === ".llvm_addrsig"
        ? "linker address-significance table"
        : "unknown section";
    skipped.push({ name: s.name, reason });
  }

  const objBtf: ObjectBtf | undefined = btf === undefined ? undefined : { btf, ext };
  return {
    file,
    byteOrder: le ? "little" : "big",
    license,
    kernelVersion,
    programs,
    maps,
    btf: objBtf,
    skippedSections: skipped,
  };
}

/**
 * Reads the legacy `maps` section (`struct bpf_map_def` records, one per symbol). A separate
 * function so that objects without one never compile it.
 */
function readLegacyMaps(
  legacySec: ElfSection,
  symbols: ElfSymbol[],
  le: boolean,
  ctx: ErrorContext,
  addMap: (m: MapSpec, ctx: ErrorContext) => void,
  legacyMaps: Map<number, { offset: number; name: string }>,
): void {
  const syms = symbols
    .filter((s) => s.type !== SymbolType.SECTION && s.name !== "")
    .sort((a, b) => a.value - b.value);
  if (syms.length === 0) return;
  const defSize = Math.floor(legacySec.data.byteLength / syms.length);
  if (defSize < LEGACY_MAP_DEF_MIN) {
    throw new ParseError(`legacy map definitions of ${defSize} bytes are too small`, ctx);
  }
  const dv = new ByteReader(legacySec.data, le, ctx, legacySec.offset);
  for (const s of syms) {
    if (s.value + LEGACY_MAP_DEF_MIN > legacySec.data.byteLength) {
      throw new ParseError(`legacy map ${s.name} lies outside the maps section`, {
        ...ctx,
        offset: s.value,
      });
    }
    const m = emptyMapSpec(s.name, "legacy");
    m.type = dv.u32(s.value, `map ${s.name}`);
    m.typeName = mapTypeName(m.type);
    m.keySize = dv.u32(s.value + 4, `map ${s.name}`);
    m.valueSize = dv.u32(s.value + 8, `map ${s.name}`);
    m.maxEntries = dv.u32(s.value + 12, `map ${s.name}`);
    m.flags = dv.u32(s.value + 16, `map ${s.name}`);
    addMap(m, ctx);
    if (!legacyMaps.has(s.value)) legacyMaps.set(s.value, { offset: s.value, name: s.name });
  }
}

/**
 * Fills `contents` of the `.maps` definitions from the relocations of their `values` slots. A
 * separate function so that objects without static slots never compile it.
 */
function staticValues(
  rels: readonly ElfRelocation[],
  symbols: readonly ElfSymbol[],
  mapsSec: ElfSection,
  btfMaps: readonly BtfMapDef[],
  programs: Record<string, ProgramSpec>,
  maps: Record<string, MapSpec>,
  fctx: ErrorContext,
): void {
  const ctx = { ...fctx, section: ".maps" };
  const sorted = [...btfMaps].sort((a, b) => a.offset - b.offset);
  const containing = (off: number): BtfMapDef | undefined => {
    let lo = 0;
    let hi = sorted.length - 1;
    let best: BtfMapDef | undefined;
    while (lo <= hi) {
      const mid = (lo + hi) >> 1;
      const d = sorted[mid] as BtfMapDef;
      if (d.offset <= off) {
        best = d;
        lo = mid + 1;
      } else hi = mid - 1;
    }
    return best !== undefined && off < best.offset + best.size ? best : undefined;
  };
  for (const r of rels) {
    const def = containing(r.offset);
    const sym = symbols[r.symbol] as ElfSymbol;
    const rctx = { ...ctx, offset: r.offset };
    if (def === undefined || def.valuesOffset === undefined) {
      throw new ParseError(`relocation at offset ${r.offset} of .maps is not inside a map's values`, rctx);
    }
    const rel = r.offset - def.offset - def.valuesOffset;
    if (rel < 0 || rel % 8 !== 0)
      throw new ParseError(`relocation at offset ${r.offset} is not a values slot`, rctx);
    const key = rel / 8;
    const mctx = { ...rctx, map: def.spec.name };
    if (def.valuesAreProgs) {
      const p = programs[sym.name];
      if (sym.type !== SymbolType.FUNC || p === undefined) {
        throw new ParseError(
          `slot ${key} refers to ${sym.name || "a section"}, which is not a program`,
          mctx,
        );
      }
    } else if (sym.section !== mapsSec.index || !Object.hasOwn(maps, sym.name)) {
      throw new ParseError(`slot ${key} refers to ${sym.name || "a section"}, which is not a map`, mctx);
    }
    if (def.spec.maxEntries !== 0 && key >= def.spec.maxEntries) {
      throw new ParseError(`slot ${key} is past max_entries ${def.spec.maxEntries}`, mctx);
    }
    def.spec.contents.push({ key, value: sym.name });
  }
  for (const d of btfMaps) d.spec.contents.sort((a, b) => a.key - b.key);
}

/**
 * Makes `p.tailCalls` a value computed on first read. The analysis (an abstract interpretation
 * of every instruction) is a third of the cost of parsing a small object when Node starts cold,
 * and loading into an engine never reads it; inspecting tools do. It reads the program's linked
 * instructions, references and functions as they are when first asked; the property becomes a
 * plain data property then (or when assigned). Line info gives each site its C source line.
 */
export function lazyTailCalls(p: ProgramSpec): void {
  Object.defineProperty(p, "tailCalls", LAZY_TAIL_CALLS);
}

/** Makes `tailCalls` a plain data property of `p` holding `value`. */
function settleTailCalls(p: ProgramSpec, value: TailCallSite[]): TailCallSite[] {
  Object.defineProperty(p, "tailCalls", { value, writable: true, enumerable: true, configurable: true });
  return value;
}

/** One accessor shared by every program (its receiver is the program): no closures per program. */
const LAZY_TAIL_CALLS: PropertyDescriptor = {
  get(this: ProgramSpec): TailCallSite[] {
    return settleTailCalls(
      this,
      findTailCalls(this.instructions, this.references, this.functions, this.lineInfo),
    );
  },
  set(this: ProgramSpec, value: TailCallSite[]): void {
    settleTailCalls(this, value);
  },
  enumerable: true,
  configurable: true,
};

/** The function symbols of an executable section, with sizes, checked against the section. */
function sectionFunctions(symbols: ElfSymbol[], s: ElfSection, ctx: ErrorContext): FunctionDef[] {
  const n = s.size / 8;
  const syms = sortedInPlace(
    symbols.filter((y) => y.type === SymbolType.FUNC),
    (a, b) => a.value - b.value,
  );
  const out: FunctionDef[] = [];
  for (let k = 0; k < syms.length; k++) {
    const y = syms[k] as ElfSymbol;
    const fctx = { ...ctx, offset: y.value };
    if (y.value % 8 !== 0 || y.value / 8 >= n) {
      throw new ParseError(
        `function ${y.name} starts at offset ${y.value}, outside its section's code`,
        fctx,
      );
    }
    const start = y.value / 8;
    const nextStart = k + 1 < syms.length ? (syms[k + 1] as ElfSymbol).value / 8 : n;
    let end = y.size > 0 ? start + y.size / 8 : Math.floor(nextStart);
    if (y.size % 8 !== 0 || end > n) {
      throw new ParseError(`function ${y.name} (${y.size} bytes) runs past its section's code`, fctx);
    }
    if (end <= start) end = Math.min(n, start + 1);
    out.push({
      name: y.name,
      section: s,
      start,
      end,
      global: y.binding === SymbolBinding.GLOBAL || y.binding === SymbolBinding.WEAK,
    });
  }
  return out;
}

/** The id of the first DATASEC called `name`, or -1 (one indexed pass: no closure per type). */
function datasecId(btf: Btf, name: string): number {
  const { types } = btf;
  for (let i = 0; i < types.length; i++) {
    const t = types[i];
    if (t !== undefined && t.kind === "DATASEC" && t.name === name) return i;
  }
  return -1;
}

/**
 * The variables of a global data section, from BTF when it describes the section (DATASEC `dsId`,
 * -1 when none), else symbols.
 */
function dataVariables(symbols: ElfSymbol[], btf: Btf | undefined, dsId: number): VariableSpec[] {
  const linkages = ["static", "global", "extern"] as const;
  const ds = dsId < 0 ? undefined : btf?.types[dsId];
  if (btf !== undefined && ds !== undefined && ds.kind === "DATASEC") {
    const out: VariableSpec[] = [];
    for (const v of ds.vars) {
      const vt = btf.types[v.type];
      if (vt === undefined || vt.kind !== "VAR") continue;
      out.push({
        name: vt.name,
        offset: v.offset,
        size: v.size,
        typeId: vt.type,
        linkage: linkages[vt.linkage] ?? "global",
      });
    }
    return sortedInPlace(out, (a, b) => a.offset - b.offset);
  }
  return symbols
    .filter((y) => y.type === SymbolType.OBJECT && y.name !== "")
    .map((y) => ({
      name: y.name,
      offset: y.value,
      size: y.size,
      typeId: undefined,
      linkage: y.binding === SymbolBinding.LOCAL ? ("static" as const) : ("global" as const),
    }))
    .sort((a, b) => a.offset - b.offset);
}
