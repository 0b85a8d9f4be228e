import type { Instruction } from "../asm/instruction.js";
import { CALL, Class, classOf, JmpOp, LDDW, PseudoCall, PseudoLd } from "../asm/opcodes.js";
import { LoadError } from "../errors.js";
import type { MapReference, ProgramSpec } from "../object/types.js";

/**
 * Inserting instructions into a linked program while keeping every index in it true: jump and
 * bpf-to-bpf call offsets, function addresses (`lddw` of a function), map references, functions,
 * func_info, line_info and tail-call sites. Written once so that instrumentation is one rewrite
 * of the {@link ProgramSpec} that both engines load.
 */

/** A block of instructions put in front of one original instruction. */
export interface Insertion {
  /** The original instruction the block goes in front of. */
  before: number;
  /**
   * `all`: jumps and calls to `before` land on the block (code that runs whenever the
   * instruction does); `fallthrough`: they land past it, so only the instruction before reaches
   * the block (code that runs after a call returned).
   */
  entered: "all" | "fallthrough";
  /** The block; its own jumps stay inside it or end exactly at its end. */
  code: Instruction[];
  /** Map references of the block's `lddw`s, indices relative to the block. */
  references: MapReference[];
}

/** Most instructions the kernel verifies in one program (BPF_COMPLEXITY_LIMIT_INSNS). */
export const MAX_INSNS = 1_000_000;

/** Where each original instruction ended up, for callers that keep their own indices. */
export interface Relocation {
  /** New index of original instruction `i` itself. */
  own: (i: number) => number;
  /** New index of the first block in front of `i` (or `i` itself): where `i`'s source line starts. */
  first: (i: number) => number;
}

/**
 * Returns `prog` with `insertions` in place and every index remapped. Blocks before the same
 * instruction keep their order, `fallthrough` ones first. The original instruction objects are
 * not changed: every instruction is copied.
 */
export function insertCode(
  prog: ProgramSpec,
  insertions: readonly Insertion[],
): { program: ProgramSpec; relocation: Relocation } {
  const n = prog.instructions.length;
  const at: Insertion[][] = Array.from({ length: n + 1 }, () => []);
  for (const ins of insertions) {
    if (ins.before < 0 || ins.before > n)
      throw new LoadError(`instrumentation: no instruction ${ins.before}`, { program: prog.name });
    at[ins.before]?.push(ins);
  }
  for (const list of at)
    list.sort((a, b) => (a.entered === b.entered ? 0 : a.entered === "fallthrough" ? -1 : 1));

  const first = new Int32Array(n + 1);
  const land = new Int32Array(n + 1);
  const own = new Int32Array(n + 1);
  let pos = 0;
  for (let i = 0; i <= n; i++) {
    first[i] = pos;
    land[i] = -1;
    for (const ins of at[i] ?? []) {
      if (ins.entered === "all" && land[i] === -1) land[i] = pos;
      pos += ins.code.length;
    }
    own[i] = pos;
    if (land[i] === -1) land[i] = pos;
    if (i < n) pos++;
  }
  if (pos > MAX_INSNS) {
    throw new LoadError(`instrumentation makes ${pos} instructions, past the kernel's ${MAX_INSNS}`, {
      program: prog.name,
      hint: "load the program without stats",
    });
  }

  const out: Instruction[] = [];
  const references: MapReference[] = [];
  const origRefs = new Map(prog.references.map((r) => [r.insn, r]));
  const fits16 = (v: number, i: number): number => {
    if (v < -32768 || v > 32767)
      throw new LoadError("instrumentation pushes a jump past 32767 instructions", {
        program: prog.name,
        insn: i,
        hint: "load the program without stats",
      });
    return v;
  };
  for (let i = 0; i <= n; i++) {
    for (const ins of at[i] ?? []) {
      const base = out.length;
      for (const c of ins.code) out.push({ ...c });
      for (const r of ins.references) references.push({ ...r, insn: base + r.insn });
    }
    if (i === n) break;
    const insn = { ...(prog.instructions[i] as Instruction) };
    const me = own[i] as number;
    const cls = classOf(insn.opcode);
    const op = insn.opcode & 0xf0;
    if (insn.opcode === LDDW) {
      if (insn.src === PseudoLd.FUNC) {
        insn.imm = (land[i + 1 + insn.imm] as number) - (me + 1);
        insn.imm64 = BigInt(insn.imm >>> 0);
      }
      out.push(insn);
      const ref = origRefs.get(i);
      if (ref !== undefined) references.push({ ...ref, insn: me });
      // The second slot of lddw has no block in front of it (nothing jumps into an lddw).
      i++;
      const hi = prog.instructions[i];
      if (hi !== undefined) out.push({ ...hi });
      continue;
    }
    if (cls === Class.JMP || cls === Class.JMP32) {
      if (insn.opcode === CALL) {
        if (insn.src === PseudoCall.CALL) insn.imm = (land[i + 1 + insn.imm] as number) - (me + 1);
      } else if (op !== JmpOp.EXIT) {
        if (insn.opcode === (Class.JMP32 | JmpOp.JA))
          insn.imm = (land[i + 1 + insn.imm] as number) - (me + 1);
        else insn.off = fits16((land[i + 1 + insn.off] as number) - (me + 1), i);
      }
    }
    out.push(insn);
  }

  const ownOf = (i: number): number => own[Math.max(0, Math.min(n, i))] as number;
  const firstOf = (i: number): number => first[Math.max(0, Math.min(n, i))] as number;
  const program: ProgramSpec = {
    ...prog,
    instructions: out,
    references: references.sort((a, b) => a.insn - b.insn),
    functions: prog.functions.map((f) => ({ ...f, start: firstOf(f.start), end: firstOf(f.end) })),
    funcInfo: prog.funcInfo.map((f) => ({ ...f, insn: firstOf(f.insn) })),
    lineInfo: prog.lineInfo.map((l) => ({ ...l, insn: firstOf(l.insn) })),
    tailCalls: prog.tailCalls.map((t) => ({ ...t, insn: ownOf(t.insn) })),
  };
  return { program, relocation: { own: ownOf, first: firstOf } };
}
