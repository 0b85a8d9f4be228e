import { HelperId } from "../abi/helper-id.js";
import { helperCalled, type Instruction } from "../asm/instruction.js";
import { AluOp, CALL, Class, classOf, JmpOp, LDDW, Mode, PseudoCall, Size, Source } from "../asm/opcodes.js";
import { enclosingSourceLocationAt } from "./insn-location.js";
import type { FunctionSpan, LineInfo, MapReference, TailCallSite } from "./types.js";

/**
 * Static discovery of `bpf_tail_call` sites: which prog array r2 holds and which slots r3 may
 * hold. A forward dataflow over each function's control-flow graph; it never refines on branch
 * conditions, so the key sets it reports are the constants that reach the call on some path.
 */

/** Beyond this many possible constants a register is treated as unknown, which bounds loops. */
const MAX_CONSTANTS = 16;
const MASK64 = (1n << 64n) - 1n;
const MASK32 = (1n << 32n) - 1n;
const FP = 10;

/** What the analysis knows of one register or stack slot. */
type Value =
  | { k: "unknown" }
  | { k: "const"; v: readonly bigint[] }
  | { k: "map"; map: string }
  | { k: "fp"; off: number };

interface Slot {
  size: number;
  val: Value;
}

interface State {
  regs: Value[];
  /** Known stack contents, keyed by offset from r10 (negative). */
  stack: Map<number, Slot>;
  /**
   * Set once a frame pointer was lost track of (fp plus an unknown amount); from then on a store
   * through an unknown pointer may land on the stack, so it forgets the stack.
   */
  fpEscaped: boolean;
}

const UNKNOWN: Value = { k: "unknown" };

function constants(vals: Iterable<bigint>): Value {
  const set = [...new Set(vals)].sort((a, b) => (a < b ? -1 : a > b ? 1 : 0));
  return set.length > MAX_CONSTANTS || set.length === 0 ? UNKNOWN : { k: "const", v: set };
}

function sameValue(a: Value, b: Value): boolean {
  if (a.k !== b.k) return false;
  switch (a.k) {
    case "unknown":
      return true;
    case "map":
      return a.map === (b as { map: string }).map;
    case "fp":
      return a.off === (b as { off: number }).off;
    case "const": {
      const bv = (b as { v: readonly bigint[] }).v;
      return a.v.length === bv.length && a.v.every((x, i) => x === bv[i]);
    }
  }
}

function joinValue(a: Value, b: Value): Value {
  if (sameValue(a, b)) return a;
  if (a.k === "const" && b.k === "const") return constants([...a.v, ...b.v]);
  return UNKNOWN;
}

function joinState(a: State, b: State): State {
  const regs = a.regs.map((v, i) => joinValue(v, b.regs[i] ?? UNKNOWN));
  const stack = new Map<number, Slot>();
  for (const [off, sa] of a.stack) {
    const sb = b.stack.get(off);
    if (sb === undefined || sb.size !== sa.size) continue;
    const val = joinValue(sa.val, sb.val);
    if (val.k !== "unknown") stack.set(off, { size: sa.size, val });
  }
  return { regs, stack, fpEscaped: a.fpEscaped || b.fpEscaped };
}

function sameState(a: State, b: State): boolean {
  if (a.fpEscaped !== b.fpEscaped || a.stack.size !== b.stack.size) return false;
  for (let i = 0; i < a.regs.length; i++) {
    if (!sameValue(a.regs[i] ?? UNKNOWN, b.regs[i] ?? UNKNOWN)) return false;
  }
  for (const [off, sa] of a.stack) {
    const sb = b.stack.get(off);
    if (sb === undefined || sb.size !== sa.size || !sameValue(sa.val, sb.val)) return false;
  }
  return true;
}

function cloneState(s: State): State {
  return { regs: [...s.regs], stack: new Map(s.stack), fpEscaped: s.fpEscaped };
}

function reg(s: State, r: number): Value {
  return s.regs[r] ?? UNKNOWN;
}

function setReg(s: State, r: number, v: Value): void {
  if (r >= 0 && r < FP) s.regs[r] = v;
}

const toSigned64 = (x: bigint): bigint => BigInt.asIntN(64, x);
const toSigned32 = (x: bigint): bigint => BigInt.asIntN(32, x);

/** Evaluates one ALU operation on concrete operands with the ISA's wrap-around rules. */
function evalAlu(op: number, a: bigint, b: bigint, is64: boolean): bigint | undefined {
  const mask = is64 ? MASK64 : MASK32;
  const bits = is64 ? 64n : 32n;
  a &= mask;
  b &= mask;
  switch (op) {
    case AluOp.ADD:
      return (a + b) & mask;
    case AluOp.SUB:
      return (a - b) & mask;
    case AluOp.MUL:
      return (a * b) & mask;
    case AluOp.DIV:
      return b === 0n ? 0n : a / b;
    case AluOp.MOD:
      return b === 0n ? a : a % b;
    case AluOp.OR:
      return a | b;
    case AluOp.AND:
      return a & b;
    case AluOp.XOR:
      return a ^ b;
    case AluOp.LSH:
      return (a << (b & (bits - 1n))) & mask;
    case AluOp.RSH:
      return a >> (b & (bits - 1n));
    case AluOp.ARSH: {
      const signed = is64 ? toSigned64(a) : toSigned32(a);
      return (signed >> (b & (bits - 1n))) & mask;
    }
    case AluOp.NEG:
      return -a & mask;
    default:
      return undefined;
  }
}

/** The value an ALU instruction leaves in its destination; losing a frame pointer forgets the stack. */
function aluResult(insn: Instruction, s: State): Value {
  const is64 = classOf(insn.opcode) === Class.ALU64;
  const op = insn.opcode & 0xf0;
  const useReg = (insn.opcode & Source.X) !== 0;
  const dst = reg(s, insn.dst);
  const srcVal: Value = useReg ? reg(s, insn.src) : { k: "const", v: [BigInt(insn.imm) & MASK64] };

  if (op === AluOp.MOV) {
    if (insn.off !== 0) {
      // movsx (cpu v4): sign-extend the low 8/16/32 bits of the source.
      if (srcVal.k !== "const" || ![8, 16, 32].includes(insn.off)) return UNKNOWN;
      const mask = is64 ? MASK64 : MASK32;
      return constants(srcVal.v.map((x) => BigInt.asIntN(insn.off, x) & mask));
    }
    if (is64) return srcVal;
    // 32-bit mov zero-extends; only constants survive it.
    return srcVal.k === "const" ? constants(srcVal.v.map((x) => x & MASK32)) : UNKNOWN;
  }

  // Frame-pointer arithmetic by a constant keeps the pointer; anything else loses it.
  if (dst.k === "fp") {
    if (is64 && (op === AluOp.ADD || op === AluOp.SUB) && srcVal.k === "const" && srcVal.v.length === 1) {
      const delta = Number(toSigned64(srcVal.v[0] as bigint));
      return { k: "fp", off: dst.off + (op === AluOp.ADD ? delta : -delta) };
    }
    s.fpEscaped = true;
    s.stack.clear();
    return UNKNOWN;
  }
  if (useReg && srcVal.k === "fp" && op === AluOp.ADD && is64) {
    // scalar + fp: a pointer at an offset we cannot name.
    s.fpEscaped = true;
    s.stack.clear();
    return UNKNOWN;
  }

  // Signed division and modulo (cpu v4, off = 1) and byte swaps are not folded.
  if (op === AluOp.END || ((op === AluOp.DIV || op === AluOp.MOD) && insn.off !== 0)) {
    return UNKNOWN;
  }
  if (dst.k !== "const") return UNKNOWN;
  const rhs: readonly bigint[] = op === AluOp.NEG ? [0n] : srcVal.k === "const" ? srcVal.v : [];
  if (rhs.length === 0) return UNKNOWN;
  if (dst.v.length * rhs.length > MAX_CONSTANTS * MAX_CONSTANTS) return UNKNOWN;
  const out: bigint[] = [];
  for (const a of dst.v) {
    for (const b of rhs) {
      const r = evalAlu(op, a, b, is64);
      if (r === undefined) return UNKNOWN;
      out.push(r);
    }
  }
  return constants(out);
}

const SIZE_BYTES: Record<number, number> = { [Size.B]: 1, [Size.H]: 2, [Size.W]: 4, [Size.DW]: 8 };

/** Forgets every slot that overlaps [off, off+size). */
function clobberStack(s: State, off: number, size: number): void {
  for (const [o, slot] of s.stack) {
    if (o < off + size && off < o + slot.size) s.stack.delete(o);
  }
}

function storeTo(s: State, base: Value, insnOff: number, size: number, val: Value): void {
  if (base.k === "fp") {
    const off = base.off + insnOff;
    clobberStack(s, off, size);
    // A narrower store keeps only what fits: constants truncate, pointers and maps do not.
    let kept: Value = val;
    if (size < 8)
      kept = val.k === "const" ? constants(val.v.map((x) => x & ((1n << BigInt(size * 8)) - 1n))) : UNKNOWN;
    if (kept.k !== "unknown") s.stack.set(off, { size, val: kept });
    return;
  }
  if (base.k === "unknown" && s.fpEscaped) s.stack.clear();
}

function loadFrom(s: State, base: Value, insnOff: number, size: number): Value {
  if (base.k !== "fp") return UNKNOWN;
  const slot = s.stack.get(base.off + insnOff);
  return slot !== undefined && slot.size === size ? slot.val : UNKNOWN;
}

/** A call may write through any stack pointer it is handed, and clobbers r0-r5. */
function transferCall(s: State): void {
  for (let r = 1; r <= 5; r++) {
    if (reg(s, r).k === "fp") {
      s.stack.clear();
      break;
    }
  }
  for (let r = 0; r <= 5; r++) setReg(s, r, UNKNOWN);
}

/** Applies one instruction to the state in place. */
function transfer(insn: Instruction, index: number, refs: ReadonlyMap<number, MapReference>, s: State): void {
  const cls = classOf(insn.opcode);
  switch (cls) {
    case Class.ALU:
    case Class.ALU64:
      setReg(s, insn.dst, aluResult(insn, s));
      break;
    case Class.LD: {
      if (insn.opcode === LDDW) {
        const ref = refs.get(index);
        if (ref !== undefined) setReg(s, insn.dst, ref.kind === "map" ? { k: "map", map: ref.map } : UNKNOWN);
        else if (insn.src === 0 && insn.imm64 !== undefined)
          setReg(s, insn.dst, { k: "const", v: [insn.imm64] });
        else setReg(s, insn.dst, UNKNOWN);
        break;
      }
      // Legacy packet loads (LD_ABS/LD_IND) set r0 and clobber the caller-saved registers.
      transferCall(s);
      break;
    }
    case Class.LDX: {
      const size = SIZE_BYTES[insn.opcode & 0x18] ?? 8;
      const mode = insn.opcode & 0xe0;
      const val = mode === Mode.MEM ? loadFrom(s, reg(s, insn.src), insn.off, size) : UNKNOWN;
      setReg(s, insn.dst, val);
      break;
    }
    case Class.ST:
    case Class.STX: {
      const size = SIZE_BYTES[insn.opcode & 0x18] ?? 8;
      const mode = insn.opcode & 0xe0;
      const base = reg(s, insn.dst);
      if (mode === Mode.ATOMIC) {
        // Atomics change memory in ways not modelled; fetch variants also write the source register.
        storeTo(s, base, insn.off, size, UNKNOWN);
        if (insn.imm & 0x01) {
          if (insn.imm === (0xf0 | 0x01)) setReg(s, 0, UNKNOWN);
          else setReg(s, insn.src, UNKNOWN);
        }
        break;
      }
      const val: Value = cls === Class.ST ? { k: "const", v: [BigInt(insn.imm) & MASK64] } : reg(s, insn.src);
      storeTo(s, base, insn.off, size, val);
      break;
    }
    case Class.JMP:
      if (insn.opcode === CALL) transferCall(s);
      break;
    default:
      break;
  }
}

/** Control-flow successors of instruction `i`, limited to [start, end). */
function successors(insns: readonly Instruction[], i: number, start: number, end: number): number[] {
  const insn = insns[i] as Instruction;
  const cls = classOf(insn.opcode);
  const out: number[] = [];
  const add = (t: number): void => {
    if (t >= start && t < end) out.push(t);
  };
  if (insn.opcode === LDDW) {
    add(i + 2);
    return out;
  }
  if (cls !== Class.JMP && cls !== Class.JMP32) {
    add(i + 1);
    return out;
  }
  const op = insn.opcode & 0xf0;
  if (op === JmpOp.EXIT) return out;
  if (op === JmpOp.CALL) {
    add(i + 1);
    return out;
  }
  if (op === JmpOp.JA) {
    // `gotol` (JMP32 | JA) carries its offset in imm.
    add(i + 1 + (cls === Class.JMP32 ? insn.imm : insn.off));
    return out;
  }
  add(i + 1);
  add(i + 1 + insn.off);
  return out;
}

function keysOf(v: Value): number[] | undefined {
  if (v.k !== "const") return undefined;
  // The helper takes a u32 index.
  return [...new Set(v.v.map((x) => Number(x & MASK32)))].sort((a, b) => a - b);
}

/** The state a function starts in: the given argument registers, a fresh frame, nothing else known. */
function entryState(args: readonly Value[] | undefined): State {
  const regs = new Array<Value>(11).fill(UNKNOWN);
  for (let r = 1; r <= 5; r++) regs[r] = args?.[r - 1] ?? UNKNOWN;
  regs[FP] = { k: "fp", off: 0 };
  return { regs, stack: new Map(), fpEscaped: false };
}

/** Runs the dataflow over one function and returns the state reaching each instruction. */
function analyseFunction(
  insns: readonly Instruction[],
  refs: ReadonlyMap<number, MapReference>,
  start: number,
  end: number,
  entry: State,
): (State | undefined)[] {
  const states: (State | undefined)[] = new Array(end - start);
  states[0] = entry;
  const work: number[] = [start];
  const queued = new Set<number>([start]);
  while (work.length > 0) {
    const i = work.pop() as number;
    queued.delete(i);
    const inState = states[i - start];
    if (inState === undefined) continue;
    const out = cloneState(inState);
    transfer(insns[i] as Instruction, i, refs, out);
    for (const t of successors(insns, i, start, end)) {
      const prev = states[t - start];
      const next = prev === undefined ? out : joinState(prev, out);
      if (prev !== undefined && sameState(prev, next)) continue;
      states[t - start] = next;
      if (!queued.has(t)) {
        queued.add(t);
        work.push(t);
      }
    }
  }
  return states;
}

interface Span {
  name: string | undefined;
  start: number;
  end: number;
}

/** Arguments a caller passes in r1-r5; pointers into the caller's frame mean nothing to the callee. */
function argsAt(st: State): Value[] {
  return [1, 2, 3, 4, 5].map((r) => {
    const v = reg(st, r);
    return v.k === "fp" ? UNKNOWN : v;
  });
}

/**
 * Analyses every function, feeding each subprogram the join of the arguments its reachable
 * callers pass (a constant slot handed to a shared `static` helper is a common pattern). The
 * entry function and subprograms no reachable code calls start with unknown arguments.
 */
function analyseProgram(
  insns: readonly Instruction[],
  refs: ReadonlyMap<number, MapReference>,
  spans: readonly Span[],
): (State | undefined)[][] {
  const byStart = new Map<number, number>();
  spans.forEach((sp, k) => {
    byStart.set(sp.start, k);
  });
  const args: (Value[] | undefined)[] = spans.map(() => undefined);
  const isEntry = (k: number): boolean => spans[k]?.start === 0 || spans.length === 1;
  const results: (State | undefined)[][] = spans.map(() => []);
  const done: (Value[] | undefined | null)[] = spans.map(() => null);
  // Joins only grow and are bounded by MAX_CONSTANTS, so this settles; the cap guards bad input.
  for (let round = 0, changed = true; changed && round < 8 * spans.length + 8; round++) {
    changed = false;
    spans.forEach((sp, k) => {
      if (!isEntry(k) && args[k] === undefined) return;
      const a = isEntry(k) ? undefined : args[k];
      if (done[k] !== null && sameArgs(done[k], a)) return;
      done[k] = a;
      const states = analyseFunction(insns, refs, sp.start, sp.end, entryState(a));
      results[k] = states;
      for (let i = sp.start; i < sp.end; i++) {
        const insn = insns[i] as Instruction;
        const st = states[i - sp.start];
        if (insn.opcode !== CALL || insn.src !== PseudoCall.CALL || st === undefined) continue;
        const callee = byStart.get(i + 1 + insn.imm);
        if (callee === undefined || isEntry(callee)) continue;
        const passed = argsAt(st);
        const prev = args[callee];
        const joined = prev === undefined ? passed : prev.map((v, r) => joinValue(v, passed[r] ?? UNKNOWN));
        if (prev === undefined || !sameArgs(prev, joined)) {
          args[callee] = joined;
          changed = true;
        }
      }
    });
  }
  spans.forEach((sp, k) => {
    if (done[k] === null) results[k] = analyseFunction(insns, refs, sp.start, sp.end, entryState(undefined));
  });
  return results;
}

function sameArgs(a: readonly Value[] | undefined, b: readonly Value[] | undefined): boolean {
  if (a === undefined || b === undefined) return a === b;
  return a.every((v, i) => sameValue(v, b[i] ?? UNKNOWN));
}

/**
 * Finds every `bpf_tail_call` in a linked program and what r2 (the prog array) and r3 (the slot)
 * hold there. Calls clobber r0-r5 and any stack a pointer was passed to; a subprogram sees the
 * arguments its callers pass. A site in dead code reports neither map nor keys. `lineInfo` (the
 * program's BTF line info) gives each site its C source line.
 */
export function findTailCalls(
  insns: readonly Instruction[],
  references: readonly MapReference[],
  functions: readonly FunctionSpan[],
  lineInfo: readonly LineInfo[] = [],
): TailCallSite[] {
  const refs = new Map<number, MapReference>();
  for (const r of references) refs.set(r.insn, r);
  const spans: Span[] =
    functions.length > 0
      ? functions.map((f) => ({
          name: f.start === 0 ? undefined : f.name,
          start: Math.max(0, f.start),
          end: Math.min(f.end, insns.length),
        }))
      : [{ name: undefined, start: 0, end: insns.length }];
  const hasTailCall = insns.some((i) => helperCalled(i) === HelperId.tail_call);
  if (!hasTailCall) return [];
  const results = analyseProgram(insns, refs, spans);

  const sites: TailCallSite[] = [];
  spans.forEach((span, k) => {
    for (let i = span.start; i < span.end; i++) {
      const insn = insns[i] as Instruction;
      if (insn.opcode === LDDW) {
        i++;
        continue;
      }
      if (helperCalled(insn) !== HelperId.tail_call) continue;
      const st = results[k]?.[i - span.start];
      const r2 = st === undefined ? UNKNOWN : reg(st, 2);
      const r3 = st === undefined ? UNKNOWN : reg(st, 3);
      sites.push({
        insn: i,
        map: r2.k === "map" ? r2.map : undefined,
        keys: keysOf(r3),
        subprogram: span.name,
        source: enclosingSourceLocationAt(lineInfo, i, span.start),
      });
    }
  });
  return sites.sort((a, b) => a.insn - b.insn);
}
