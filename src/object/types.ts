import type { Instruction } from "../asm/instruction.js";
import type { ObjectBtf } from "./object-types.js";

/**
 * The data model of a parsed BPF object. Everything here is plain, deterministic data derived
 * from the ELF bytes; nothing depends on the running kernel. Backends (the VM, the kernel) turn
 * a {@link CollectionSpec} into live maps and programs.
 */

/** Byte order of the object (BPF objects are built for one). */
export type ByteOrder = "little" | "big";

/** A reference from an instruction to a map or to global data, resolved from an ELF relocation. */
export interface MapReference {
  /** Index of the instruction slot (the first slot of a `lddw`). */
  insn: number;
  /** `map` → `BPF_PSEUDO_MAP_FD`; `map_value` → `BPF_PSEUDO_MAP_VALUE` with `offset` into the value. */
  kind: "map" | "map_value";
  /** Name of the {@link MapSpec} in the collection. */
  map: string;
  /** Byte offset into the map value (global data variables); 0 for plain map references. */
  offset: number;
}

/** A `bpf_tail_call` call site and what static analysis knows of it. */
export interface TailCallSite {
  /** Index of the `call 12` instruction in the linked program. */
  insn: number;
  /** The prog-array map loaded into r2, when it could be traced to one. */
  map: string | undefined;
  /**
   * The slot indices r3 may hold at the call, when every path sets it to a constant.
   * clang often merges several constant-key calls into one site, so there may be several.
   */
  keys: number[] | undefined;
  /** Subprogram (function) the call is in; `undefined` when it is in the program's main body. */
  subprogram: string | undefined;
  /**
   * The call's C source line from BTF line info: file as compiled, line, column (0: unknown),
   * text. Undefined without line info, or where it gives line 0 (a call clang merged from several).
   */
  source: { file: string; line: number; column: number; text: string } | undefined;
}

/** BTF func_info for one function of a linked program. */
export interface FuncInfo {
  /** Instruction index where the function starts, relative to the linked program. */
  insn: number;
  /** BTF type id of the FUNC. */
  typeId: number;
  /** Function name, from BTF. */
  name: string;
}

/** BTF line_info: which C source line produced the instructions starting at `insn`. */
export interface LineInfo {
  insn: number;
  fileName: string;
  /** The source text of the line, as stored in the object's BTF strings. */
  line: string;
  lineNumber: number;
  column: number;
  /** Raw string offsets, kept so the info can be marshalled back for BPF_PROG_LOAD. */
  fileNameOff: number;
  lineOff: number;
}

/** A function inside a linked program (the entry, or a `.text` subprogram it calls). */
export interface FunctionSpan {
  name: string;
  /** First instruction index within the linked program. */
  start: number;
  /** One past the last instruction. */
  end: number;
  /** Section the function came from (`.text` for subprograms). */
  section: string;
}

/** A program: one entry function plus every subprogram it (transitively) calls, linked. */
export interface ProgramSpec {
  /** The entry function's symbol name. */
  name: string;
  /** The ELF section name, such as `xdp` or `tracepoint/syscalls/sys_enter_openat`. */
  section: string;
  /** `BPF_PROG_TYPE_*` value (`ProgType`), from libbpf's SEC table. */
  type: number;
  /** The program type's name, such as `xdp` or `sched_cls` (`progTypeName(type)`). */
  typeName: string;
  /** `BPF_*` expected attach type, when the section implies one. */
  expectedAttachType: number | undefined;
  /** What the section names as attach target (tracepoint, kprobe function...), if anything. */
  attachTo: string | undefined;
  /** Whether the SEC name marks it sleepable (`.s` suffix). */
  sleepable: boolean;
  /** The collection's license string. */
  license: string;
  /** Linked instructions: the entry function, then each called subprogram. */
  instructions: Instruction[];
  /** Map and global-data references, by instruction. */
  references: MapReference[];
  /** The functions laid out in {@link instructions}. */
  functions: FunctionSpan[];
  funcInfo: FuncInfo[];
  lineInfo: LineInfo[];
  tailCalls: TailCallSite[];
  /** Offset of the entry function inside its section, in bytes. */
  sectionOffset: number;
  /**
   * `false` for a program in a `?` section (libbpf's `SEC("?tc")`): it is in the object but
   * neither engine loads it unless this is set to `true` before loading, as
   * `bpf_program__set_autoload` does. Absent means loaded.
   */
  autoload?: boolean;
}

/** Where a global variable lives inside a global-data map. */
export interface VariableSpec {
  name: string;
  /** Byte offset inside the map value. */
  offset: number;
  size: number;
  /** BTF type id of the variable's type, when BTF describes it. */
  typeId: number | undefined;
  /** `global`, `static` or `extern`, from BTF (or the ELF symbol binding). */
  linkage: "static" | "global" | "extern";
}

/** One statically initialised slot of a prog array or map-in-map (`.values = { [i] = &x }`). */
export interface MapSlot {
  key: number;
  /** Name of the program (prog arrays) or map (map-in-map) in the slot. */
  value: string;
}

/** A map declared by the object: a BTF `.maps` entry, a legacy `maps` entry, or global data. */
export interface MapSpec {
  name: string;
  /** `BPF_MAP_TYPE_*` value (`MapType`). */
  type: number;
  /** The map type's name, such as `prog_array` (`mapTypeName(type)`). */
  typeName: string;
  keySize: number;
  valueSize: number;
  maxEntries: number;
  flags: number;
  /** `BPF_MAP_TYPE_*` extra (bloom filter hashes, arena address...). */
  mapExtra: bigint;
  numaNode: number;
  /** libbpf's pinning: `by_name` pins under the pin root as the map's name. */
  pinning: "none" | "by_name";
  /** BTF type ids of key and value, when BTF declares them (`__type(key, ...)`). */
  keyTypeId: number | undefined;
  valueTypeId: number | undefined;
  /** The inner map template of a map-in-map (`__array(values, struct {...})`). */
  innerMap: MapSpec | undefined;
  /** Static slots (`.values = {...}`), for prog arrays and maps of maps. */
  contents: MapSlot[];
  /** Which kind of declaration produced the map. */
  origin: "btf" | "legacy" | "global-data" | "kconfig";
  /** Global data: the section (.rodata, .data, .bss, .rodata.str1.1...). */
  section: string | undefined;
  /** Global data: initial bytes of the single value (zeros for .bss). */
  initialData: Uint8Array | undefined;
  /** Global data in a read-only section: the backend freezes it after filling it. */
  readOnly: boolean;
  /** Global data: the variables it holds. */
  variables: VariableSpec[];
}

/** A section tsbpf did not turn into programs or maps, reported rather than silently dropped. */
export interface SkippedSection {
  name: string;
  reason: string;
}

/** Everything parsed from one BPF object. */
export interface CollectionSpec {
  /** The name the object was loaded under (file name), used in error messages. */
  file: string | undefined;
  byteOrder: ByteOrder;
  license: string;
  /** `version` section (legacy kprobes), if present. */
  kernelVersion: number | undefined;
  programs: Record<string, ProgramSpec>;
  maps: Record<string, MapSpec>;
  /** Parsed BTF and BTF.ext, when the object carries a `.BTF` section. */
  btf: ObjectBtf | undefined;
  skippedSections: SkippedSection[];
}
