import type { Instruction } from "../asm/instruction.js";
import { CALL, LDDW, PseudoCall, PseudoLd } from "../asm/opcodes.js";
import {
  type BtfExt,
  type BtfExtFuncInfo,
  type BtfExtLineInfo,
  type Btf,
  btfStringAt,
} from "../btf/index.js";
import {
  type ElfRelocation,
  type ElfSection,
  type ElfSymbol,
  RelocType,
  SectionIndex,
} from "../elf/index.js";
import { type ErrorContext, NotSupportedError, ParseError } from "../errors.js";
import { asciiText } from "../internal/bytes.js";
import type { FuncInfo, FunctionSpan, LineInfo, MapReference } from "./types.js";
import { sortedInPlace } from "../internal/sorted.js";

/** One function symbol of an executable section, with that section's decoded instructions. */
export interface FunctionDef {
  name: string;
  section: ElfSection;
  /** First instruction slot within the section. */
  start: number;
  /** One past the last slot. */
  end: number;
  global: boolean;
}

/** Everything the linker needs to know about the object. */
export interface LinkContext {
  file: string | undefined;
  symbols: ElfSymbol[];
  /** Decoded instructions of each executable section, by section index. */
  code: Map<number, Instruction[]>;
  /** Relocations of each executable section, by section index then instruction slot. */
  relocs: Map<number, Map<number, ElfRelocation>>;
  /** Functions of each executable section, by section index, sorted by start. */
  functions: Map<number, FunctionDef[]>;
  /** Resolves a data relocation to a map reference (without `insn`), or throws. */
  resolveData: (sym: ElfSymbol, imm: number, ctx: ErrorContext) => Omit<MapReference, "insn">;
  btf: Btf | undefined;
  ext: BtfExt | undefined;
}

/** A program after linking: instructions plus everything indexed by them. */
export interface LinkedProgram {
  instructions: Instruction[];
  references: MapReference[];
  functions: FunctionSpan[];
  funcInfo: FuncInfo[];
  lineInfo: LineInfo[];
}

/** The kernel's own limit on a program's size (BPF_COMPLEXITY_LIMIT_INSNS); nothing larger loads. */
const MAX_LINKED_INSNS = 1 << 20;

function copyInsn(i: Instruction): Instruction {
  const c: Instruction = { opcode: i.opcode, dst: i.dst, src: i.src, off: i.off, imm: i.imm };
  if (i.imm64 !== undefined) c.imm64 = i.imm64;
  return c;
}

/** Index of functions by section and start slot, built once per LinkContext. */
const startIndex = new WeakMap<LinkContext, Map<number, Map<number, FunctionDef>>>();

/** The function starting exactly at slot `idx` of section `secIdx`. */
function functionAt(lc: LinkContext, secIdx: number, idx: number): FunctionDef | undefined {
  let index = startIndex.get(lc);
  if (index === undefined) {
    index = new Map();
    for (const [sec, fns] of lc.functions) {
      const m = new Map<number, FunctionDef>();
      for (const f of fns) if (!m.has(f.start)) m.set(f.start, f);
      index.set(sec, m);
    }
    startIndex.set(lc, index);
  }
  return index.get(secIdx)?.get(idx);
}

/** The BTF string reader of each LinkContext, built once per object. */
const stringReaders = new WeakMap<LinkContext, (off: number) => string>();

/**
 * {@link btfStringAt} for many lookups: clang's BTF strings are ASCII, so the section is decoded
 * once and each string is a slice (any other section falls back to decoding string by string).
 */
function btfStrings(lc: LinkContext, btf: Btf): (off: number) => string {
  let at = stringReaders.get(lc);
  if (at === undefined) {
    const text = asciiText(btf.strings);
    at =
      text === null
        ? (off: number) => btfStringAt(btf, off)
        : (off: number) => {
            if (off <= 0 || off >= text.length) return "";
            const end = text.indexOf("\0", off);
            return text.slice(off, end < 0 ? text.length : end);
          };
    stringReaders.set(lc, at);
  }
  return at;
}

/** A byte offset into `f`'s section as a slot of the linked program (`f` placed at `pos`), or -1. */
function rebase(off: number, f: FunctionDef, pos: number): number {
  return off % 8 === 0 && off / 8 >= f.start && off / 8 < f.end ? pos + off / 8 - f.start : -1;
}

/**
 * Links `entry` with every function it calls, transitively (libbpf's order: callees appended
 * after the caller in the order first met), fixing `call` immediates and resolving each `lddw`
 * relocation to a map reference. func_info and line_info are re-based onto the linked program.
 */
export function linkProgram(lc: LinkContext, entry: FunctionDef): LinkedProgram {
  const out: Instruction[] = [];
  const placed = new Map<FunctionDef, number>();
  const order: FunctionDef[] = [];
  const references: MapReference[] = [];
  const place = (f: FunctionDef): number => {
    const pos = out.length;
    if (pos + (f.end - f.start) > MAX_LINKED_INSNS) {
      throw new ParseError(`linked program would exceed ${MAX_LINKED_INSNS} instructions`, {
        ...(lc.file === undefined ? {} : { file: lc.file }),
        program: entry.name,
      });
    }
    const code = lc.code.get(f.section.index) as Instruction[];
    for (let i = f.start; i < f.end; i++) out.push(copyInsn(code[i] as Instruction));
    placed.set(f, pos);
    order.push(f);
    return pos;
  };
  // libbpf's order: a callee is appended when first met and relocated at once, before the
  // caller's scan resumes (depth first). An explicit stack keeps hostile call graphs off the JS stack.
  // Each frame keeps where its function was placed and its section's relocations: looked up
  // once per function rather than once per instruction.
  type Frame = { f: FunctionDef; i: number; pos: number; relocs: Map<number, ElfRelocation> | undefined };
  const frameOf = (f: FunctionDef, pos: number): Frame => ({
    f,
    i: f.start,
    pos,
    relocs: lc.relocs.get(f.section.index),
  });
  const stack: Frame[] = [frameOf(entry, place(entry))];
  const enter = (callee: FunctionDef): number => {
    const known = placed.get(callee);
    if (known !== undefined) return known;
    const pos = place(callee);
    stack.push(frameOf(callee, pos));
    return pos;
  };
  while (stack.length > 0) {
    const frame = stack[stack.length - 1] as Frame;
    const f = frame.f;
    if (frame.i >= f.end) {
      stack.pop();
      continue;
    }
    const i = frame.i++;
    const { pos, relocs } = frame;
    {
      const j = pos + (i - f.start);
      const insn = out[j] as Instruction;
      const rel = relocs?.get(i);
      // Helper calls (most calls) need nothing either.
      if (rel === undefined && (insn.opcode !== CALL || insn.src !== PseudoCall.CALL)) continue;
      // Built only for instructions that can fail or refer to data: most need none.
      const ctx: ErrorContext = {
        ...(lc.file === undefined ? {} : { file: lc.file }),
        section: f.section.name,
        program: entry.name,
        insn: j,
        offset: i * 8,
      };
      const sym = rel === undefined ? undefined : lc.symbols[rel.symbol];
      if (insn.opcode === CALL && insn.src === PseudoCall.CALL) {
        let secIdx = f.section.index;
        let target = i + insn.imm + 1;
        if (sym !== undefined) {
          if (rel?.type !== RelocType.R_BPF_64_32 && rel?.type !== RelocType.R_BPF_64_64) {
            throw new ParseError(`call relocation has unexpected type ${rel?.type}`, ctx);
          }
          if (sym.section === SectionIndex.UNDEF) {
            throw new NotSupportedError(`call to extern function ${sym.name} is not supported`, ctx);
          }
          if (sym.value % 8 !== 0)
            throw new ParseError(`call target ${sym.name} is not instruction-aligned`, ctx);
          secIdx = sym.section;
          target = sym.value / 8 + insn.imm + 1;
        }
        const callee = functionAt(lc, secIdx, target);
        if (callee === undefined) {
          throw new ParseError(`call to a missing function (slot ${target} of section ${secIdx})`, {
            ...ctx,
            hint: "the call target is not the start of any function symbol",
          });
        }
        insn.imm = enter(callee) - (j + 1);
        continue;
      }
      if (rel === undefined || sym === undefined) continue;
      if (insn.opcode !== LDDW) {
        throw new ParseError(
          `relocation against ${sym.name || "a section"} on an instruction that is neither lddw nor call (opcode 0x${insn.opcode.toString(16)})`,
          ctx,
        );
      }
      const next = out[j + 1];
      if (next === undefined || i + 1 >= f.end)
        throw new ParseError("lddw is truncated at the end of its function", ctx);
      // The second slot belongs to this lddw; never scan it as an instruction of its own.
      frame.i = i + 2;
      if (sym.section !== 0 && lc.code.has(sym.section)) {
        // A function's address (callbacks for bpf_loop and friends): BPF_PSEUDO_FUNC, whose
        // target is the symbol's value plus the immediate, in bytes.
        const byteOff = sym.value + insn.imm;
        const callee = byteOff % 8 === 0 ? functionAt(lc, sym.section, byteOff / 8) : undefined;
        if (callee === undefined) throw new ParseError(`lddw of a missing function ${sym.name}`, ctx);
        insn.src = PseudoLd.FUNC;
        insn.imm = enter(callee) - (j + 1);
        next.imm = 0;
        insn.imm64 = BigInt(insn.imm >>> 0);
        continue;
      }
      const ref = lc.resolveData(sym, insn.imm, ctx);
      insn.src = ref.kind === "map" ? PseudoLd.MAP_FD : PseudoLd.MAP_VALUE;
      insn.imm = 0;
      next.imm = ref.kind === "map" ? 0 : ref.offset;
      insn.imm64 = BigInt(next.imm >>> 0) << 32n;
      references.push({ insn: j, ...ref });
    }
  }
  sortedInPlace(references, (a, b) => a.insn - b.insn);

  const functions: FunctionSpan[] = order.map((f) => {
    const start = placed.get(f) as number;
    return { name: f.name, start, end: start + (f.end - f.start), section: f.section.name };
  });
  const funcInfo: FuncInfo[] = [];
  const lineInfo: LineInfo[] = [];
  if (lc.ext !== undefined && lc.btf !== undefined) {
    const btf = lc.btf;
    const stringAt = btfStrings(lc, btf);
    // Indexed loops: cold code allocates an iterator result per element of a for...of.
    for (let k = 0; k < order.length; k++) {
      const f = order[k] as FunctionDef;
      const pos = placed.get(f) as number;
      const fis = lc.ext.funcInfo.get(f.section.name) ?? [];
      for (let n = 0; n < fis.length; n++) {
        const r = fis[n] as BtfExtFuncInfo;
        const insn = rebase(r.insnOff, f, pos);
        if (insn < 0) continue;
        funcInfo.push({ insn, typeId: r.typeId, name: btf.types[r.typeId]?.name ?? "" });
      }
      const lis = lc.ext.lineInfo.get(f.section.name) ?? [];
      for (let n = 0; n < lis.length; n++) {
        const r = lis[n] as BtfExtLineInfo;
        const insn = rebase(r.insnOff, f, pos);
        if (insn < 0) continue;
        lineInfo.push({
          insn,
          fileName: stringAt(r.fileNameOff),
          line: stringAt(r.lineOff),
          lineNumber: r.lineNumber,
          column: r.column,
          fileNameOff: r.fileNameOff,
          lineOff: r.lineOff,
        });
      }
    }
    sortedInPlace(funcInfo, (a, b) => a.insn - b.insn);
    sortedInPlace(lineInfo, (a, b) => a.insn - b.insn);
  }
  return { instructions: out, references, functions, funcInfo, lineInfo };
}
