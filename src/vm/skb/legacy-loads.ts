import type { Instruction } from "../../asm/instruction.js";
import { AluOp, CALL, Class, EXIT, JmpOp, Mode, Size, Source } from "../../asm/opcodes.js";
import type { ProgramSpec } from "../../object/types.js";
import { type Insertion, insertCode } from "../../stats/rewrite.js";

/**
 * Legacy packet loads (`LD_ABS`/`LD_IND`, clang's `__builtin_bpf_load_byte/half/word`) of skb
 * programs, done as the kernel does them: the verifier rewrites each one (bpf_gen_ld_abs) into
 * `r2 = offset; r1 = r6 (ctx); call load helper; if r0 s>= 0 goto +2; w0 ^= w0; exit`, so a
 * load out of bounds ends the program with 0, r1-r5 are clobbered, and the value (big-endian in
 * the packet) lands in r0. The VM does the same rewrite before loading, with helpers of its own
 * (ids {@link LEGACY_LOAD_HELPER} + size) that follow bpf_skb_load_helper_8/16/32.
 */
export const LEGACY_LOAD_HELPER = 0x7ffe0000;

const r = (opcode: number, dst: number, src: number, imm: number, off = 0): Instruction => ({
  opcode,
  dst,
  src,
  off,
  imm,
});

/** Bytes a legacy load of opcode size bits `size` reads. */
function widthOf(size: number): number | undefined {
  if (size === Size.B) return 1;
  if (size === Size.H) return 2;
  if (size === Size.W) return 4;
  return undefined;
}

/** Whether an instruction is a legacy packet load. */
function isLegacy(op: number): boolean {
  const mode = op & 0xe0;
  return (
    (op & 7) === Class.LD && (mode === Mode.ABS || mode === Mode.IND) && widthOf(op & 0x18) !== undefined
  );
}

/** `prog` with its legacy packet loads rewritten as the kernel does; `prog` itself when it has none. */
export function rewriteLegacyLoads(prog: ProgramSpec): ProgramSpec {
  const insertions: Insertion[] = [];
  const nops = new Set<number>();
  prog.instructions.forEach((ins, i) => {
    if (!isLegacy(ins.opcode)) return;
    const code: Instruction[] = [];
    if ((ins.opcode & 0xe0) === Mode.ABS) code.push(r(Class.ALU64 | AluOp.MOV | Source.K, 2, 0, ins.imm));
    else {
      code.push(r(Class.ALU64 | AluOp.MOV | Source.X, 2, ins.src, 0));
      if (ins.imm !== 0) code.push(r(Class.ALU64 | AluOp.ADD | Source.K, 2, 0, ins.imm));
    }
    code.push(r(Class.ALU64 | AluOp.MOV | Source.X, 1, 6, 0));
    code.push(r(CALL, 0, 0, LEGACY_LOAD_HELPER + (widthOf(ins.opcode & 0x18) as number)));
    code.push(r(Class.JMP | JmpOp.JSGE | Source.K, 0, 0, 0, 2));
    code.push(r(Class.ALU | AluOp.XOR | Source.X, 0, 0, 0));
    code.push(r(EXIT, 0, 0, 0));
    insertions.push({ before: i, entered: "all", code, references: [] });
    nops.add(i);
  });
  if (insertions.length === 0) return prog;
  // The load itself becomes `ja +0`, where the block's success jump lands.
  const withNops: ProgramSpec = {
    ...prog,
    instructions: prog.instructions.map((ins, i) => (nops.has(i) ? r(Class.JMP | JmpOp.JA, 0, 0, 0) : ins)),
  };
  return insertCode(withNops, insertions).program;
}
