export { assemble } from "./assemble.js";
export { type ConformanceData, parseConformanceData } from "./conformance-data.js";
export {
  branchTarget,
  type DisassembleOptions,
  disassemble,
  disassembleProgram,
  UNKNOWN_INSN,
} from "./disasm.js";
export { decodeInstructions, encodeInstructions, INSN_SIZE, type Instruction } from "./instruction.js";
export {
  AluOp,
  AtomicOp,
  CALL,
  Class,
  classOf,
  EXIT,
  JmpOp,
  LDDW,
  Mode,
  PseudoCall,
  PseudoLd,
  Size,
  Source,
} from "./opcodes.js";
