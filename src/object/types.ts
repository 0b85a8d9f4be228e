import type { Instruction } from "../asm/instruction.js";

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
  /** libbpf's program type name from the SEC table, such as `xdp` or `sched_cls`. */
  type: string;
  /** `BPF_PROG_TYPE_*` value. */
  progType: number;
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
  /** `BPF_MAP_TYPE_*` value. */
  type: number;
  /** Lower-case name of the type without prefix, e.g. `prog_array`. */
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
  /** Parsed BTF, when the object carries a `.BTF` section (type from src/btf). */
  btf: unknown;
  skippedSections: SkippedSection[];
}

/** Well-known `BPF_MAP_TYPE_*` values. */
export const MapType = {
  unspec: 0,
  hash: 1,
  array: 2,
  prog_array: 3,
  perf_event_array: 4,
  percpu_hash: 5,
  percpu_array: 6,
  stack_trace: 7,
  cgroup_array: 8,
  lru_hash: 9,
  lru_percpu_hash: 10,
  lpm_trie: 11,
  array_of_maps: 12,
  hash_of_maps: 13,
  devmap: 14,
  sockmap: 15,
  cpumap: 16,
  xskmap: 17,
  sockhash: 18,
  cgroup_storage: 19,
  reuseport_sockarray: 20,
  percpu_cgroup_storage: 21,
  queue: 22,
  stack: 23,
  sk_storage: 24,
  devmap_hash: 25,
  struct_ops: 26,
  ringbuf: 27,
  inode_storage: 28,
  task_storage: 29,
  bloom_filter: 30,
  user_ringbuf: 31,
  cgrp_storage: 32,
  arena: 33,
} as const;

/** Well-known `BPF_PROG_TYPE_*` values. */
export const ProgType = {
  unspec: 0,
  socket_filter: 1,
  kprobe: 2,
  sched_cls: 3,
  sched_act: 4,
  tracepoint: 5,
  xdp: 6,
  perf_event: 7,
  cgroup_skb: 8,
  cgroup_sock: 9,
  lwt_in: 10,
  lwt_out: 11,
  lwt_xmit: 12,
  sock_ops: 13,
  sk_skb: 14,
  cgroup_device: 15,
  sk_msg: 16,
  raw_tracepoint: 17,
  cgroup_sock_addr: 18,
  lwt_seg6local: 19,
  lirc_mode2: 20,
  sk_reuseport: 21,
  flow_dissector: 22,
  cgroup_sysctl: 23,
  raw_tracepoint_writable: 24,
  cgroup_sockopt: 25,
  tracing: 26,
  struct_ops: 27,
  ext: 28,
  lsm: 29,
  sk_lookup: 30,
  syscall: 31,
  netfilter: 32,
} as const;
