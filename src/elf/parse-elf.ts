import { type ErrorContext, ParseError } from "../errors.js";
import { ByteReader } from "../internal/bytes.js";
import { StringTable } from "../internal/string-table.js";
import {
  EM_BPF,
  type ElfFile,
  type ElfRelocation,
  type ElfSection,
  type ElfSymbol,
  type ParseElfOptions,
  SectionType,
} from "./types.js";

const EHDR_SIZE = 64;
const SHDR_SIZE = 64;
const SYM_SIZE = 24;
const REL_SIZE = 16;
const RELA_SIZE = 24;
const DEFAULT_MAX_SECTIONS = 65536;

/**
 * Parses an ELF64 BPF object (either byte order). Every offset is bounds-checked, so truncated
 * or corrupt input fails with a {@link ParseError} naming the file, section and offset.
 */
export function parseElf(bytes: Uint8Array, opts: ParseElfOptions = {}): ElfFile {
  const ctx: ErrorContext = opts.file === undefined ? {} : { file: opts.file };
  const fail = (msg: string, extra: ErrorContext = {}, hint?: string): never => {
    throw new ParseError(msg, hint === undefined ? { ...ctx, ...extra } : { ...ctx, ...extra, hint });
  };

  if (
    bytes.byteLength < 16 ||
    bytes[0] !== 0x7f ||
    bytes[1] !== 0x45 ||
    bytes[2] !== 0x4c ||
    bytes[3] !== 0x46
  ) {
    fail("not an ELF file (bad magic)", { offset: 0 }, "pass a BPF object compiled with clang -target bpf");
  }
  if (bytes[4] !== 2) fail(`ELF class ${bytes[4]} is not ELF64`, { offset: 4 });
  const data = bytes[5];
  if (data !== 1 && data !== 2)
    fail(`ELF data encoding ${data} is neither little nor big endian`, { offset: 5 });
  const littleEndian = data === 1;
  const r = new ByteReader(bytes, littleEndian, ctx);
  r.check(0, EHDR_SIZE, "ELF header");

  const type = r.u16(16);
  const machine = r.u16(18);
  if (machine !== EM_BPF) {
    fail(
      `not a BPF object: e_machine is ${machine}, expected ${EM_BPF} (EM_BPF)`,
      { offset: 18 },
      "compile with clang -target bpf",
    );
  }
  const shoff = u64n(r, 40, "e_shoff");
  const shentsize = r.u16(58, "e_shentsize");
  let shnum = r.u16(60, "e_shnum");
  let shstrndx = r.u16(62, "e_shstrndx");
  if (shoff === 0) return { littleEndian, type, machine, sections: [], symbols: [], relocations: new Map() };
  if (shentsize !== SHDR_SIZE) fail(`e_shentsize is ${shentsize}, expected ${SHDR_SIZE}`, { offset: 58 });

  // Extended numbering: the real counts live in section header 0.
  r.check(shoff, SHDR_SIZE, "section header 0");
  if (shnum === 0) shnum = u64n(r, shoff + 32, "section count");
  if (shstrndx === 0xffff) shstrndx = r.u32(shoff + 40, "section name table index");
  const maxSections = opts.maxSections ?? DEFAULT_MAX_SECTIONS;
  if (shnum > maxSections) fail(`${shnum} sections is more than the limit of ${maxSections}`, { offset: 60 });
  r.check(shoff, shnum * SHDR_SIZE, "section header table");
  if (shstrndx >= shnum) fail(`section name table index ${shstrndx} is out of range (${shnum} sections)`);

  // The whole table was checked above, so its fields are read straight from the view. u64 fields
  // are read as two u32 halves: no bigint on the path every load takes, where Node runs cold.
  const v = r.view;
  const EMPTY = new Uint8Array(0);
  const sections: ElfSection[] = new Array(shnum);
  const nameOffs: number[] = new Array(shnum);
  for (let i = 0; i < shnum; i++) {
    const o = shoff + i * SHDR_SIZE;
    nameOffs[i] = v.getUint32(o, littleEndian);
    sections[i] = {
      index: i,
      type: v.getUint32(o + 4, littleEndian),
      flags: v.getBigUint64(o + 8, littleEndian),
      offset: u64n(r, o + 24, "sh_offset"),
      size: u64n(r, o + 32, "sh_size"),
      link: v.getUint32(o + 40, littleEndian),
      info: v.getUint32(o + 44, littleEndian),
      addralign: u64f(r, o + 48),
      entsize: u64f(r, o + 56),
      name: "",
      data: EMPTY,
    };
  }
  const shstr = sections[shstrndx] as ElfSection;
  const names = new StringTable(
    sectionBytes(r, shstr, `section ${shstrndx} (section names)`),
    { ...ctx, section: "section names" },
    shstr.offset,
  );
  for (let i = 0; i < shnum; i++) {
    const s = sections[i] as ElfSection;
    // The text naming the section for errors is built only when the fast read fails.
    if (i !== 0)
      s.name = names.tryAt(nameOffs[i] as number) ?? names.at(nameOffs[i] as number, `name of section ${i}`);
    if (s.type !== SectionType.NOBITS && s.type !== SectionType.NULL) s.data = sectionBytes(r, s, s.name);
  }

  const symbols = readSymbols(sections, littleEndian, ctx);
  // Relocation sections are checked here but read when first asked for: a loader needs only
  // those of code and .maps, not the larger ones of the debug sections.
  const pending = new Map<number, ElfSection[]>();
  for (let i = 0; i < shnum; i++) {
    const s = sections[i] as ElfSection;
    if (s.type !== SectionType.REL && s.type !== SectionType.RELA) continue;
    if (s.info === 0 || s.info >= shnum) {
      throw new ParseError(`relocation section applies to section ${s.info}, which does not exist`, {
        ...ctx,
        section: s.name,
      });
    }
    const entSize = s.type === SectionType.RELA ? RELA_SIZE : REL_SIZE;
    if (s.data.byteLength % entSize !== 0) {
      throw new ParseError(`relocation section size ${s.data.byteLength} is not a multiple of ${entSize}`, {
        ...ctx,
        section: s.name,
      });
    }
    const l = pending.get(s.info);
    if (l === undefined) pending.set(s.info, [s]);
    else l.push(s);
  }
  const relocations = new RelocationMap(pending, (s) =>
    readRelocations(s, littleEndian, symbols.length, { ...ctx, section: s.name }),
  );
  return { littleEndian, type, machine, sections, symbols, relocations };
}

/** A u64 field that must fit a JS number (sizes and offsets), from its two u32 halves. */
function u64n(r: ByteReader, off: number, what: string): number {
  const le = r.littleEndian;
  const lo = r.view.getUint32(le ? off : off + 4, le);
  const hi = r.view.getUint32(le ? off + 4 : off, le);
  if (hi > 0x1fffff) {
    throw new ParseError(`${what}: value ${(BigInt(hi) << 32n) | BigInt(lo)} is too large`, {
      ...r.context,
      offset: r.baseOffset + off,
    });
  }
  // `lo` alone when it is all (nearly always): V8 keeps it a small integer, whereas the sum is a
  // heap number, and a heap number stored in a field that held small integers makes V8 rebuild
  // the object's shape and every shape derived from it (offsets and sizes flow from here into
  // symbols, functions, instruction indexes, line info and map specs).
  return hi === 0 ? lo : hi * 0x100000000 + lo;
}

/** A u64 field as the nearest JS number (alignment and entry sizes, which are small). */
function u64f(r: ByteReader, off: number): number {
  const le = r.littleEndian;
  const hi = r.view.getUint32(le ? off + 4 : off, le);
  const lo = r.view.getUint32(le ? off : off + 4, le);
  return hi === 0 ? lo : hi * 0x100000000 + lo;
}

/**
 * Relocations by the index of the section they apply to, read from the file on first access to
 * that section (or all of them, in file order, when the map is iterated or sized).
 */
class RelocationMap extends Map<number, ElfRelocation[]> {
  readonly #pending: Map<number, ElfSection[]>;
  readonly #read: (s: ElfSection) => ElfRelocation[];
  /** Target sections in the order their first relocation section appears in the file. */
  readonly #order: number[];

  constructor(pending: Map<number, ElfSection[]>, read: (s: ElfSection) => ElfRelocation[]) {
    super();
    this.#pending = pending;
    this.#read = read;
    this.#order = [...pending.keys()];
  }

  #load(target: number): void {
    const secs = this.#pending.get(target);
    if (secs === undefined) return;
    let list: ElfRelocation[] = [];
    for (const s of secs) list = list.length === 0 ? this.#read(s) : list.concat(this.#read(s));
    this.#pending.delete(target);
    super.set(target, list);
  }

  #loadAll(): void {
    if (this.#pending.size === 0) return;
    for (const t of this.#order) this.#load(t);
    // Re-insert in file order, whatever was read first.
    const all = [...super.entries()];
    super.clear();
    const byTarget = new Map(all);
    for (const t of this.#order) {
      const l = byTarget.get(t);
      if (l !== undefined) {
        super.set(t, l);
        byTarget.delete(t);
      }
    }
    for (const [t, l] of byTarget) super.set(t, l);
  }

  override get(target: number): ElfRelocation[] | undefined {
    this.#load(target);
    return super.get(target);
  }
  override has(target: number): boolean {
    return this.#pending.has(target) || super.has(target);
  }
  override set(target: number, list: ElfRelocation[]): this {
    this.#pending.delete(target);
    return super.set(target, list);
  }
  override delete(target: number): boolean {
    const was = this.#pending.delete(target);
    return super.delete(target) || was;
  }
  override clear(): void {
    this.#pending.clear();
    super.clear();
  }
  override get size(): number {
    this.#loadAll();
    return super.size;
  }
  override forEach(
    fn: (value: ElfRelocation[], key: number, map: Map<number, ElfRelocation[]>) => void,
    thisArg?: unknown,
  ): void {
    this.#loadAll();
    super.forEach(fn, thisArg);
  }
  override entries(): MapIterator<[number, ElfRelocation[]]> {
    this.#loadAll();
    return super.entries();
  }
  override keys(): MapIterator<number> {
    this.#loadAll();
    return super.keys();
  }
  override values(): MapIterator<ElfRelocation[]> {
    this.#loadAll();
    return super.values();
  }
  override [Symbol.iterator](): MapIterator<[number, ElfRelocation[]]> {
    return this.entries();
  }
}

function sectionBytes(r: ByteReader, s: { offset: number; size: number }, name: string): Uint8Array {
  if (s.offset + s.size > r.length) {
    throw new ParseError(
      `section contents (${s.size} bytes at offset ${s.offset}) run past the end of the file (${r.length} bytes)`,
      { ...r.context, section: name, offset: s.offset },
    );
  }
  return r.bytes.subarray(s.offset, s.offset + s.size);
}

function readSymbols(sections: ElfSection[], littleEndian: boolean, ctx: ErrorContext): ElfSymbol[] {
  let symtab: ElfSection | undefined;
  for (const s of sections) {
    if (s.type === SectionType.SYMTAB) {
      symtab = s;
      break;
    }
  }
  if (symtab === undefined) return [];
  const sctx = { ...ctx, section: symtab.name };
  if (symtab.data.byteLength % SYM_SIZE !== 0) {
    throw new ParseError(
      `symbol table size ${symtab.data.byteLength} is not a multiple of ${SYM_SIZE}`,
      sctx,
    );
  }
  const strtab = sections[symtab.link];
  if (strtab === undefined || strtab.type !== SectionType.STRTAB) {
    throw new ParseError(`symbol table links to section ${symtab.link}, which is not a string table`, sctx);
  }
  const r = new ByteReader(symtab.data, littleEndian, sctx, symtab.offset);
  const v = r.view;
  const strs = new StringTable(strtab.data, { ...ctx, section: strtab.name }, strtab.offset);
  const n = symtab.data.byteLength / SYM_SIZE;
  const out: ElfSymbol[] = new Array(n);
  for (let i = 0; i < n; i++) {
    const o = i * SYM_SIZE;
    const nameOff = v.getUint32(o, littleEndian);
    const info = v.getUint8(o + 4);
    out[i] = {
      index: i,
      name: nameOff === 0 ? "" : (strs.tryAt(nameOff) ?? strs.at(nameOff, `name of symbol ${i}`)),
      type: info & 0xf,
      binding: info >> 4,
      visibility: v.getUint8(o + 5) & 0x3,
      section: v.getUint16(o + 6, littleEndian),
      value: u64n(r, o + 8, "st_value"),
      size: u64n(r, o + 16, "st_size"),
    };
  }
  return out;
}

function readRelocations(
  s: ElfSection,
  littleEndian: boolean,
  nsyms: number,
  ctx: ErrorContext,
): ElfRelocation[] {
  const rela = s.type === SectionType.RELA;
  const entSize = rela ? RELA_SIZE : REL_SIZE;
  const r = new ByteReader(s.data, littleEndian, ctx, s.offset);
  const v = r.view;
  const out: ElfRelocation[] = [];
  for (let o = 0; o < s.data.byteLength; o += entSize) {
    // r_info: symbol in the high half, type in the low half.
    const symbol = v.getUint32(littleEndian ? o + 12 : o + 8, littleEndian);
    const type = v.getUint32(littleEndian ? o + 8 : o + 12, littleEndian);
    if (symbol >= nsyms) {
      throw new ParseError(`relocation names symbol ${symbol}, but the symbol table has ${nsyms}`, {
        ...ctx,
        offset: s.offset + o,
      });
    }
    out.push({
      offset: u64n(r, o, "r_offset"),
      symbol,
      type,
      addend: rela ? v.getBigInt64(o + 16, littleEndian) : 0n,
    });
  }
  return out;
}

/** The section called `name`, if any (the first one when names repeat). */
export function findSection(elf: ElfFile, name: string): ElfSection | undefined {
  return elf.sections.find((s) => s.name === name);
}
