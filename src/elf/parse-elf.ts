import { type ErrorContext, ParseError } from "../errors.js";
import { ByteReader } from "../internal/bytes.js";
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
  const shoff = r.u64n(40, "e_shoff");
  const shentsize = r.u16(58, "e_shentsize");
  let shnum = r.u16(60, "e_shnum");
  let shstrndx = r.u16(62, "e_shstrndx");
  if (shoff === 0) return { littleEndian, type, machine, sections: [], symbols: [], relocations: new Map() };
  if (shentsize !== SHDR_SIZE) fail(`e_shentsize is ${shentsize}, expected ${SHDR_SIZE}`, { offset: 58 });

  // Extended numbering: the real counts live in section header 0.
  r.check(shoff, SHDR_SIZE, "section header 0");
  if (shnum === 0) shnum = r.u64n(shoff + 32, "section count");
  if (shstrndx === 0xffff) shstrndx = r.u32(shoff + 40, "section name table index");
  const maxSections = opts.maxSections ?? DEFAULT_MAX_SECTIONS;
  if (shnum > maxSections) fail(`${shnum} sections is more than the limit of ${maxSections}`, { offset: 60 });
  r.check(shoff, shnum * SHDR_SIZE, "section header table");
  if (shstrndx >= shnum) fail(`section name table index ${shstrndx} is out of range (${shnum} sections)`);

  const raw: Omit<ElfSection, "name" | "data">[] = [];
  const nameOffs: number[] = [];
  for (let i = 0; i < shnum; i++) {
    const o = shoff + i * SHDR_SIZE;
    nameOffs.push(r.u32(o));
    raw.push({
      index: i,
      type: r.u32(o + 4),
      flags: r.u64(o + 8),
      offset: r.u64n(o + 24, "sh_offset"),
      size: r.u64n(o + 32, "sh_size"),
      link: r.u32(o + 40),
      info: r.u32(o + 44),
      addralign: Number(r.u64(o + 48, "sh_addralign")),
      entsize: Number(r.u64(o + 56, "sh_entsize")),
    });
  }
  const shstr = raw[shstrndx] as (typeof raw)[number];
  const shstrData = sectionBytes(r, shstr, `section ${shstrndx} (section names)`);
  const names = new ByteReader(shstrData, littleEndian, { ...ctx, section: "section names" }, shstr.offset);

  const sections: ElfSection[] = raw.map((s, i) => {
    const name = i === 0 ? "" : names.cstring(nameOffs[i] as number, `name of section ${i}`);
    const d =
      s.type === SectionType.NOBITS || s.type === SectionType.NULL
        ? new Uint8Array(0)
        : sectionBytes(r, s, name);
    return { ...s, name, data: d };
  });

  const symbols = readSymbols(sections, littleEndian, ctx);
  const relocations = new Map<number, ElfRelocation[]>();
  for (const s of sections) {
    if (s.type !== SectionType.REL && s.type !== SectionType.RELA) continue;
    const sctx = { ...ctx, section: s.name };
    if (s.info === 0 || s.info >= sections.length) {
      throw new ParseError(`relocation section applies to section ${s.info}, which does not exist`, sctx);
    }
    const list = readRelocations(s, littleEndian, symbols.length, sctx);
    const prev = relocations.get(s.info);
    relocations.set(s.info, prev === undefined ? list : prev.concat(list));
  }
  return { littleEndian, type, machine, sections, symbols, relocations };
}

function sectionBytes(r: ByteReader, s: { offset: number; size: number }, name: string): Uint8Array {
  if (s.offset + s.size > r.length) {
    throw new ParseError(
      `section contents (${s.size} bytes at offset ${s.offset}) run past the end of the file (${r.length} bytes)`,
      { ...r.context, section: name, offset: s.offset },
    );
  }
  return r.slice(s.offset, s.size, `section ${name}`);
}

function readSymbols(sections: ElfSection[], littleEndian: boolean, ctx: ErrorContext): ElfSymbol[] {
  const symtab = sections.find((s) => s.type === SectionType.SYMTAB);
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
  const strs = new ByteReader(strtab.data, littleEndian, { ...ctx, section: strtab.name }, strtab.offset);
  const out: ElfSymbol[] = [];
  const n = symtab.data.byteLength / SYM_SIZE;
  for (let i = 0; i < n; i++) {
    const o = i * SYM_SIZE;
    const nameOff = r.u32(o);
    const info = r.u8(o + 4);
    out.push({
      index: i,
      name: nameOff === 0 ? "" : strs.cstring(nameOff, `name of symbol ${i}`),
      type: info & 0xf,
      binding: info >> 4,
      visibility: r.u8(o + 5) & 0x3,
      section: r.u16(o + 6),
      value: r.u64n(o + 8, "st_value"),
      size: r.u64n(o + 16, "st_size"),
    });
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
  if (s.data.byteLength % entSize !== 0) {
    throw new ParseError(`relocation section size ${s.data.byteLength} is not a multiple of ${entSize}`, ctx);
  }
  const r = new ByteReader(s.data, littleEndian, ctx, s.offset);
  const out: ElfRelocation[] = [];
  for (let o = 0; o < s.data.byteLength; o += entSize) {
    const info = r.u64(o + 8, "r_info");
    const symbol = Number(info >> 32n);
    if (symbol >= nsyms) {
      throw new ParseError(`relocation names symbol ${symbol}, but the symbol table has ${nsyms}`, {
        ...ctx,
        offset: s.offset + o,
      });
    }
    out.push({
      offset: r.u64n(o, "r_offset"),
      symbol,
      type: Number(info & 0xffffffffn),
      addend: rela ? r.view.getBigInt64(o + 16, littleEndian) : 0n,
    });
  }
  return out;
}

/** The section called `name`, if any (the first one when names repeat). */
export function findSection(elf: ElfFile, name: string): ElfSection | undefined {
  return elf.sections.find((s) => s.name === name);
}
