import { VerifierError } from "../errors.js";
import { vmFault } from "./fault.js";
import {
  type CompiledEntry,
  clearFrame,
  divmod64,
  type HelperFn,
  hookedLoad,
  atomic32,
  atomic64,
  type Interpreter,
  preciseCode,
  type Program,
  sharedConstants,
} from "./interpreter.js";
import { type Memory, REGION_HI_BASE, REGION_LO_BASE, type Region } from "./memory.js";
import { bswap16, bswap32, hiOf, loOf, mulHiU32 } from "./u64.js";
import { STACK_SIZE } from "../object/stack-frames.js";
import { helperName } from "./validate.js";
import { HelperId } from "../abi/helper-id.js";
import { FAST_R0, type HelperWithFastPath } from "./helpers.js";

/**
 * The compiled tier: a validated, pre-decoded {@link Program} becomes JavaScript (`new Function`):
 * a `switch` over its straight-line blocks inside a loop, with the registers as local int32 pairs
 * (`l0`/`h0` .. `l10`/`h10`), one function per chunk of about {@link CHUNK_CHARS} characters of
 * code (V8 optimises only functions up to a bytecode size; a small program is one function). It
 * is built from the interpreter's own decoded arrays and block marks, so the two tiers agree by
 * construction on what an instruction is and where a block starts:
 *
 * - every block is charged to the budget on entry, as the interpreter charges it; when the budget
 *   cannot cover a block, the run goes on in a precise variant (every instruction a block of its
 *   own, the interpreter's precise mode), so a budget fault names exactly the instruction (and
 *   `executed` the count) the interpreter's would;
 * - loads and stores inline the interpreter's fast path (region by high word, bounds, DataView)
 *   and fall back to `Memory.resolve` for the fault itself;
 * - helpers are called with the registers written back to `vm.lo`/`vm.hi` (and r0..r5 read back),
 *   so they see and set registers as they do under the interpreter; tail calls, `vm.exit`, frames
 *   (`savedLo`/`retPc`/`retProg`) and the stack regions are the interpreter's own;
 * - a fault carries the code, program and instruction the interpreter would give it, and
 *   `executed` counts the faulting instruction and none after it.
 *
 * The interpreter stays the reference: the compiled tier must agree with it on every test
 * (test/vm/compiler*.test.ts compares them on the conformance suite, the repository's objects,
 * generated and random programs).
 */

const { ATOMIC_W, ATOMIC_DW, CALL_LOCAL, CHUNK, MAX_BLOCK, PENDING_EXIT, RUNTIME_FRAMES } = sharedConstants();

/** State handed between a compiled function and its driver across program switches. */
interface StepState {
  pc: number;
  frame: number;
  left: number;
  reserve: number;
  next: Program | undefined;
}

/**
 * A compiled function: runs `prog` from `st.pc` until it ends, switches program, or needs precision.
 * `fresh` (the first call of a run) takes r0 and r2..r9 as zero instead of reading them.
 */
type StepFn = (vm: Interpreter, st: StepState, fresh: boolean) => number;

const DONE = 0;
const SWITCH = 1;
const PRECISE = 2;
/** Continue in another chunk of the same program at `st.pc`. */
const JUMP = 3;

/**
 * The driver's state, shared by all runs: a step function reads it only on entry and writes it
 * only on return, so even a run nested inside a helper call cannot disturb an outer one.
 */
const shared: StepState = { pc: 0, frame: 0, left: 0, reserve: 0, next: undefined };

/** One translation of a program: its chunk functions and which chunk holds each slot. */
interface Variant {
  steps: StepFn[];
  chunkOf: Uint16Array;
}

/**
 * A program with its compiled functions; set as `Program.jit`. A large program is cut into chunks
 * of contiguous blocks, one function each, because V8 does not optimise very large functions; a
 * jump between chunks goes through the driver loop in {@link enter}. A second, precise variant
 * (every instruction a block of its own, as the interpreter's precise mode) is made the first time
 * a run's budget cannot cover a block, and the run finishes on it.
 */
class CompiledProgram implements CompiledEntry {
  private precise: Variant | undefined;
  /** Whether {@link prime} has entered every chunk function once. */
  primed = false;

  constructor(
    readonly prog: Program,
    readonly fast: Variant,
    readonly chunkChars: number,
  ) {}

  /**
   * Enters each chunk function once at slot -1, which is in no chunk: it reads the registers into
   * its locals, returns at once and writes them back unchanged, touching no memory, budget or
   * stack. V8 compiles a function on its first call; this makes that call happen now.
   */
  prime(vm: Interpreter): void {
    const st: StepState = { pc: -1, frame: 0, left: 0, reserve: 0, next: undefined };
    for (const step of this.fast.steps) {
      st.pc = -1;
      step(vm, st, false);
    }
    this.primed = true;
  }

  variant(precise: boolean): Variant {
    if (!precise) return this.fast;
    if (this.precise === undefined) this.precise = translate(this.prog, this.chunkChars, true);
    return this.precise;
  }

  enter(vm: Interpreter, fresh = false): void {
    // As Interpreter.exec sets up a run.
    vm.tailCalls = 0;
    vm.pending = 0;
    vm.current = this.prog;
    const stack0 = vm.stacks[0] as Region;
    clearFrame(stack0);
    vm.hi[10] = stack0.hi;
    vm.lo[10] = LO_TOP;
    const st = shared;
    let reserve = vm.budget;
    const left = Math.min(reserve, CHUNK);
    reserve -= left;
    st.pc = 0;
    st.frame = 0;
    st.left = left;
    st.reserve = reserve;
    this.drive(vm, false, fresh);
  }

  /** Runs from the state in `shared` until the run ends (or throws). */
  drive(vm: Interpreter, startPrecise: boolean, fresh: boolean): void {
    const st = shared;
    let precise = startPrecise;
    let v = this.variant(precise);
    let cp: CompiledProgram = this;
    let first = fresh;
    for (;;) {
      const r = (v.steps[v.chunkOf[st.pc] as number] as StepFn)(vm, st, first);
      first = false;
      if (r === DONE) return;
      if (r === SWITCH) {
        const p = st.next as Program;
        st.next = undefined;
        vm.current = p;
        // A tail call or a return into a program the tier has not translated yet: translate it now.
        cp = jsOf(p);
        v = cp.variant(precise);
      } else if (r === PRECISE) {
        precise = true;
        v = cp.variant(true);
      }
      // JUMP: the same variant, at st.pc.
    }
  }
}

/**
 * @internal The JavaScript translation of `p`: its `jit`, or the fallback a faster tier
 * (src/vm/wasm/) keeps under it; made now when it has none.
 */
export function jsTierOf(p: Program): CompiledEntry {
  return jsOf(p);
}

function jsOf(p: Program): CompiledProgram {
  const j = p.jit;
  if (j instanceof CompiledProgram) return j;
  if (j?.fallback instanceof CompiledProgram) return j.fallback;
  const c = new CompiledProgram(p, translate(p, CHUNK_CHARS, false), CHUNK_CHARS);
  if (j === undefined) p.jit = c;
  else j.fallback = c;
  return c;
}

/**
 * @internal Goes on with a run on the JavaScript tier from a state another tier (src/vm/wasm/)
 * left: program `p` at slot `pc` in `frame`, with the budget still in hand; registers and frames
 * in the interpreter. `precise` runs every instruction as a block of its own (any slot may be
 * entered then; otherwise `pc` must start a block).
 */
export function resumeCompiled(
  vm: Interpreter,
  p: Program,
  pc: number,
  frame: number,
  left: number,
  reserve: number,
  precise: boolean,
): void {
  const st = shared;
  st.pc = pc;
  st.frame = frame;
  st.left = left;
  st.reserve = reserve;
  st.next = undefined;
  vm.current = p;
  jsOf(p).drive(vm, precise, false);
}

/** Options of {@link compileProgram}. */
export interface CompileOptions {
  /**
   * Largest program (in slots) to compile; a longer one stays interpreted (V8 does not optimise
   * very large functions, where the interpreter is faster). Default 100000.
   */
  maxSlots?: number;
  /**
   * Most generated characters in one function before the program is cut into another chunk
   * (V8 optimises functions only up to a bytecode size). Default {@link CHUNK_CHARS}.
   */
  chunkChars?: number;
}

/** Default {@link CompileOptions.chunkChars}. */
export const CHUNK_CHARS = 48_000;

/** Whether `prog` runs on the compiled tier. */
export function isCompiled(prog: Program): boolean {
  return prog.jit instanceof CompiledProgram;
}

/**
 * Translates `prog` into a JavaScript function and attaches it, so `Interpreter.exec` (and
 * everything built on it) runs the compiled code. Returns whether it was compiled (see
 * {@link CompileOptions.maxSlots}). Throws a VerifierError only for a program `loadProgram` would
 * not have produced.
 */
export function compileProgram(prog: Program, opts: CompileOptions = {}): boolean {
  if (prog.jit instanceof CompiledProgram) return true;
  if (prog.length > (opts.maxSlots ?? 100_000)) return false;
  const chunkChars = opts.chunkChars ?? CHUNK_CHARS;
  prog.jit = new CompiledProgram(prog, translate(prog, chunkChars, false), chunkChars);
  return true;
}

/** Generates and instantiates the chunk functions of `prog` (the precise variant: blocks of one). */
function translate(prog: Program, chunkChars: number, precise: boolean): Variant {
  const { sources, chunkOf, helpers, rest, caseOf } = generate(prog, chunkChars, precise);
  const steps = sources.map((source) => {
    let factory: (...args: unknown[]) => StepFn;
    try {
      factory = new Function(...RUNTIME_NAMES, source) as (...args: unknown[]) => StepFn;
    } catch (e) {
      throw new VerifierError(`the compiled tier produced invalid code: ${(e as Error).message}`, {
        program: prog.name,
        hint: "run it with the interpreter (tier: interpreter) and report the program",
      });
    }
    return factory(prog, helpers, rest, caseOf, ...runtimeValues());
  });
  return { steps, chunkOf };
}

/** The interpreter's budget fault. */
function budgetFault(budget: number): Error {
  return vmFault("budget", `instruction budget of ${budget} exhausted`, {
    hint: "the program loops, or raise the interpreter's budget",
  });
}

/**
 * Has the JS engine compile `prog`'s translated code now rather than in its first run: V8
 * compiles a function on its first call, which for a program's chunk functions costs more than
 * many runs of it. Changes no register, memory or budget. Returns whether `prog` has translated
 * code to prime.
 */
export function primeProgram(prog: Program, vm: Interpreter): boolean {
  if (!(prog.jit instanceof CompiledProgram)) return false;
  if (!prog.jit.primed) prog.jit.prime(vm);
  return true;
}

/** @internal For tests: whether {@link primeProgram} has primed `prog`'s current translation. */
export function isPrimed(prog: Program): boolean {
  return prog.jit instanceof CompiledProgram && prog.jit.primed;
}

/** Removes the compiled code of `prog`: it runs on the interpreter again. */
export function uncompileProgram(prog: Program): void {
  prog.jit = undefined;
}

/**
 * A load the compiled code's fast path does not cover: out of its region (the fault, as
 * `Memory.resolve` gives it) or from a region with a load hook (a context: its words when it has
 * them, else the hook). The value goes to `SL[0]`/`SH[0]`.
 */
function slowLoad(
  mem: Memory,
  r: Region | undefined,
  hi: number,
  lo: number,
  i: number,
  size: number,
  SL: Int32Array,
  SH: Int32Array,
): void {
  if (r === undefined || i < r.start || i + size > r.end) throw mem.resolve(hi, lo, size, false);
  const W = r.loadWords;
  if (size === 4 && W !== undefined && (i & 3) === 0) {
    SL[0] = W[i >> 1] as number;
    SH[0] = W[(i >> 1) + 1] as number;
    return;
  }
  hookedLoad(r, i, size, SL, SH, 0);
}

/** Sets r0 from a helper's return value, as the interpreter does. */
export function setReturn(L: Int32Array, H: Int32Array, ret: number | bigint): void {
  if (typeof ret === "number") {
    if (!Number.isSafeInteger(ret)) throw vmFault("helper", `helper returned ${ret}, not an integer`);
    L[0] = ret | 0;
    H[0] = Math.floor(ret / 0x1_0000_0000) | 0;
  } else {
    L[0] = loOf(ret);
    H[0] = hiOf(ret);
  }
}

function callxTarget(p: Program, id: number): HelperFn {
  const fn = p.helpers(id);
  if (fn === undefined) throw vmFault("unknown-helper", `callx to unknown ${helperName(id)} (id ${id})`);
  return fn;
}

function badOpcode(o: number): Error {
  return vmFault("bad-instruction", `opcode 0x${o.toString(16)} cannot be executed`);
}

const RUNTIME_NAMES = [
  "P",
  "HELPERS",
  "REST",
  "CASE",
  "mulHiU32",
  "bswap16",
  "bswap32",
  "divmod64",
  "hookedLoad",
  "atomic32",
  "atomic64",
  "clearFrame",
  "setReturn",
  "callxTarget",
  "badOpcode",
  "budgetFault",
  "vmFault",
  "SCR_L",
  "SCR_H",
  "FAST_R0",
  "slowLoad",
];

function runtimeValues(): unknown[] {
  return [
    mulHiU32,
    bswap16,
    bswap32,
    divmod64,
    hookedLoad,
    atomic32,
    atomic64,
    clearFrame,
    setReturn,
    callxTarget,
    badOpcode,
    budgetFault,
    vmFault,
    new Int32Array(1),
    new Int32Array(1),
    FAST_R0,
    slowLoad,
  ];
}

const HI0 = REGION_HI_BASE | 0;
const LO_TOP = REGION_LO_BASE + STACK_SIZE;
const REFILL = CHUNK - MAX_BLOCK - 1;

const ALL_REGS = [0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10];
const syncOut = (regs: readonly number[]) => regs.map((r) => `L[${r}] = l${r}; H[${r}] = h${r};`).join(" ");
const syncIn = (regs: readonly number[]) => regs.map((r) => `l${r} = L[${r}]; h${r} = H[${r}];`).join(" ");
const SYNC_OUT = syncOut(ALL_REGS);
const SYNC_IN_ARGS = syncIn([0, 1, 2, 3, 4, 5]);

/**
 * Generates the factory bodies for `p`, one per chunk; also returns each slot's chunk, the helper
 * table and per-slot "rest of block" counts.
 */
function generate(
  p: Program,
  chunkChars: number,
  precise: boolean,
): { sources: string[]; chunkOf: Uint16Array; helpers: HelperFn[]; rest: Int32Array; caseOf: Int32Array } {
  const n = p.length;
  const { off, imm, imm2, tgt, insnIndex } = p;
  const code = precise ? preciseCode(p) : p.code;
  const rest = new Int32Array(n + 1);

  // Block starts and, per slot, the instructions of its block after it (what a fault gives back).
  const blockStart: number[] = [];
  for (let i = 0; i < n; ) {
    const bl = (code[i] as number) >>> 24;
    if (bl === 0) throw new VerifierError(`slot ${i} starts no block`, { program: p.name, insn: i });
    blockStart.push(i);
    const first = insnIndex[i] as number;
    let j = i;
    for (let k = 0; k < bl; k++) {
      rest[j] = first + bl - 1 - (insnIndex[j] as number);
      j += ((code[j] as number) & 0xffff) === 0x18 ? 2 : 1;
    }
    i = j;
  }

  // Each block's code, with jumps written against a chunk assignment decided afterwards: the
  // blocks are cut into chunks of at most `chunkChars` characters first (jump text is short and
  // of bounded length, so the estimate holds).
  // The switch goes by block number, not slot: V8 makes a jump table of dense case labels, and
  // compares one by one through sparse ones (tens of ns to reach a late block).
  const caseOf = new Int32Array(n + 1).fill(-1);
  blockStart.forEach((bs, b) => {
    caseOf[bs] = b;
  });
  const blockCode = blockStart.map((bs, b) => {
    const bl = (code[bs] as number) >>> 24;
    const parts = [
      `case ${b}:`,
      `if (left < ${bl}) { if (reserve > 0) { const a = reserve < ${REFILL} ? reserve : ${REFILL}; left += a; reserve -= a; } ` +
        (precise
          ? `if (left < 1) { fpc = ${bs}; left = 0; throw budgetFault(budget); } }`
          : `if (left < ${bl}) { pc = ${bs}; ret = ${PRECISE}; break run; } }`),
      `left -= ${bl};`,
    ];
    let k = bs;
    for (let c = 0; c < bl; c++) {
      parts.push(insnCode(k, code, off, imm, imm2, tgt, p.helperAt));
      k += ((code[k] as number) & 0xffff) === 0x18 ? 2 : 1;
    }
    return parts.join("\n");
  });
  const chunkOf = new Uint16Array(n + 1);
  const chunks: number[][] = [[]];
  let size = 0;
  blockStart.forEach((bs, b) => {
    const len = (blockCode[b] as string).length;
    let cur = chunks[chunks.length - 1] as number[];
    if (cur.length > 0 && size + len > chunkChars && chunks.length < 0xffff) {
      cur = [];
      chunks.push(cur);
      size = 0;
    }
    cur.push(b);
    size += len;
    const end = b + 1 < blockStart.length ? (blockStart[b + 1] as number) : n;
    for (let i = bs; i < end; i++) chunkOf[i] = chunks.length - 1;
  });
  chunkOf[n] = chunks.length - 1;

  const sources = chunks.map((blocks, ci) => {
    const lo = blockStart[blocks[0] as number] as number;
    const lastBlock = blocks[blocks.length - 1] as number;
    const hi = lastBlock + 1 < blockStart.length ? (blockStart[lastBlock + 1] as number) : n;
    // A jump out of the chunk hands the target slot to the driver.
    const body = blocks
      .map((b) => blockCode[b] as string)
      .join("\n")
      .replace(/pc = (\d+); continue run;/g, (m, t: string) => {
        const tt = Number(t);
        return tt >= lo && tt < hi ? m : `pc = ${tt}; ret = ${JUMP}; break run;`;
      });
    const regDecl = ALL_REGS.map((r) =>
      r === 1 || r === 10 ? `l${r} = L[${r}], h${r} = H[${r}]` : `l${r} = 0, h${r} = 0`,
    ).join(", ");
    const readRest = syncIn(ALL_REGS.filter((r) => r !== 1 && r !== 10));
    return `"use strict";
return function step${ci}(vm, st, fresh) {
  const L = vm.lo, H = vm.hi, mem = vm.memory, R = mem.regions, stacks = vm.stacks;
  const SL = vm.savedLo, SH = vm.savedHi, RP = vm.retPc, RG = vm.retProg, budget = vm.budget;
  let ${regDecl};
  if (!fresh) { ${readRest} }
  let pc = st.pc, frame = st.frame, left = st.left, reserve = st.reserve, fpc = 0, ret = 0;
  try {
    run: for (;;) {
      switch (CASE[pc]) {
${body}
        pc = ${hi}; ret = ${JUMP}; break run;
        default:
          if (pc >= ${lo} && pc < ${hi}) { fpc = pc; throw badOpcode(0); }
          ret = ${JUMP}; break run;
      }
    }
  } catch (e) {
    ${SYNC_OUT}
    vm.executed = budget - reserve - left - (REST[fpc] | 0);
    throw vm.locate(e, P, fpc);
  }
  // A run that ends leaves r0 (its result) in the register file; the other registers are dead.
  if (ret === ${DONE}) { L[0] = l0; H[0] = h0; return ret; }
  ${SYNC_OUT}
  st.pc = pc; st.frame = frame; st.left = left; st.reserve = reserve;
  return ret;
};`;
  });
  return { sources, chunkOf, helpers: p.helperAt, rest, caseOf };
}

/** Source of one instruction at slot `k`. */
function insnCode(
  k: number,
  code: Int32Array,
  offs: Int32Array,
  imms: Int32Array,
  imm2s: Int32Array,
  tgts: Int32Array,
  helpers: readonly (HelperFn | undefined)[],
): string {
  const c = code[k] as number;
  const o = c & 0xffff;
  const d = (c >>> 16) & 15;
  const s = (c >>> 20) & 15;
  const K = imms[k] as number;
  const KH = K >> 31;
  const OFF = offs[k] as number;
  const T = tgts[k] as number;
  const ld = `l${d}`;
  const hd = `h${d}`;
  const ls = `l${s}`;
  const hs = `h${s}`;
  const isK = (o & 8) === 0;
  // Second operand: immediate (sign-extended) or register.
  const bl = isK ? `${K}` : ls;
  const bh = isK ? `${KH}` : hs;
  const fault = (expr: string) => `{ fpc = ${k}; throw ${expr}; }`;
  const jump = (cond: string) => `if (${cond}) { pc = ${T}; continue run; }`;
  const u = (x: string) => `(${x} >>> 0)`;
  switch (o) {
    // ---- ALU64 ----
    case 0x07:
    case 0x0f:
      return `{ const bl = ${bl}, bh = ${bh}; const sum = (${ld} >>> 0) + (bl >>> 0); ${ld} = sum | 0; ${hd} = (${hd} + bh + (sum > 0xffffffff ? 1 : 0)) | 0; }`;
    case 0x17:
    case 0x1f:
      return `{ const bl = ${bl}, bh = ${bh}; const diff = (${ld} >>> 0) - (bl >>> 0); ${ld} = diff | 0; ${hd} = (${hd} - bh - (diff < 0 ? 1 : 0)) | 0; }`;
    case 0x27:
    case 0x2f:
      return `{ const bl = ${bl}, bh = ${bh}, al = ${ld}, ah = ${hd}; ${ld} = Math.imul(al, bl); ${hd} = (mulHiU32(al, bl) + Math.imul(ah, bl) + Math.imul(al, bh)) | 0; }`;
    case 0x37:
    case 0x3f:
    case 0x97:
    case 0x9f:
    case 0x137:
    case 0x13f:
    case 0x197:
    case 0x19f: {
      const mod = (o & 0xf0) === 0x90;
      const signed = o > 0xff;
      return `{ const bl = ${bl}, bh = ${bh}; L[${d}] = ${ld}; H[${d}] = ${hd}; divmod64(L, H, ${d}, bl, bh, ${mod}, ${signed}); ${ld} = L[${d}]; ${hd} = H[${d}]; }`;
    }
    case 0x47:
    case 0x4f:
      return `{ const bl = ${bl}, bh = ${bh}; ${ld} = ${ld} | bl; ${hd} = ${hd} | bh; }`;
    case 0x57:
    case 0x5f:
      return `{ const bl = ${bl}, bh = ${bh}; ${ld} = ${ld} & bl; ${hd} = ${hd} & bh; }`;
    case 0xa7:
    case 0xaf:
      return `{ const bl = ${bl}, bh = ${bh}; ${ld} = ${ld} ^ bl; ${hd} = ${hd} ^ bh; }`;
    case 0x67:
    case 0x6f:
    case 0x77:
    case 0x7f:
    case 0xc7:
    case 0xcf:
      return shift64(o & 0xf0, ld, hd, isK ? K & 63 : undefined, ls);
    case 0x87:
      return `{ const al = ${ld}; ${ld} = -al | 0; ${hd} = (~${hd} + (al === 0 ? 1 : 0)) | 0; }`;
    case 0xb7:
      return `${ld} = ${K}; ${hd} = ${KH};`;
    case 0xbf:
      return d === s ? "" : `${ld} = ${ls}; ${hd} = ${hs};`;
    case 0x1bf: {
      const x = OFF === 8 ? `(${ls} << 24) >> 24` : OFF === 16 ? `(${ls} << 16) >> 16` : ls;
      return `{ const x = ${x}; ${ld} = x; ${hd} = x >> 31; }`;
    }
    case 0xd7:
    case 0xdc:
      if (K === 16) return `${ld} = bswap16(${ld}); ${hd} = 0;`;
      if (K === 32) return `${ld} = bswap32(${ld}); ${hd} = 0;`;
      return `{ const v = ${ld}; ${ld} = bswap32(${hd}); ${hd} = bswap32(v); }`;
    case 0xd4:
      if (K === 16) return `${ld} = ${ld} & 0xffff; ${hd} = 0;`;
      if (K === 32) return `${hd} = 0;`;
      return "";
    // ---- ALU32: results zero-extend ----
    case 0x04:
    case 0x0c:
      return `${ld} = (${ld} + ${bl}) | 0; ${hd} = 0;`;
    case 0x14:
    case 0x1c:
      return `${ld} = (${ld} - ${bl}) | 0; ${hd} = 0;`;
    case 0x24:
    case 0x2c:
      return `${ld} = Math.imul(${ld}, ${bl}); ${hd} = 0;`;
    case 0x34:
    case 0x3c:
      return `{ const b = ${bl} >>> 0; ${ld} = b === 0 ? 0 : Math.floor((${ld} >>> 0) / b) | 0; ${hd} = 0; }`;
    case 0x94:
    case 0x9c:
      return `{ const b = ${bl} >>> 0; if (b !== 0) ${ld} = ((${ld} >>> 0) % b) | 0; ${hd} = 0; }`;
    case 0x134:
    case 0x13c:
      return `{ const b = ${bl}, a = ${ld}; ${ld} = b === 0 ? 0 : Math.trunc(a / b) | 0; ${hd} = 0; }`;
    case 0x194:
    case 0x19c:
      return `{ const b = ${bl}; if (b !== 0) ${ld} = (${ld} % b) | 0; ${hd} = 0; }`;
    case 0x44:
    case 0x4c:
      return `${ld} = ${ld} | ${bl}; ${hd} = 0;`;
    case 0x54:
    case 0x5c:
      return `${ld} = ${ld} & ${bl}; ${hd} = 0;`;
    case 0xa4:
    case 0xac:
      return `${ld} = ${ld} ^ ${bl}; ${hd} = 0;`;
    case 0x64:
    case 0x6c:
      return `${ld} = ${ld} << ${bl}; ${hd} = 0;`;
    case 0x74:
    case 0x7c:
      return `${ld} = (${ld} >>> ${bl}) | 0; ${hd} = 0;`;
    case 0xc4:
    case 0xcc:
      return `${ld} = ${ld} >> ${bl}; ${hd} = 0;`;
    case 0x84:
      return `${ld} = -${ld} | 0; ${hd} = 0;`;
    case 0xb4:
      return `${ld} = ${K}; ${hd} = 0;`;
    case 0xbc:
      return `${ld} = ${ls}; ${hd} = 0;`;
    case 0x1bc:
      return `${ld} = ${OFF === 8 ? `(${ls} << 24) >> 24` : `(${ls} << 16) >> 16`}; ${hd} = 0;`;
    // ---- lddw ----
    case 0x18:
      return `${ld} = ${K}; ${hd} = ${imm2s[k] as number};`;
    // ---- loads ----
    case 0x61:
    case 0x69:
    case 0x71:
    case 0x79: {
      const size = o === 0x61 ? 4 : o === 0x69 ? 2 : o === 0x71 ? 1 : 8;
      const read =
        size === 8
          ? `${ld} = r.view.getInt32(i, true); ${hd} = r.view.getInt32(i + 4, true);`
          : size === 4
            ? `${ld} = r.view.getInt32(i, true); ${hd} = 0;`
            : size === 2
              ? `${ld} = r.view.getUint16(i, true); ${hd} = 0;`
              : `${ld} = r.view.getUint8(i); ${hd} = 0;`;
      // The fault and a context's load hook are the rare cases: one call (slowLoad) covers both.
      return (
        `{ const r = R[(${hs} - ${HI0}) >>> 0]; const i = (((${ls} + ${OFF}) | 0) >>> 0) - ${REGION_LO_BASE}; ` +
        `if (r === undefined || i < r.start || i + ${size} > r.end || r.onLoad !== undefined) ` +
        `{ fpc = ${k}; slowLoad(mem, r, ${hs}, (${ls} + ${OFF}) | 0, i, ${size}, SCR_L, SCR_H); ${ld} = SCR_L[0]; ${hd} = SCR_H[0]; } ` +
        `else { ${read} } }`
      );
    }
    case 0x81:
    case 0x89:
    case 0x91: {
      const size = o === 0x81 ? 4 : o === 0x89 ? 2 : 1;
      const get = size === 4 ? "getInt32(i, true)" : size === 2 ? "getInt16(i, true)" : "getInt8(i)";
      return (
        `{ const r = R[(${hs} - ${HI0}) >>> 0]; const i = (((${ls} + ${OFF}) | 0) >>> 0) - ${REGION_LO_BASE}; ` +
        `if (r === undefined || i < r.start || i + ${size} > r.end) ${fault(`mem.resolve(${hs}, (${ls} + ${OFF}) | 0, ${size}, false)`)} ` +
        `const v = r.view.${get}; ${ld} = v; ${hd} = v >> 31; }`
      );
    }
    // ---- stores ----
    case 0x62:
    case 0x63:
    case 0x6a:
    case 0x6b:
    case 0x72:
    case 0x73:
    case 0x7a:
    case 0x7b: {
      const sz = o & 0x18;
      const size = sz === 0x00 ? 4 : sz === 0x08 ? 2 : sz === 0x10 ? 1 : 8;
      const isImm = (o & 7) === 2;
      const v = isImm ? `${K}` : ls;
      const write =
        size === 8
          ? isImm
            ? `r.view.setInt32(i, ${K}, true); r.view.setInt32(i + 4, ${KH}, true);`
            : `r.view.setInt32(i, ${ls}, true); r.view.setInt32(i + 4, ${hs}, true);`
          : size === 4
            ? `r.view.setInt32(i, ${v}, true);`
            : size === 2
              ? `r.view.setInt16(i, ${v}, true);`
              : `r.view.setInt8(i, ${v});`;
      return (
        `{ const r = R[(${hd} - ${HI0}) >>> 0]; const i = (((${ld} + ${OFF}) | 0) >>> 0) - ${REGION_LO_BASE}; ` +
        `if (r === undefined || i < r.start || i + ${size} > r.end || !r.writable) ${fault(`mem.resolve(${hd}, (${ld} + ${OFF}) | 0, ${size}, true)`)} ` +
        `if (i < r.dirtyFrom) r.dirtyFrom = i; ${write} }`
      );
    }
    // ---- jumps ----
    case 0x05:
    case 0x06:
      return T === k + 1 ? "" : `pc = ${T}; continue run;`;
    case 0x15:
    case 0x1d:
      return jump(`${hd} === ${bh} && ${ld} === ${bl}`);
    case 0x55:
    case 0x5d:
      return jump(`${hd} !== ${bh} || ${ld} !== ${bl}`);
    case 0x25:
    case 0x2d:
      return jump(`${u(hd)} > ${u(bh)} || (${hd} === ${bh} && ${u(ld)} > ${u(bl)})`);
    case 0x35:
    case 0x3d:
      return jump(`${u(hd)} > ${u(bh)} || (${hd} === ${bh} && ${u(ld)} >= ${u(bl)})`);
    case 0xa5:
    case 0xad:
      return jump(`${u(hd)} < ${u(bh)} || (${hd} === ${bh} && ${u(ld)} < ${u(bl)})`);
    case 0xb5:
    case 0xbd:
      return jump(`${u(hd)} < ${u(bh)} || (${hd} === ${bh} && ${u(ld)} <= ${u(bl)})`);
    case 0x65:
    case 0x6d:
      return jump(`${hd} > ${bh} || (${hd} === ${bh} && ${u(ld)} > ${u(bl)})`);
    case 0x75:
    case 0x7d:
      return jump(`${hd} > ${bh} || (${hd} === ${bh} && ${u(ld)} >= ${u(bl)})`);
    case 0xc5:
    case 0xcd:
      return jump(`${hd} < ${bh} || (${hd} === ${bh} && ${u(ld)} < ${u(bl)})`);
    case 0xd5:
    case 0xdd:
      return jump(`${hd} < ${bh} || (${hd} === ${bh} && ${u(ld)} <= ${u(bl)})`);
    case 0x45:
    case 0x4d:
      return jump(`((${ld} & ${bl}) | (${hd} & ${bh})) !== 0`);
    case 0x16:
    case 0x1e:
      return jump(`${ld} === ${bl}`);
    case 0x56:
    case 0x5e:
      return jump(`${ld} !== ${bl}`);
    case 0x26:
    case 0x2e:
      return jump(`${u(ld)} > ${u(bl)}`);
    case 0x36:
    case 0x3e:
      return jump(`${u(ld)} >= ${u(bl)}`);
    case 0xa6:
    case 0xae:
      return jump(`${u(ld)} < ${u(bl)}`);
    case 0xb6:
    case 0xbe:
      return jump(`${u(ld)} <= ${u(bl)}`);
    case 0x66:
    case 0x6e:
      return jump(`${ld} > ${bl}`);
    case 0x76:
    case 0x7e:
      return jump(`${ld} >= ${bl}`);
    case 0xc6:
    case 0xce:
      return jump(`${ld} < ${bl}`);
    case 0xd6:
    case 0xde:
      return jump(`${ld} <= ${bl}`);
    case 0x46:
    case 0x4e:
      return jump(`(${ld} & ${bl}) !== 0`);
    // ---- calls ----
    case 0x85:
    case 0x8d: {
      const fn = o === 0x85 ? `HELPERS[${k}]` : `callxTarget(P, ${ld} >>> 0)`;
      const generic = genericCall(k, fn);
      const fast = o === 0x85 ? (helpers[k] as HelperWithFastPath | undefined)?.fast : undefined;
      if (fast === undefined) return generic;
      const call = `const t = HELPERS[${k}].fast(vm, h1, l1, h2, l2, l3);`;
      if (K === HelperId.map_lookup_elem) {
        return `{ fpc = ${k}; ${call} if (t === 1) { l0 = FAST_R0[0]; h0 = FAST_R0[1]; } else ${generic} }`;
      }
      if (K === HelperId.tail_call) {
        return (
          `{ fpc = ${k}; ${call} if (t === 1) { const np = vm.nextProgram; vm.nextProgram = undefined; vm.pending = 0; ` +
          `vm.current = np; vm.tailCalls++; clearFrame(stacks[frame]); st.next = np; pc = 0; ret = ${SWITCH}; break run; } ` +
          `else if (t !== 0) ${generic} }`
        );
      }
      return generic;
    }
    case CALL_LOCAL: {
      const save = [6, 7, 8, 9].map((r, j) => `SL[b + ${j}] = l${r}; SH[b + ${j}] = h${r};`).join(" ");
      return (
        `{ fpc = ${k}; if (frame + 1 >= ${RUNTIME_FRAMES}) ${fault(`vmFault("call-depth", "bpf-to-bpf call would need more than ${RUNTIME_FRAMES} frames")`)} ` +
        `if (frame + 1 >= stacks.length) vm.addStackFrame(); const b = frame * 4; ${save} ` +
        `RP[frame] = ${k + 1}; RG[frame] = P; frame++; const sf = stacks[frame]; clearFrame(sf); ` +
        `h10 = sf.hi; l10 = ${LO_TOP}; pc = ${T}; continue run; }`
      );
    }
    case 0x95: {
      const restore = [6, 7, 8, 9].map((r, j) => `l${r} = SL[b + ${j}]; h${r} = SH[b + ${j}];`).join(" ");
      return (
        `{ if (frame === 0) { vm.executed = budget - reserve - left; ret = ${DONE}; break run; } ` +
        `frame--; const b = frame * 4; ${restore} h10 = stacks[frame].hi; l10 = ${LO_TOP}; pc = RP[frame]; ` +
        `const back = RG[frame]; if (back !== P) { vm.current = back; st.next = back; ret = ${SWITCH}; break run; } continue run; }`
      );
    }
    default:
      if (o >= ATOMIC_W && o < ATOMIC_W + 10) return atomic(k, "atomic32", o - ATOMIC_W, d, s, OFF);
      if (o >= ATOMIC_DW && o < ATOMIC_DW + 10) return atomic(k, "atomic64", o - ATOMIC_DW, d, s, OFF);
      return fault(`badOpcode(${o})`);
  }
}

/** A helper call through the register file, as the interpreter makes it. */
function genericCall(k: number, fn: string): string {
  return (
    `{ vm.pc = ${k}; vm.executed = budget - reserve - left; fpc = ${k}; ${SYNC_OUT} ` +
    `const r = (${fn})(vm); if (r !== undefined) setReturn(L, H, r); ${SYNC_IN_ARGS} ` +
    `if (vm.pending !== 0) { const what = vm.pending; vm.pending = 0; ` +
    `if (what === ${PENDING_EXIT}) { ret = ${DONE}; break run; } ` +
    `const np = vm.nextProgram; vm.nextProgram = undefined; vm.current = np; vm.tailCalls++; clearFrame(stacks[frame]); ` +
    `st.next = np; pc = 0; ret = ${SWITCH}; break run; } }`
  );
}

function atomic(k: number, fn: string, kind: number, d: number, s: number, off: number): string {
  const regs = [...new Set([0, d, s])];
  return `{ fpc = ${k}; ${syncOut(regs)} ${fn}(mem, L, H, ${d}, ${s}, ${off}, ${kind}); ${syncIn(regs)} }`;
}

function shift64(op: number, ld: string, hd: string, n: number | undefined, ls: string): string {
  if (n === undefined) {
    // Register count: the interpreter's three cases, at run time.
    const [big, small] =
      op === 0x60
        ? [
            `${hd} = ${ld} << (n - 32); ${ld} = 0;`,
            `${hd} = (${hd} << n) | (${ld} >>> (32 - n)); ${ld} = ${ld} << n;`,
          ]
        : op === 0x70
          ? [
              `${ld} = (${hd} >>> (n - 32)) | 0; ${hd} = 0;`,
              `${ld} = (${ld} >>> n) | (${hd} << (32 - n)); ${hd} = (${hd} >>> n) | 0;`,
            ]
          : [
              `${ld} = ${hd} >> (n - 32); ${hd} = ${hd} >> 31;`,
              `${ld} = (${ld} >>> n) | (${hd} << (32 - n)); ${hd} = ${hd} >> n;`,
            ];
    return `{ const n = ${ls} & 63; if (n >= 32) { ${big} } else if (n !== 0) { ${small} } }`;
  }
  if (n === 0) return "";
  if (op === 0x60) {
    return n >= 32
      ? `${hd} = ${ld} << ${n - 32}; ${ld} = 0;`
      : `${hd} = (${hd} << ${n}) | (${ld} >>> ${32 - n}); ${ld} = ${ld} << ${n};`;
  }
  if (op === 0x70) {
    return n >= 32
      ? `${ld} = (${hd} >>> ${n - 32}) | 0; ${hd} = 0;`
      : `${ld} = (${ld} >>> ${n}) | (${hd} << ${32 - n}); ${hd} = (${hd} >>> ${n}) | 0;`;
  }
  return n >= 32
    ? `${ld} = ${hd} >> ${n - 32}; ${hd} = ${hd} >> 31;`
    : `${ld} = (${ld} >>> ${n}) | (${hd} << ${32 - n}); ${hd} = ${hd} >> ${n};`;
}
