import type { Instruction } from "../../src/asm/instruction.js";

/** One instruction from its raw fields, for tests that assemble by hand; fields left out are 0. */
export const insn = (opcode: number, dst = 0, src = 0, off = 0, imm = 0): Instruction => ({
  opcode,
  dst,
  src,
  off,
  imm,
});
