/**
 * The parts of an ELF64 relocatable object that a BPF loader needs. Values keep the file's
 * meaning; u64 fields that are addresses or sizes are plain numbers because a BPF object is
 * far smaller than 2^53 bytes (larger values are rejected while parsing).
 */

/** `e_machine` of BPF objects. */
export const EM_BPF = 247;

/** Section header types (`sh_type`) a BPF object uses. */
export const SectionType = {
  NULL: 0,
  PROGBITS: 1,
  SYMTAB: 2,
  STRTAB: 3,
  RELA: 4,
  NOBITS: 8,
  REL: 9,
} as const;

/** Section header flags (`sh_flags`). */
export const SectionFlag = {
  WRITE: 0x1,
  ALLOC: 0x2,
  EXECINSTR: 0x4,
} as const;

/** Symbol types (low nibble of `st_info`). */
export const SymbolType = { NOTYPE: 0, OBJECT: 1, FUNC: 2, SECTION: 3, FILE: 4 } as const;

/** Symbol bindings (high nibble of `st_info`). */
export const SymbolBinding = { LOCAL: 0, GLOBAL: 1, WEAK: 2 } as const;

/** Special section indices (`st_shndx`). */
export const SectionIndex = { UNDEF: 0, ABS: 0xfff1, COMMON: 0xfff2, XINDEX: 0xffff } as const;

/** BPF relocation types (llvm's `ELFRelocs/BPF.def`). */
export const RelocType = {
  NONE: 0,
  /** `lddw` of a map or global variable address. */
  R_BPF_64_64: 1,
  /** 64-bit absolute data (DWARF, `.maps` `.values` slots). */
  R_BPF_64_ABS64: 2,
  /** 32-bit absolute data (DWARF, BTF.ext). */
  R_BPF_64_ABS32: 3,
  /** 32-bit data the dynamic linker leaves alone (BTF DATASEC offsets). */
  R_BPF_64_NODYLD32: 4,
  /** bpf-to-bpf `call` target. */
  R_BPF_64_32: 10,
} as const;

/** One section header, with its name resolved and its bytes sliced out of the file. */
export interface ElfSection {
  index: number;
  name: string;
  type: number;
  flags: bigint;
  /** File offset of the contents. */
  offset: number;
  /** Size in bytes (for NOBITS, the size in memory; {@link data} is then empty). */
  size: number;
  link: number;
  info: number;
  addralign: number;
  entsize: number;
  /** The contents (a view into the file); empty for NOBITS sections. */
  data: Uint8Array;
}

/** One `.symtab` entry. */
export interface ElfSymbol {
  index: number;
  name: string;
  /** `STT_*` type. */
  type: number;
  /** `STB_*` binding. */
  binding: number;
  /** `STV_*` visibility (low two bits of `st_other`). */
  visibility: number;
  /** Section index the symbol is defined in (`st_shndx`). */
  section: number;
  value: number;
  size: number;
}

/** One relocation entry of a `.rel*` (or `.rela*`) section. */
export interface ElfRelocation {
  /** Byte offset inside the target section. */
  offset: number;
  /** Index into the symbol table. */
  symbol: number;
  /** `R_BPF_*` type. */
  type: number;
  /** Explicit addend (RELA); 0 for REL, whose addend lives in the relocated bytes. */
  addend: bigint;
}

/** A parsed ELF64 BPF object. */
export interface ElfFile {
  littleEndian: boolean;
  /** `e_type` (1 = relocatable). */
  type: number;
  machine: number;
  sections: ElfSection[];
  symbols: ElfSymbol[];
  /** Relocation sections keyed by the index of the section they apply to. */
  relocations: Map<number, ElfRelocation[]>;
}

/** Options of {@link parseElf}. */
export interface ParseElfOptions {
  /** File name used in error messages. */
  file?: string;
  /** Refuse files with more sections than this (hostile input); default 65536. */
  maxSections?: number;
}
