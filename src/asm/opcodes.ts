/**
 * Opcode fields of the eBPF instruction set (Documentation/bpf/standardization/instruction-set.rst).
 * An opcode byte is `class | (op or size|mode) | source`; these constants name each field value.
 */

/** Instruction classes (low 3 bits). */
export const Class = {
  LD: 0x00,
  LDX: 0x01,
  ST: 0x02,
  STX: 0x03,
  ALU: 0x04,
  JMP: 0x05,
  JMP32: 0x06,
  ALU64: 0x07,
} as const;

/** Operand source bit for ALU/JMP classes. */
export const Source = { K: 0x00, X: 0x08 } as const;

/** ALU operations (high 4 bits). */
export const AluOp = {
  ADD: 0x00,
  SUB: 0x10,
  MUL: 0x20,
  DIV: 0x30,
  OR: 0x40,
  AND: 0x50,
  LSH: 0x60,
  RSH: 0x70,
  NEG: 0x80,
  MOD: 0x90,
  XOR: 0xa0,
  MOV: 0xb0,
  ARSH: 0xc0,
  END: 0xd0,
} as const;

/** Jump operations (high 4 bits). */
export const JmpOp = {
  JA: 0x00,
  JEQ: 0x10,
  JGT: 0x20,
  JGE: 0x30,
  JSET: 0x40,
  JNE: 0x50,
  JSGT: 0x60,
  JSGE: 0x70,
  CALL: 0x80,
  EXIT: 0x90,
  JLT: 0xa0,
  JLE: 0xb0,
  JSLT: 0xc0,
  JSLE: 0xd0,
  /** `may_goto` (Linux 6.9+): a loop escape the verifier lets a program take a bounded number of times. */
  JCOND: 0xe0,
} as const;

/** Load/store sizes (bits 3-4). */
export const Size = { W: 0x00, H: 0x08, B: 0x10, DW: 0x18 } as const;

/** Load/store modes (bits 5-7). */
export const Mode = { IMM: 0x00, ABS: 0x20, IND: 0x40, MEM: 0x60, MEMSX: 0x80, ATOMIC: 0xc0 } as const;

/** Atomic operations, carried in the imm field of `STX | ATOMIC`. */
export const AtomicOp = {
  ADD: 0x00,
  OR: 0x40,
  AND: 0x50,
  XOR: 0xa0,
  FETCH: 0x01,
  XCHG: 0xe0 | 0x01,
  CMPXCHG: 0xf0 | 0x01,
  /** `load_acquire`, a load with acquire ordering (Linux 6.15+). */
  LOAD_ACQ: 0x100,
  /** `store_release`, a store with release ordering (Linux 6.15+). */
  STORE_REL: 0x110,
} as const;

/** Pseudo source values of `lddw` (`BPF_LD | BPF_IMM | BPF_DW`). */
export const PseudoLd = {
  /** imm is a map fd (or, in an object, a relocated map reference). */
  MAP_FD: 1,
  /** imm is a map fd and the second imm an offset into its value (global data). */
  MAP_VALUE: 2,
  BTF_ID: 3,
  FUNC: 4,
  MAP_IDX: 5,
  MAP_IDX_VALUE: 6,
} as const;

/** Pseudo source values of `call`. */
export const PseudoCall = { HELPER: 0, CALL: 1, KFUNC: 2 } as const;

/** Opcode byte of `lddw`, the only 16-byte instruction. */
export const LDDW = Class.LD | Mode.IMM | Size.DW;
/** Opcode byte of `call`. */
export const CALL = Class.JMP | JmpOp.CALL;
/** Opcode byte of `exit`. */
export const EXIT = Class.JMP | JmpOp.EXIT;

/** The class bits of an opcode. */
export const classOf = (opcode: number): number => opcode & 0x07;
