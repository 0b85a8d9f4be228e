/**
 * Assembler for the text format of the bpf_conformance suite (the `-- asm` sections of its
 * `.data` files), so tsbpf can run that suite and users can write small programs by hand:
 *
 *   mov32 %r0, 0            ldxdw %r0, [%r1+2]        stw [%r10-4], 0x10
 *   lddw %r1, 0x1122334455667788                      jeq %r1, 0x2, +1
 *   lock fetch add [%r10-8], %r1                      call local label / call 5 / call %r2
 *   label:                  ja label                  exit
 *
 * Mnemonics without a suffix or with `64` are 64-bit, `32` selects the 32-bit class. Immediates
 * are decimal (signed, must fit) or hex (`0x`, up to the field's width, taken as raw bits).
 * The first `exit` also defines the label `exit`, as in the suite's own assembler.
 * Every malformed line raises a {@link ParseError} naming the line.
 */
import { ParseError } from "../errors.js";
import type { Instruction } from "./instruction.js";
import { AluOp, AtomicOp, Class, JmpOp, LDDW, Mode, PseudoCall, Size, Source } from "./opcodes.js";

const ALU_OPS: Record<string, [op: number, off: number]> = {
  add: [AluOp.ADD, 0],
  sub: [AluOp.SUB, 0],
  mul: [AluOp.MUL, 0],
  div: [AluOp.DIV, 0],
  sdiv: [AluOp.DIV, 1],
  or: [AluOp.OR, 0],
  and: [AluOp.AND, 0],
  lsh: [AluOp.LSH, 0],
  rsh: [AluOp.RSH, 0],
  mod: [AluOp.MOD, 0],
  smod: [AluOp.MOD, 1],
  xor: [AluOp.XOR, 0],
  mov: [AluOp.MOV, 0],
  arsh: [AluOp.ARSH, 0],
};

const JMP_OPS: Record<string, number> = {
  jeq: JmpOp.JEQ,
  jgt: JmpOp.JGT,
  jge: JmpOp.JGE,
  jset: JmpOp.JSET,
  jne: JmpOp.JNE,
  jsgt: JmpOp.JSGT,
  jsge: JmpOp.JSGE,
  jlt: JmpOp.JLT,
  jle: JmpOp.JLE,
  jslt: JmpOp.JSLT,
  jsle: JmpOp.JSLE,
};

const ATOMIC_OPS: Record<string, number> = {
  add: AtomicOp.ADD,
  or: AtomicOp.OR,
  and: AtomicOp.AND,
  xor: AtomicOp.XOR,
  xchg: AtomicOp.XCHG,
  cmpxchg: AtomicOp.CMPXCHG,
};

const SIZES: Record<string, number> = { b: Size.B, h: Size.H, w: Size.W, dw: Size.DW };

const LABEL = /^[A-Za-z_.$][\w.$]*$/;

/** A jump or local call whose target is a label, patched once every label is known. */
interface Fixup {
  slot: number;
  label: string;
  field: "off" | "imm";
  line: number;
}

/** Parses conformance-suite assembly into instruction slots (a `lddw` takes two). */
export function assemble(text: string): Instruction[] {
  return new Assembler().run(text);
}

class Assembler {
  private readonly out: Instruction[] = [];
  private readonly labels = new Map<string, number>();
  private readonly fixups: Fixup[] = [];
  private lineNo = 0;
  private sawExit = false;

  run(text: string): Instruction[] {
    const lines = text.split(/\r?\n/);
    for (let i = 0; i < lines.length; i++) {
      this.lineNo = i + 1;
      this.line(lines[i] as string);
    }
    if (this.out.length === 0) throw new ParseError("asm: the program has no instructions");
    for (const f of this.fixups) {
      const target = this.labels.get(f.label);
      if (target === undefined) {
        throw this.error(`undefined label "${f.label}"`, "define it with a line `" + f.label + ":`", f.line);
      }
      const rel = target - f.slot - 1;
      const insn = this.out[f.slot] as Instruction;
      if (f.field === "off") {
        if (rel < -32768 || rel > 32767)
          throw this.error(`label "${f.label}" is out of 16-bit jump range`, undefined, f.line);
        insn.off = rel;
      } else {
        insn.imm = rel;
      }
    }
    return this.out;
  }

  private error(message: string, hint?: string, line = this.lineNo): ParseError {
    return new ParseError(`asm line ${line}: ${message}`, hint === undefined ? {} : { hint });
  }

  private line(raw: string): void {
    let rest = raw.replace(/#.*$/, "").trim();
    // Labels, possibly followed by an instruction on the same line.
    for (let m = /^([^\s:]+):/.exec(rest); m; m = /^([^\s:]+):/.exec(rest)) {
      this.defineLabel(m[1] as string);
      rest = rest.slice(m[0].length).trim();
    }
    if (rest === "") return;
    const tokens = rest.replace(/,/g, " ").trim().split(/\s+/);
    const mnemonic = tokens[0] as string;
    const ops = tokens.slice(1);
    this.instruction(mnemonic, ops);
  }

  private defineLabel(name: string): void {
    if (!LABEL.test(name)) throw this.error(`invalid label name "${name}"`);
    if (this.labels.has(name)) {
      throw this.error(`duplicate label "${name}"`);
    }
    this.labels.set(name, this.out.length);
  }

  private emit(opcode: number, dst = 0, src = 0, off = 0, imm = 0): Instruction {
    const insn: Instruction = { opcode, dst, src, off, imm };
    this.out.push(insn);
    return insn;
  }

  private arity(mnemonic: string, ops: string[], n: number): void {
    if (ops.length !== n) {
      throw this.error(`${mnemonic} takes ${n} operand${n === 1 ? "" : "s"}, got ${ops.length}`);
    }
  }

  /** Mnemonic patterns and their encoders, tried in order. */
  private readonly forms: [RegExp, (m: RegExpExecArray, ops: string[]) => void][] = [
    [/^exit$/, (m, ops) => this.exit(m[0], ops)],
    [/^lddw$/, (_m, ops) => this.lddw(ops)],
    [/^call$/, (_m, ops) => this.call(ops)],
    [/^lock$/, (_m, ops) => this.atomic(ops)],
    [/^ja(32)?$/, (m, ops) => this.ja(m, ops)],
    [/^neg(32|64)?$/, (m, ops) => this.neg(m, ops)],
    [/^(be|le)(16|32|64)$/, (m, ops) => this.endian(m, ops)],
    [/^b?swap(16|32|64)$/, (m, ops) => this.bswap(m, ops)],
    [/^movsx(8|16|32)(32|64)$/, (m, ops) => this.movsx(m, ops)],
    [/^(add|sub|mul|div|sdiv|or|and|lsh|rsh|mod|smod|xor|mov|arsh)(32|64)?$/, (m, ops) => this.alu(m, ops)],
    [/^(jeq|jgt|jge|jset|jne|jsgt|jsge|jlt|jle|jslt|jsle)(32)?$/, (m, ops) => this.jump(m, ops)],
    [/^ldx(s?)(b|h|w|dw)$/, (m, ops) => this.load(m, ops)],
    [/^st(x?)(b|h|w|dw)$/, (m, ops) => this.store(m, ops)],
  ];

  private instruction(mnemonic: string, ops: string[]): void {
    for (const [re, encode] of this.forms) {
      const m = re.exec(mnemonic);
      if (m) {
        encode(m, ops);
        return;
      }
    }
    throw this.error(`unknown mnemonic "${mnemonic}"`);
  }

  private exit(mnemonic: string, ops: string[]): void {
    this.arity(mnemonic, ops, 0);
    if (!this.sawExit) {
      this.sawExit = true;
      if (!this.labels.has("exit")) this.labels.set("exit", this.out.length);
    }
    this.emit(Class.JMP | JmpOp.EXIT);
  }

  private ja(m: RegExpExecArray, ops: string[]): void {
    this.arity(m[0], ops, 1);
    const is32 = m[1] === "32";
    const insn = this.emit(is32 ? Class.JMP32 | JmpOp.JA : Class.JMP | JmpOp.JA);
    this.target(insn, ops[0] as string, is32 ? "imm" : "off");
  }

  private neg(m: RegExpExecArray, ops: string[]): void {
    this.arity(m[0], ops, 1);
    this.emit((m[1] === "32" ? Class.ALU : Class.ALU64) | AluOp.NEG, this.reg(ops[0] as string));
  }

  private endian(m: RegExpExecArray, ops: string[]): void {
    this.arity(m[0], ops, 1);
    const src = m[1] === "be" ? Source.X : Source.K;
    this.emit(Class.ALU | AluOp.END | src, this.reg(ops[0] as string), 0, 0, Number(m[2]));
  }

  private bswap(m: RegExpExecArray, ops: string[]): void {
    this.arity(m[0], ops, 1);
    this.emit(Class.ALU64 | AluOp.END, this.reg(ops[0] as string), 0, 0, Number(m[1]));
  }

  private movsx(m: RegExpExecArray, ops: string[]): void {
    this.arity(m[0], ops, 2);
    const bits = Number(m[1]);
    const is32 = m[2] === "32";
    if (is32 && bits === 32) throw this.error("movsx3232 does not exist (sign extension from 32 to 32 bits)");
    const cls = is32 ? Class.ALU : Class.ALU64;
    this.emit(cls | AluOp.MOV | Source.X, this.reg(ops[0] as string), this.reg(ops[1] as string), bits);
  }

  private alu(m: RegExpExecArray, ops: string[]): void {
    const [op, off] = ALU_OPS[m[1] as string] as [number, number];
    this.arity(m[0], ops, 2);
    const cls = m[2] === "32" ? Class.ALU : Class.ALU64;
    const dst = this.reg(ops[0] as string);
    const b = ops[1] as string;
    if (b.startsWith("%")) this.emit(cls | op | Source.X, dst, this.reg(b), off);
    else this.emit(cls | op | Source.K, dst, 0, off, this.imm32(b));
  }

  private jump(m: RegExpExecArray, ops: string[]): void {
    this.arity(m[0], ops, 3);
    const cls = m[2] === "32" ? Class.JMP32 : Class.JMP;
    const op = JMP_OPS[m[1] as string] as number;
    const dst = this.reg(ops[0] as string);
    const b = ops[1] as string;
    const insn = b.startsWith("%")
      ? this.emit(cls | op | Source.X, dst, this.reg(b))
      : this.emit(cls | op | Source.K, dst, 0, 0, this.imm32(b));
    this.target(insn, ops[2] as string, "off");
  }

  private load(m: RegExpExecArray, ops: string[]): void {
    this.arity(m[0], ops, 2);
    const signed = m[1] === "s";
    if (signed && m[2] === "dw")
      throw this.error("ldxsdw does not exist (a double word needs no sign extension)");
    const [src, off] = this.memOperand(ops[1] as string);
    const mode = signed ? Mode.MEMSX : Mode.MEM;
    this.emit(Class.LDX | mode | (SIZES[m[2] as string] as number), this.reg(ops[0] as string), src, off);
  }

  private store(m: RegExpExecArray, ops: string[]): void {
    this.arity(m[0], ops, 2);
    const [dst, off] = this.memOperand(ops[0] as string);
    const size = SIZES[m[2] as string] as number;
    if (m[1] === "x") this.emit(Class.STX | Mode.MEM | size, dst, this.reg(ops[1] as string), off);
    else this.emit(Class.ST | Mode.MEM | size, dst, 0, off, this.imm32(ops[1] as string));
  }

  private lddw(ops: string[]): void {
    this.arity("lddw", ops, 2);
    const dst = this.reg(ops[0] as string);
    const value = this.imm64(ops[1] as string);
    const first = this.emit(LDDW, dst, 0, 0, Number(BigInt.asIntN(32, value)));
    first.imm64 = value;
    this.emit(0, 0, 0, 0, Number(BigInt.asIntN(32, value >> 32n)));
  }

  private call(ops: string[]): void {
    if (ops.length === 1) ops = ["helper", ops[0] as string];
    this.arity("call", ops, 2);
    const [mode, target] = ops as [string, string];
    const callOp = Class.JMP | JmpOp.CALL;
    if (mode === "helper") {
      if (target.startsWith("%")) this.emit(callOp | Source.X, this.reg(target));
      else this.emit(callOp, 0, PseudoCall.HELPER, 0, this.imm32(target));
    } else if (mode === "local") {
      this.target(this.emit(callOp, 0, PseudoCall.CALL), target, "imm");
    } else if (mode === "runtime") {
      this.emit(callOp, 0, PseudoCall.KFUNC, 0, this.imm32(target));
    } else {
      throw this.error(
        `unknown call mode "${mode}"`,
        "use `call helper N`, `call local label` or `call runtime N`",
      );
    }
  }

  /** `lock [fetch] op[32] [%rD+off], %rS`. */
  private atomic(ops: string[]): void {
    const fetch = ops[0] === "fetch";
    const rest = fetch ? ops.slice(1) : ops;
    if (rest.length !== 3) {
      throw this.error("Invalid number of operands for lock", "write `lock [fetch] add [%r1+0], %r2`");
    }
    const m = /^([a-z]+?)(32|64)?$/.exec(rest[0] as string);
    const code = m ? ATOMIC_OPS[m[1] as string] : undefined;
    if (!m || code === undefined) throw this.error(`unknown atomic operation "${rest[0]}"`);
    const size = m[2] === "32" ? Size.W : Size.DW;
    const [dst, off] = this.memOperand(rest[1] as string);
    const src = this.reg(rest[2] as string);
    this.emit(Class.STX | Mode.ATOMIC | size, dst, src, off, fetch ? code | AtomicOp.FETCH : code);
  }

  private target(insn: Instruction, text: string, field: "off" | "imm"): void {
    if (text.startsWith("+") || text.startsWith("-")) {
      insn[field] = field === "off" ? this.offset(text) : this.imm32(text);
      return;
    }
    if (!LABEL.test(text)) throw this.error(`invalid jump target "${text}"`, "use +N, -N or a label name");
    this.fixups.push({ slot: this.out.length - 1, label: text, field, line: this.lineNo });
  }

  private reg(text: string): number {
    const m = /^%r(\d+)$/.exec(text);
    const n = m ? Number(m[1]) : Number.NaN;
    if (!m || n > 10 || (m[1] as string).length > 2) {
      throw this.error(`Invalid register "${text}"`, "registers are %r0 to %r10");
    }
    return n;
  }

  /** `[%rN]`, `[%rN+off]` or `[%rN-off]`. */
  private memOperand(text: string): [reg: number, off: number] {
    const m = /^\[(%r\d+)(?:([+-])([^\]]+))?\]$/.exec(text);
    if (!m) throw this.error(`invalid memory operand "${text}"`, "write [%r1+8] or [%r10-4]");
    const reg = this.reg(m[1] as string);
    return [reg, m[2] === undefined ? 0 : this.offset((m[2] as string) + (m[3] as string))];
  }

  /** Parses an integer literal: optional sign, then decimal or `0x` hex digits. */
  private literal(text: string, what: string): { value: bigint; hex: boolean; negative: boolean } {
    const m = /^([+-]?)(0x[0-9a-fA-F]+|\d+)$/.exec(text);
    if (!m) throw this.error(`invalid ${what} "${text}"`);
    const digits = m[2] as string;
    const magnitude = BigInt(digits);
    const negative = m[1] === "-";
    return { value: negative ? -magnitude : magnitude, hex: digits.startsWith("0x"), negative };
  }

  /** A field of `bits` bits: signed decimal, or hex naming the raw bits (a `-` hex is negated). */
  private fit(text: string, bits: number, what: string): bigint {
    const { value, hex, negative } = this.literal(text, what);
    const min = -(1n << BigInt(bits - 1));
    const max = hex && !negative ? (1n << BigInt(bits)) - 1n : (1n << BigInt(bits - 1)) - 1n;
    if (value < min || value > max) {
      throw this.error(`${what} ${text} does not fit in ${bits} bits`, `the range is ${min} to ${max}`);
    }
    return BigInt.asIntN(bits, value);
  }

  private imm32(text: string): number {
    return Number(this.fit(text, 32, "immediate"));
  }

  private offset(text: string): number {
    return Number(this.fit(text, 16, "offset"));
  }

  private imm64(text: string): bigint {
    const { value } = this.literal(text, "64-bit immediate");
    if (value < -(1n << 63n) || value > (1n << 64n) - 1n) {
      throw this.error(`64-bit immediate ${text} does not fit in 64 bits`);
    }
    return BigInt.asUintN(64, value);
  }
}
