/**
 * Disassembler that writes instructions exactly as `llvm-objdump -d --no-show-raw-insn` does (the
 * text after the tab), so that tsbpf output, clang listings and verifier logs read alike.
 *
 * Syntax source: LLVM's BPF backend (llvm/lib/Target/BPF/BPFInstrInfo.td and BPFInstPrinter.cpp).
 * The llvm-objdump 14 on our CI knows ISA v1-v3 only; for the forms it prints as `<unknown>` we use
 * the syntax of current LLVM, which added them later:
 *   - ISA v4: `r1 s/= r2`, `r1 s%= r2`, `r1 = (s8)r2`, `w1 = (s16)w2`, `r1 = *(s8 *)(r2 + 0)`,
 *     `r1 = bswap16 r1`, `gotol +N`;
 *   - `r1 %= r2` and `if r1 & r2 goto +N` (never emitted by LLVM 14);
 *   - `*(u32 *)(r1 + 0) = 5` (BPF_ST with an immediate);
 *   - `may_goto +N`, `gotox r1`, `callx r1` (current LLVM reads the callx register from dst_reg),
 *     `r1 = addr_space_cast(r2, 1, 0)`, `r1 = load_acquire((u64 *)(r2 + 0))`,
 *     `store_release((u64 *)(r1 + 0), r2)`.
 * Like LLVM, fields an encoding does not use are not checked (e.g. `src` of a `K` form), while
 * fields LLVM's decoder fixes (the `off` of ALU ops, the size of a byte swap) must match.
 *
 * 32-bit loads and stores print with `r` registers by default, as plain `llvm-objdump -d` does;
 * `alu32: true` prints `w` registers, as `llvm-objdump --mattr=+alu32` does. The 32-bit atomics
 * other than a plain `lock ... +=` exist only in LLVM's alu32 decoder: plain llvm-objdump prints
 * `<unknown>` for them (or, for fetch-add, wrongly drops the fetch); we print their alu32 form in
 * both modes, because that is the only syntax LLVM has for them.
 */
import {
  CALL,
  LDDW,
  AluOp,
  AtomicOp,
  Class,
  JmpOp,
  Mode,
  PseudoCall,
  Size,
  Source,
  classOf,
} from "./opcodes.js";
import type { Instruction } from "./instruction.js";

/** How {@link disassemble} decorates its output. */
export interface DisassembleOptions {
  /** Print 32-bit loads, stores and `lock +=` with `w` registers (`llvm-objdump --mattr=+alu32`). */
  alu32?: boolean;
  /**
   * Name to print as ` <name>` after a jump whose target is slot `targetIndex`; llvm-objdump prints
   * the symbol at (or `sym+0xoff` after) the target. Return undefined to print no label.
   */
  labelFor?: (targetIndex: number) => string | undefined;
  /**
   * Name to print as ` <name>` after a bpf-to-bpf call whose target is slot `targetIndex` (see
   * {@link callTarget}), as llvm-objdump names a jump's target, so `call 4 <add_len>` says which
   * function it enters (a helper call stays `call 12`). Return undefined to print no name.
   * llvm-objdump 14 names no call target: leave this unset to match it.
   */
  calleeFor?: (targetIndex: number) => string | undefined;
  /** Map name to print as ` # name` after the `lddw` at slot `index`, when it references a map. */
  mapNameFor?: (index: number) => string | undefined;
}

/** The text llvm-objdump prints for an instruction it cannot decode (`<unknown>`). */
export const UNKNOWN_INSN = "<unknown>";

/** Thrown inside the printer when an encoding has no syntax; caught by {@link disassemble}. */
class NoSyntax {}
const noSyntax = new NoSyntax();

const SIZE_NAME: Record<number, string> = { [Size.W]: "32", [Size.H]: "16", [Size.B]: "8", [Size.DW]: "64" };

const ALU_OPERATOR: Record<number, string> = {
  [AluOp.ADD]: "+=",
  [AluOp.SUB]: "-=",
  [AluOp.MUL]: "*=",
  [AluOp.DIV]: "/=",
  [AluOp.OR]: "|=",
  [AluOp.AND]: "&=",
  [AluOp.LSH]: "<<=",
  [AluOp.RSH]: ">>=",
  [AluOp.MOD]: "%=",
  [AluOp.XOR]: "^=",
  [AluOp.ARSH]: "s>>=",
};

const JMP_OPERATOR: Record<number, string> = {
  [JmpOp.JEQ]: "==",
  [JmpOp.JGT]: ">",
  [JmpOp.JGE]: ">=",
  [JmpOp.JSET]: "&",
  [JmpOp.JNE]: "!=",
  [JmpOp.JSGT]: "s>",
  [JmpOp.JSGE]: "s>=",
  [JmpOp.JLT]: "<",
  [JmpOp.JLE]: "<=",
  [JmpOp.JSLT]: "s<",
  [JmpOp.JSLE]: "s<=",
};

const ATOMIC_ALU: Record<number, [op: string, name: string]> = {
  [AtomicOp.ADD]: ["+", "add"],
  [AtomicOp.OR]: ["|", "or"],
  [AtomicOp.AND]: ["&", "and"],
  [AtomicOp.XOR]: ["^", "xor"],
};

function reg(n: number, prefix = "r"): string {
  // LLVM decodes r0-r11 (r11 is its internal stack-adjust register); anything else fails to decode.
  if (n > 11) throw noSyntax;
  return prefix + n;
}

/** `(r1 + 4)` / `(r10 - 8)` without the parentheses, as LLVM's printMemOperand writes it. */
function mem(base: number, off: number): string {
  return off >= 0 ? `${reg(base)} + ${off}` : `${reg(base)} - ${-off}`;
}

function sizeName(size: number, signed = false): string {
  return (signed ? "s" : "u") + (SIZE_NAME[size] as string);
}

/** Relative jump distance in LLVM's style: `+3`, `+0`, `-2`. */
function rel(n: number): string {
  return n >= 0 ? `+${n}` : String(n);
}

/**
 * Slot index a jump lands on, or undefined for instructions that do not branch (calls included:
 * llvm-objdump does not label `call -N` either).
 */
export function branchTarget(insn: Instruction, index: number): number | undefined {
  const cls = classOf(insn.opcode);
  if (cls !== Class.JMP && cls !== Class.JMP32) return undefined;
  const op = insn.opcode & 0xf0;
  if (op === JmpOp.CALL || op === JmpOp.EXIT) return undefined;
  if (op === JmpOp.JA) {
    if ((insn.opcode & Source.X) !== 0) return undefined;
    return index + 1 + (cls === Class.JMP32 ? insn.imm : insn.off);
  }
  if (op === JmpOp.JCOND && cls === Class.JMP32) return undefined;
  if (op === 0xf0) return undefined;
  return index + 1 + insn.off;
}

/**
 * Slot index a bpf-to-bpf call (`call` with src = BPF_PSEUDO_CALL, relative in `imm`) enters, or
 * undefined for any other instruction (helper and kfunc calls included).
 */
export function callTarget(insn: Instruction, index: number): number | undefined {
  return insn.opcode === CALL && insn.src === PseudoCall.CALL ? index + 1 + insn.imm : undefined;
}

/**
 * Text of one instruction as llvm-objdump prints it after the tab: `r2 = *(u32 *)(r1 + 0)`,
 * `if r4 > r3 goto +33 <LBB0_9>`, `r1 = 0 ll`, `call 12`. `index` is the slot index, used to
 * resolve jump labels. Undecodable encodings give {@link UNKNOWN_INSN}; this never throws.
 */
export function disassemble(insn: Instruction, index: number, opts: DisassembleOptions = {}): string {
  try {
    return format(insn, index, opts);
  } catch (e) {
    if (e === noSyntax) return UNKNOWN_INSN;
    throw e;
  }
}

function format(insn: Instruction, index: number, opts: DisassembleOptions): string {
  const { opcode, dst, src, off, imm } = insn;
  switch (classOf(opcode)) {
    case Class.ALU:
    case Class.ALU64:
      return formatAlu(insn);
    case Class.JMP:
    case Class.JMP32: {
      const text = formatJump(insn);
      const target = branchTarget(insn, index);
      const callee = callTarget(insn, index);
      const label =
        target !== undefined
          ? opts.labelFor?.(target)
          : callee !== undefined
            ? opts.calleeFor?.(callee)
            : undefined;
      return label === undefined ? text : `${text} <${label}>`;
    }
    case Class.LD: {
      if (opcode === LDDW) {
        if (off !== 0) throw noSyntax;
        let text: string;
        if (src === 0) {
          const value = insn.imm64 ?? BigInt(imm >>> 0);
          text = `${reg(dst)} = ${BigInt.asIntN(64, value)} ll`;
        } else {
          // LLVM prints the pseudo kind and only the first slot's immediate, zero-extended.
          text = `ld_pseudo\t${reg(dst)}, ${src}, ${imm >>> 0}`;
        }
        const map = opts.mapNameFor?.(index);
        return map === undefined ? text : `${text} # ${map}`;
      }
      const mode = opcode & 0xe0;
      const size = opcode & 0x18;
      if (size === Size.DW) throw noSyntax;
      if (mode === Mode.ABS) return `r0 = *(${sizeName(size)} *)skb[${imm}]`;
      if (mode === Mode.IND) return `r0 = *(${sizeName(size)} *)skb[${reg(src)}]`;
      throw noSyntax;
    }
    case Class.LDX: {
      const mode = opcode & 0xe0;
      const size = opcode & 0x18;
      if (mode === Mode.MEM) {
        const p = opts.alu32 && size !== Size.DW ? "w" : "r";
        return `${reg(dst, p)} = *(${sizeName(size)} *)(${mem(src, off)})`;
      }
      if (mode === Mode.MEMSX && size !== Size.DW) {
        return `${reg(dst)} = *(${sizeName(size, true)} *)(${mem(src, off)})`;
      }
      throw noSyntax;
    }
    case Class.ST: {
      if ((opcode & 0xe0) !== Mode.MEM) throw noSyntax;
      return `*(${sizeName(opcode & 0x18)} *)(${mem(dst, off)}) = ${imm}`;
    }
    default: {
      // Class.STX
      const mode = opcode & 0xe0;
      const size = opcode & 0x18;
      if (mode === Mode.MEM) {
        const p = opts.alu32 && size !== Size.DW ? "w" : "r";
        return `*(${sizeName(size)} *)(${mem(dst, off)}) = ${reg(src, p)}`;
      }
      if (mode === Mode.ATOMIC) return formatAtomic(insn, opts);
      throw noSyntax;
    }
  }
}

function formatAlu(insn: Instruction): string {
  const { opcode, dst, src, off, imm } = insn;
  const is64 = classOf(opcode) === Class.ALU64;
  const p = is64 ? "r" : "w";
  const op = opcode & 0xf0;
  const x = (opcode & Source.X) !== 0;
  switch (op) {
    case AluOp.NEG:
      if (x) throw noSyntax;
      return `${reg(dst, p)} = -${reg(dst, p)}`;
    case AluOp.END: {
      const bits = SIZE_NAME[imm === 16 ? Size.H : imm === 32 ? Size.W : imm === 64 ? Size.DW : -1];
      if (bits === undefined) throw noSyntax;
      // Byte swaps always name the 64-bit register, whatever their class.
      if (is64) {
        if (x) throw noSyntax;
        return `${reg(dst)} = bswap${bits} ${reg(dst)}`;
      }
      return `${reg(dst)} = ${x ? "be" : "le"}${bits} ${reg(dst)}`;
    }
    case AluOp.MOV:
      if (!x) {
        if (off !== 0) throw noSyntax;
        return `${reg(dst, p)} = ${imm}`;
      }
      if (off === 0) return `${reg(dst, p)} = ${reg(src, p)}`;
      if (off === 8 || off === 16 || (off === 32 && is64)) return `${reg(dst, p)} = (s${off})${reg(src, p)}`;
      if (off === 1 && is64)
        return `${reg(dst)} = addr_space_cast(${reg(src)}, ${imm >>> 16}, ${imm & 0xffff})`;
      throw noSyntax;
    default: {
      const operator = ALU_OPERATOR[op];
      if (operator === undefined) throw noSyntax;
      let text = operator;
      if (off !== 0) {
        if (off !== 1 || (op !== AluOp.DIV && op !== AluOp.MOD)) throw noSyntax;
        text = `s${operator}`;
      }
      return `${reg(dst, p)} ${text} ${x ? reg(src, p) : String(imm)}`;
    }
  }
}

function formatJump(insn: Instruction): string {
  const { opcode, dst, src, off, imm } = insn;
  const is32 = classOf(opcode) === Class.JMP32;
  const op = opcode & 0xf0;
  const x = (opcode & Source.X) !== 0;
  switch (op) {
    case JmpOp.JA:
      if (is32) {
        if (x) throw noSyntax;
        return `gotol ${rel(imm)}`;
      }
      return x ? `gotox ${reg(dst)}` : `goto ${rel(off)}`;
    case JmpOp.CALL:
      if (is32) throw noSyntax;
      return x ? `callx ${reg(dst)}` : `call ${imm}`;
    case JmpOp.EXIT:
      if (is32 || x || imm !== 0) throw noSyntax;
      return "exit";
    case JmpOp.JCOND:
      if (is32 || x) throw noSyntax;
      return `may_goto ${rel(off)}`;
    default: {
      const operator = JMP_OPERATOR[op];
      if (operator === undefined) throw noSyntax;
      const p = is32 ? "w" : "r";
      return `if ${reg(dst, p)} ${operator} ${x ? reg(src, p) : String(imm)} goto ${rel(off)}`;
    }
  }
}

function formatAtomic(insn: Instruction, opts: DisassembleOptions): string {
  const { opcode, dst, src, off, imm } = insn;
  const size = opcode & 0x18;
  const addr = mem(dst, off);
  const ty = sizeName(size);
  if (imm === AtomicOp.LOAD_ACQ || imm === AtomicOp.STORE_REL) {
    const p = size === Size.DW ? "r" : "w";
    return imm === AtomicOp.LOAD_ACQ
      ? `${reg(dst, p)} = load_acquire((${ty} *)(${mem(src, off)}))`
      : `store_release((${ty} *)(${addr}), ${reg(src, p)})`;
  }
  if (size !== Size.W && size !== Size.DW) throw noSyntax;
  const p = size === Size.DW ? "r" : "w";
  if (imm === AtomicOp.XCHG) {
    return size === Size.DW
      ? `${reg(src)} = xchg_64(${addr}, ${reg(src)})`
      : `${reg(src, p)} = xchg32_32(${addr}, ${reg(src, p)})`;
  }
  if (imm === AtomicOp.CMPXCHG) {
    return size === Size.DW
      ? `r0 = cmpxchg_64(${addr}, r0, ${reg(src)})`
      : `w0 = cmpxchg32_32(${addr}, w0, ${reg(src, p)})`;
  }
  const alu = ATOMIC_ALU[imm & ~AtomicOp.FETCH];
  if (alu === undefined) throw noSyntax;
  const [operator, name] = alu;
  if ((imm & AtomicOp.FETCH) !== 0) {
    return `${reg(src, p)} = atomic_fetch_${name}((${ty} *)(${addr}), ${reg(src, p)})`;
  }
  // Plain 32-bit `lock +=` is the one 32-bit atomic LLVM also decodes without alu32 (with r names).
  const vp = size === Size.W && imm === AtomicOp.ADD && !opts.alu32 ? "r" : p;
  return `lock *(${ty} *)(${addr}) ${operator}= ${reg(src, vp)}`;
}

/**
 * One line per instruction, `<index>: <text>`, as llvm-objdump lists a section: the second slot of
 * a `lddw` is not listed but keeps its index, so line indices match the kernel's and the
 * verifier's. A `lddw` cut off by the end of the program prints as {@link UNKNOWN_INSN}.
 */
export function disassembleProgram(insns: readonly Instruction[], opts: DisassembleOptions = {}): string[] {
  const lines: string[] = [];
  for (let i = 0; i < insns.length; i++) {
    const insn = insns[i] as Instruction;
    if (insn.opcode === LDDW) {
      const next = insns[i + 1];
      if (next === undefined) {
        lines.push(`${i}: ${UNKNOWN_INSN}`);
        continue;
      }
      const imm64 = insn.imm64 ?? (BigInt(next.imm >>> 0) << 32n) | BigInt(insn.imm >>> 0);
      lines.push(`${i}: ${disassemble({ ...insn, imm64 }, i, opts)}`);
      i++;
      continue;
    }
    lines.push(`${i}: ${disassemble(insn, i, opts)}`);
  }
  return lines;
}
