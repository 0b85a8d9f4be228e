/**
 * A deliberately tiny ELF64 section and symbol extractor for the asm tests, so that they do not
 * depend on src/elf (tested on its own). It trusts its input: it only ever reads objects clang built.
 */

/** One section of an ELF64 object. */
export interface TestSection {
  index: number;
  name: string;
  type: number;
  flags: bigint;
  bytes: Uint8Array;
}

/** One symbol of `.symtab`. */
export interface TestSymbol {
  name: string;
  value: number;
  /** STT_* from st_info. */
  type: number;
  shndx: number;
}

/** Sections, symbols and byte order of an ELF64 object. */
export interface TestElf {
  littleEndian: boolean;
  sections: TestSection[];
  symbols: TestSymbol[];
}

/** `SHF_EXECINSTR`: the section holds code. */
export const SHF_EXECINSTR = 0x4n;
/** `STT_SECTION` and `STT_FILE`: symbol types llvm-objdump never uses as labels. */
export const STT_SECTION = 3;
export const STT_FILE = 4;

const SHT_SYMTAB = 2;

function cstr(b: Uint8Array, off: number): string {
  let end = off;
  while (end < b.length && b[end] !== 0) end++;
  return new TextDecoder().decode(b.subarray(off, end));
}

/** Reads the section headers and the symbol table of an ELF64 file. */
export function readTestElf(file: Uint8Array): TestElf {
  if (file[0] !== 0x7f || file[1] !== 0x45 || file[2] !== 0x4c || file[3] !== 0x46 || file[4] !== 2) {
    throw new Error("not an ELF64 file");
  }
  const le = file[5] === 1;
  const v = new DataView(file.buffer, file.byteOffset, file.byteLength);
  const shoff = Number(v.getBigUint64(0x28, le));
  const shentsize = v.getUint16(0x3a, le);
  const shnum = v.getUint16(0x3c, le);
  const shstrndx = v.getUint16(0x3e, le);
  const raw = [];
  for (let i = 0; i < shnum; i++) {
    const o = shoff + i * shentsize;
    raw.push({
      nameOff: v.getUint32(o, le),
      type: v.getUint32(o + 4, le),
      flags: v.getBigUint64(o + 8, le),
      offset: Number(v.getBigUint64(o + 0x18, le)),
      size: Number(v.getBigUint64(o + 0x20, le)),
      link: v.getUint32(o + 0x28, le),
      entsize: Number(v.getBigUint64(o + 0x38, le)),
    });
  }
  const bytesOf = (s: { type: number; offset: number; size: number }) =>
    s.type === 8 /* SHT_NOBITS */ ? new Uint8Array(0) : file.subarray(s.offset, s.offset + s.size);
  const shstr = raw[shstrndx];
  if (!shstr) throw new Error("no section name table");
  const names = bytesOf(shstr);
  const sections: TestSection[] = raw.map((s, index) => ({
    index,
    name: cstr(names, s.nameOff),
    type: s.type,
    flags: s.flags,
    bytes: bytesOf(s),
  }));
  const symbols: TestSymbol[] = [];
  const symtab = raw.find((s) => s.type === SHT_SYMTAB);
  if (symtab) {
    const strtab = raw[symtab.link];
    const strs = strtab ? bytesOf(strtab) : new Uint8Array(0);
    for (let o = symtab.offset; o + 24 <= symtab.offset + symtab.size; o += symtab.entsize || 24) {
      symbols.push({
        name: cstr(strs, v.getUint32(o, le)),
        type: v.getUint8(o + 4) & 0xf,
        shndx: v.getUint16(o + 6, le),
        value: Number(v.getBigUint64(o + 8, le)),
      });
    }
  }
  return { littleEndian: le, sections, symbols };
}
