import type { Instruction } from "../../src/asm/instruction.js";

/** One instruction from its raw fields, for tests that assemble by hand; fields left out are 0. */
export const insn = (opcode: number, dst = 0, src = 0, off = 0, imm = 0): Instruction => ({
  opcode,
  dst,
  src,
  off,
  imm,
});

/** `exit`. */
export const EXIT = insn(0x95);

/**
 * A program that tail-calls itself through slot 0 of the prog array its `lddw` (insn 2) refers
 * to, forever: the chain stops at the kernel's limit of 33 calls and then returns 2.
 */
export const SELF_TAIL_CALL: readonly Instruction[] = [
  insn(0xb7, 3, 0, 0, 0), // r3 = slot 0
  insn(0xb7, 0, 0, 0, 0),
  insn(0x18, 2, 1, 0, 0), // r2 = &jump (an lddw at insn 2 refers to the prog array)
  insn(0x00, 0, 0, 0, 0),
  insn(0x85, 0, 0, 0, 12), // bpf_tail_call
  insn(0xb7, 0, 0, 0, 2),
  EXIT,
];
