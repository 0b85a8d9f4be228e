import { isTsbpfError, VerifierError, type VmFault } from "../errors.js";
import { decodeInstructions, type Instruction } from "../asm/instruction.js";
import { vmFault } from "./fault.js";
import { type LoadHook, Memory, REGION_HI_BASE, REGION_LO_BASE, type Region } from "./memory.js";
import { bswap16, bswap32, hiOf, loOf, mulHiU32, toI64, toU64 } from "./u64.js";
import { MAX_FRAMES, STACK_SIZE } from "../object/stack-frames.js";
import { helperName, validateProgram, type ProgramShape } from "./validate.js";

/**
 * The eBPF interpreter. A program is validated and pre-decoded once into typed arrays (opcode,
 * registers, offset, immediate, jump target); `run` is one `switch` over them. Registers are two
 * Int32Array halves, so no instruction allocates; only 64-bit division of values wider than 32
 * bits falls back to bigint. Every load and store is bounds-checked against its {@link Memory}
 * region at run time, and an instruction budget guarantees termination.
 */

/**
 * A helper implementation. It reads its arguments from the interpreter (`vm.arg(1)`,
 * `vm.argU32(3)`, `vm.lo[1]`/`vm.hi[1]`...) and returns r0: a number (an integer, sign-extended
 * to 64 bits, so `-2` is -ENOENT), a bigint (taken modulo 2^64), or `undefined` when it set r0
 * itself (e.g. `vm.setR0Words(hi, lo)` for a pointer). It may call `vm.tailCall(p)` or `vm.exit(r0)`.
 */
export type HelperFn = (vm: Interpreter) => number | bigint | undefined;

/** Resolves a helper id to its implementation; `undefined` means the VM lacks it (refused at load). */
export type HelperResolver = (id: number) => HelperFn | undefined;

/** What a fault message can say about an instruction: disassembly and the C source line. */
export interface InsnDescription {
  text?: string;
  sourceLine?: string;
}

/** Options for {@link loadProgram}. */
export interface LoadOptions {
  /** Program name, used in errors. */
  name?: string;
  /** Helper table; every `call` of a helper id it does not know is refused at load. */
  helpers?: HelperResolver;
  /**
   * Gives the 64-bit value of a `lddw` whose src is a pseudo source (map fd, map value...):
   * `(insn, src, imm, nextImm) => value`. Without it such a `lddw` is refused at load.
   */
  resolveLddw?: (insn: number, src: number, imm: number, nextImm: number) => bigint;
  /** Describes an instruction for fault messages (disassembly, source line). */
  describe?: (insn: number) => InsnDescription;
  /** Accept `callx` (helper id in a register): bpf_conformance has it, the kernel does not. */
  allowCallx?: boolean;
}

/** A validated, pre-decoded program, ready for {@link Interpreter.run}. Immutable. */
export class Program {
  /** @internal */
  constructor(
    /** Program name. */
    readonly name: string,
    /** Number of 8-byte instruction slots. */
    readonly length: number,
    /**
     * @internal Per slot: internal opcode (raw, or a variant above 0xff) | dst << 16 | src << 20 |
     * blockLength << 24, where blockLength (1..127) is set on the first slot of a straight-line
     * block: the budget is charged once per block instead of once per instruction.
     */
    readonly code: Int32Array,
    /** @internal */ readonly off: Int32Array,
    /** @internal Immediate; for lddw the low word of the constant. */
    readonly imm: Int32Array,
    /** @internal For lddw, the high word of the constant. */
    readonly imm2: Int32Array,
    /** @internal Jump or call target per slot. */
    readonly tgt: Int32Array,
    /** @internal Helper per slot (only at helper calls). */
    readonly helperAt: HelperFn[],
    /** Shape found by validation: subprograms, stack depths, frames. */
    readonly shape: ProgramShape,
    /** @internal Helper resolver, for callx. */
    readonly helpers: HelperResolver,
    /** Fault describer. */
    readonly describe: ((insn: number) => InsnDescription) | undefined,
    /** @internal Per slot: ordinal of its instruction (a lddw counts once), for exact counts. */
    readonly insnIndex: Int32Array,
  ) {}

  /** @internal The compiled tier's code for this program (src/vm/compiler.ts); `exec` runs it when set. */
  jit: CompiledEntry | undefined = undefined;
}

/**
 * @internal A program translated by the compiled tier. `enter` runs it from instruction 0 with the
 * interpreter's registers, budget, frames and faults, exactly as {@link Interpreter.exec} would.
 */
export interface CompiledEntry {
  /** `fresh`: r0 and r2..r9 are zero (as {@link Interpreter.execFresh} promises), not read. */
  enter(vm: Interpreter, fresh?: boolean): void;
  /** The JavaScript tier's translation a faster tier (src/vm/wasm/) hands runs over to. */
  fallback?: CompiledEntry;
}

const noHelper: HelperFn = () => {
  throw vmFault("bad-instruction", "not a helper call");
};
const noHelpers: HelperResolver = () => undefined;

/** High word of region 0, as a signed int32: `hi - HI0` is a region id. */
const HI0 = REGION_HI_BASE | 0;

// Internal opcodes above the raw byte range.
const SIGNED = 0x100; // sdiv/smod (off 1) and movsx (off 8/16/32)
const CALL_LOCAL = 0x185;
const ATOMIC_W = 0x200;
const ATOMIC_DW = 0x210;
const A_ADD = 0;
const A_OR = 1;
const A_AND = 2;
const A_XOR = 3;
const A_FETCH = 4; // added to the above
const A_XCHG = 8;
const A_CMPXCHG = 9;

function atomicCode(imm: number): number {
  switch (imm) {
    case 0x00:
      return A_ADD;
    case 0x40:
      return A_OR;
    case 0x50:
      return A_AND;
    case 0xa0:
      return A_XOR;
    case 0x01:
      return A_ADD + A_FETCH;
    case 0x41:
      return A_OR + A_FETCH;
    case 0x51:
      return A_AND + A_FETCH;
    case 0xa1:
      return A_XOR + A_FETCH;
    case 0xe1:
      return A_XCHG;
    default:
      return A_CMPXCHG;
  }
}

/** Validates and pre-decodes a program (raw little-endian bytes or decoded instructions). */
export function loadProgram(input: Uint8Array | readonly Instruction[], opts: LoadOptions = {}): Program {
  const name = opts.name ?? "prog";
  const insns = input instanceof Uint8Array ? decodeInstructions(input, true, { program: name }) : input;
  const helpers = opts.helpers ?? noHelpers;
  const vopts = {
    program: name,
    hasHelper: (id: number) => helpers(id) !== undefined,
    allowCallx: opts.allowCallx ?? false,
  };
  const shape = validateProgram(insns, vopts);
  const n = insns.length;
  const code = new Int32Array(n);
  const off = new Int32Array(n);
  const imm = new Int32Array(n);
  const imm2 = new Int32Array(n);
  const tgt = new Int32Array(n);
  const helperAt = new Array<HelperFn>(n).fill(noHelper);
  for (let i = 0; i < n; i++) {
    const ins = insns[i] as Instruction;
    let o = ins.opcode;
    off[i] = ins.off;
    imm[i] = ins.imm;
    const cls = o & 7;
    if (o === 0x18) {
      const next = insns[i + 1] as Instruction;
      if (ins.src !== 0) {
        if (opts.resolveLddw === undefined) {
          const msg = `lddw with pseudo source ${ins.src} needs a map, and none was given`;
          const e = new VerifierError(msg, { program: name, insn: i, hint: "load it through a collection" });
          e.log = [`${i}: ${msg}`];
          throw e;
        }
        const v = opts.resolveLddw(i, ins.src, ins.imm, next.imm);
        imm[i] = loOf(v);
        imm2[i] = hiOf(v);
      } else imm2[i] = next.imm;
    } else if (cls === 0x04 || cls === 0x07) {
      const alu = o & 0xf0;
      if ((alu === 0x30 || alu === 0x90) && ins.off === 1) o |= SIGNED;
      else if (alu === 0xb0 && (o & 8) !== 0 && ins.off !== 0) o |= SIGNED;
    } else if (cls === 0x05 || cls === 0x06) {
      const jop = o & 0xf0;
      if (o === 0x06) tgt[i] = i + 1 + ins.imm;
      else if (o === 0x85) {
        if (ins.src === 1) {
          o = CALL_LOCAL;
          tgt[i] = i + 1 + ins.imm;
        } else helperAt[i] = helpers(ins.imm) as HelperFn;
      } else if (jop !== 0x80 && jop !== 0x90) tgt[i] = i + 1 + ins.off;
    } else if (cls === 0x03 && (o & 0xe0) === 0xc0) {
      if (ins.imm === 0x100)
        o = 0x61 | (o & 0x18); // load-acquire: a plain load here
      else if (ins.imm === 0x110)
        o = 0x63 | (o & 0x18); // store-release: a plain store here
      else o = ((o & 0x18) === 0x18 ? ATOMIC_DW : ATOMIC_W) + atomicCode(ins.imm);
      if (ins.imm === 0x100 || ins.imm === 0x110) imm[i] = 0;
    }
    code[i] = o | (ins.dst << 16) | (ins.src << 20);
  }
  const insnIndex = markBlocks(insns, code, tgt);
  return new Program(name, n, code, off, imm, imm2, tgt, helperAt, shape, helpers, opts.describe, insnIndex);
}

/** Longest block charged at once; fits the 7 bits above src in a code word. */
const MAX_BLOCK = 127;

/**
 * Splits the program into straight-line blocks and writes each block's length (in instructions)
 * into the code word of its first slot. A block starts at insn 0, at every jump or call target,
 * after every jump, call or exit, and every {@link MAX_BLOCK} instructions; so a slot that starts
 * no block is only ever reached from the one before it, in the same block. The interpreter
 * charges a whole block to the budget on entry, which keeps `executed` exact at every block end
 * (calls and exits end blocks) and lets a fault subtract the part not run. Returns each slot's
 * instruction ordinal.
 */
function markBlocks(insns: readonly Instruction[], code: Int32Array, tgt: Int32Array): Int32Array {
  const n = code.length;
  const start = new Uint8Array(n + 1);
  const insnIndex = new Int32Array(n);
  start[0] = 1;
  let k = 0;
  for (let i = 0; i < n; i++) {
    insnIndex[i] = k++;
    const op = (insns[i] as Instruction).opcode;
    if (op === 0x18) {
      if (i + 1 < n) insnIndex[i + 1] = k - 1;
      i++;
      continue;
    }
    const cls = op & 7;
    if (cls !== 0x05 && cls !== 0x06) continue;
    start[i + 1] = 1;
    const jop = op & 0xf0;
    // Targets of jumps and bpf-to-bpf calls (helper calls and exit have none).
    const isJump = !(jop === 0x80 || jop === 0x90) || (op === 0x85 && (insns[i] as Instruction).src === 1);
    const t = tgt[i] as number;
    if (isJump && t >= 0 && t < n) start[t] = 1;
  }
  let i = 0;
  while (i < n) {
    let len = 0;
    let j = i;
    for (;;) {
      len++;
      const op = (insns[j] as Instruction).opcode;
      const cls = op & 7;
      j += op === 0x18 ? 2 : 1;
      if (cls === 0x05 || cls === 0x06 || j >= n || start[j] === 1 || len === MAX_BLOCK) break;
    }
    code[i] = (code[i] as number) | (len << 24);
    i = j;
  }
  return insnIndex;
}

/**
 * The program's code with every slot a block of one: used once the budget is nearly spent, so
 * the run stops at exactly the instruction where it runs out.
 */
const preciseCodes = new WeakMap<Program, Int32Array>();
/** @internal */
export function preciseCode(p: Program): Int32Array {
  let c = preciseCodes.get(p);
  if (c === undefined) {
    c = new Int32Array(p.code.length);
    for (let i = 0; i < c.length; i++) c[i] = ((p.code[i] as number) & 0xffffff) | (1 << 24);
    preciseCodes.set(p, c);
  }
  return c;
}

/** Options for an {@link Interpreter}. */
export interface InterpreterOptions {
  /** Address space to use; a fresh one by default. Stack frames are mapped into it. */
  memory?: Memory;
  /** Most instructions one `run` may execute (tail-called programs included). Default 1e7. */
  budget?: number;
}

/** Budget slice counted down at a time, kept well inside int32 so the counter stays a small integer. */
const CHUNK = 0x3fff_ffff;

/**
 * Frames that can be live at run time. One program's call graph is at most 8 deep (checked at
 * load), but a tail call made from a subprogram starts its target in that subprogram's frame, so
 * on the kernel's JIT a chain of 33 such calls nests up to 8 + 33 * 7 frames.
 */
const RUNTIME_FRAMES = MAX_FRAMES + 33 * (MAX_FRAMES - 1);

const PENDING_NONE = 0;
const PENDING_TAIL = 1;
const PENDING_EXIT = 2;

/**
 * @internal The constants the compiled tier (src/vm/compiler.ts) shares with this loop. Handed
 * out through a function: exporting the constants themselves turns them into module cells, and
 * the `switch` above, whose case labels use them, measurably slows down (4.4 → 5.5+ ns/insn).
 */
export function sharedConstants(): {
  ATOMIC_W: number;
  ATOMIC_DW: number;
  CALL_LOCAL: number;
  CHUNK: number;
  MAX_BLOCK: number;
  PENDING_EXIT: number;
  RUNTIME_FRAMES: number;
} {
  return { ATOMIC_W, ATOMIC_DW, CALL_LOCAL, CHUNK, MAX_BLOCK, PENDING_EXIT, RUNTIME_FRAMES };
}

/** Runs programs. One interpreter holds one register file and stack; it is not reentrant. */
export class Interpreter {
  /** Low words of r0..r10 (signed int32). Helpers may read and write them. */
  readonly lo = new Int32Array(11);
  /** High words of r0..r10 (signed int32). */
  readonly hi = new Int32Array(11);
  /** The address space. */
  readonly memory: Memory;
  /** The instruction budget per run. */
  budget: number;
  /** Instructions executed by the last (or current) run. */
  executed = 0;
  /** Successful tail calls made by the current run (helpers enforce the kernel's limit of 33). */
  tailCalls = 0;
  /** The program currently running (changes on a tail call). */
  current: Program | undefined;
  /** Index of the instruction being executed (for helpers that report errors). */
  pc = 0;
  /** Stack frame regions, one per call depth. */
  readonly stacks: Region[] = [];

  // The state below is shared with the compiled tier (src/vm/compiler.ts), hence @internal, not private.
  /** @internal What a helper asked for: nothing, a tail call or an exit. */
  pending = PENDING_NONE;
  /** @internal The target of a pending tail call. */
  nextProgram: Program | undefined;
  /** @internal r6..r9 of each calling frame. */
  readonly savedLo = new Int32Array(RUNTIME_FRAMES * 4);
  /** @internal */
  readonly savedHi = new Int32Array(RUNTIME_FRAMES * 4);
  /** @internal Return slot of each calling frame. */
  readonly retPc = new Int32Array(RUNTIME_FRAMES);
  /** @internal Program of each calling frame (a tail call from a subprogram changes the callee's). */
  readonly retProg: (Program | undefined)[] = new Array(RUNTIME_FRAMES).fill(undefined);

  constructor(opts: InterpreterOptions = {}) {
    this.memory = opts.memory ?? new Memory();
    this.budget = opts.budget ?? 10_000_000;
    for (let f = 0; f < MAX_FRAMES; f++) this.addStackFrame();
  }

  /** @internal Maps one more stack frame; deep frames (tail calls from subprograms) are added on demand. */
  addStackFrame(): Region {
    const f = this.stacks.length;
    const r = this.memory.map(new Uint8Array(STACK_SIZE), { writable: true, name: `stack frame ${f}` });
    this.stacks.push(r);
    return r;
  }

  /** Argument register `i` as an unsigned 64-bit bigint. */
  arg(i: number): bigint {
    return toU64(this.hi[i] as number, this.lo[i] as number);
  }

  /** Argument register `i` as a signed 64-bit bigint. */
  argSigned(i: number): bigint {
    return toI64(this.hi[i] as number, this.lo[i] as number);
  }

  /** The low 32 bits of register `i`, unsigned (u32 arguments such as a tail-call index). */
  argU32(i: number): number {
    return (this.lo[i] as number) >>> 0;
  }

  /** Sets r0 from a bigint (modulo 2^64). */
  setR0(v: bigint): void {
    this.lo[0] = loOf(v);
    this.hi[0] = hiOf(v);
  }

  /** Sets r0 from its two words (a pointer: `region.hi`, `REGION_LO_BASE + index`). */
  setR0Words(hi: number, lo: number): void {
    this.hi[0] = hi;
    this.lo[0] = lo;
  }

  /** Sets r0 to the address of byte `index` of `region.bytes` (a map value, a ring-buffer record). */
  setR0Pointer(region: Region, index: number): void {
    this.hi[0] = region.hi;
    this.lo[0] = REGION_LO_BASE + index;
  }

  /**
   * From a helper: when it returns, replace the running program with `p` and start it at insn 0
   * with r1 unchanged, in the current frame (the kernel's tail call). Counts in {@link tailCalls}.
   */
  tailCall(p: Program): void {
    this.nextProgram = p;
    this.pending = PENDING_TAIL;
  }

  /** From a helper: when it returns, end the whole run with r0 = `r0`. */
  exit(r0: bigint): void {
    this.setR0(r0);
    this.pending = PENDING_EXIT;
  }

  /** Runs `prog` with r1 and r2 set (other registers zero) and returns r0 as a u64. */
  run(prog: Program, r1 = 0n, r2 = 0n): bigint {
    this.lo.fill(0);
    this.hi.fill(0);
    this.lo[1] = loOf(r1);
    this.hi[1] = hiOf(r1);
    this.lo[2] = loOf(r2);
    this.hi[2] = hiOf(r2);
    this.exec(prog);
    return toU64(this.hi[0] as number, this.lo[0] as number);
  }

  /**
   * Runs `prog` with the registers as they are (set r1..r5 through {@link lo}/{@link hi} first);
   * r10 is set here. r0 is left in `lo[0]`/`hi[0]`; nothing is allocated on the way.
   */
  exec(prog: Program): void {
    // The compiled tier (src/vm/compiler.ts), when the program has one. The loop is a function of
    // its own: V8 compiles a function whole on its first call, and the compiled tier never needs
    // the loop's (a millisecond and more of a process's first run).
    const jit = prog.jit;
    if (jit !== undefined) jit.enter(this);
    else this.interpret(prog);
  }

  /**
   * As {@link exec}, with r0 and r2..r9 zero and r1 as set (the kernel's entry state for a
   * verified program); the compiled tier then needs not read them back.
   */
  execFresh(prog: Program): void {
    const jit = prog.jit;
    if (jit !== undefined) {
      jit.enter(this, true);
      return;
    }
    const L = this.lo;
    const H = this.hi;
    for (let r = 0; r < 10; r++) {
      if (r === 1) continue;
      L[r] = 0;
      H[r] = 0;
    }
    this.interpret(prog);
  }

  /** The interpreter loop of {@link exec}. */
  private interpret(prog: Program): void {
    const L = this.lo;
    const H = this.hi;
    const mem = this.memory;
    const stacks = this.stacks;
    const regions = mem.regions;
    let p = prog;
    let precise = false;
    let code = p.code;
    let off = p.off;
    let imm = p.imm;
    let tgt = p.tgt;
    let frame = 0;
    let pc = 0;
    const budget = this.budget;
    // `left` counts down in small-integer range (fast); `reserve` holds the rest of a big budget.
    // Each block is charged on entry; `bs`/`blen` (its first slot and length) let a fault inside
    // it give back what did not run.
    let reserve = budget;
    let left = Math.min(reserve, CHUNK);
    reserve -= left;
    let bs = 0;
    let blen = 0;
    this.tailCalls = 0;
    this.pending = PENDING_NONE;
    this.current = p;
    const stack0 = stacks[0] as Region;
    clearFrame(stack0);
    H[10] = stack0.hi;
    L[10] = REGION_LO_BASE + STACK_SIZE;
    try {
      for (;;) {
        let c = code[pc] as number;
        if (c >= 0x0100_0000) {
          const bl = c >>> 24;
          if (left < bl) {
            if (reserve > 0) {
              const add = Math.min(reserve, CHUNK - MAX_BLOCK - 1);
              left += add;
              reserve -= add;
            }
            if (left < bl && !precise) {
              // Too little budget for the whole block: from here on, one instruction at a time.
              precise = true;
              code = preciseCode(p);
              c = code[pc] as number;
            }
            if (left < 1) {
              bs = pc;
              blen = 0;
              left = 0;
              throw vmFault("budget", `instruction budget of ${budget} exhausted`, {
                hint: "the program loops, or raise the interpreter's budget",
              });
            }
          }
          const cl = c >>> 24;
          left -= cl;
          bs = pc;
          blen = cl;
        }
        const o = c & 0xffff;
        const d = (c >>> 16) & 15;
        const s = (c >>> 20) & 15;
        switch (o) {
          // ---- ALU64 ----
          case 0x07: {
            const bl = imm[pc] as number;
            const sum = ((L[d] as number) >>> 0) + (bl >>> 0);
            L[d] = sum | 0;
            H[d] = ((H[d] as number) + (bl >> 31) + (sum > 0xffffffff ? 1 : 0)) | 0;
            pc++;
            continue;
          }
          case 0x0f: {
            const sum = ((L[d] as number) >>> 0) + ((L[s] as number) >>> 0);
            L[d] = sum | 0;
            H[d] = ((H[d] as number) + (H[s] as number) + (sum > 0xffffffff ? 1 : 0)) | 0;
            pc++;
            continue;
          }
          case 0x17: {
            const bl = imm[pc] as number;
            const diff = ((L[d] as number) >>> 0) - (bl >>> 0);
            L[d] = diff | 0;
            H[d] = ((H[d] as number) - (bl >> 31) - (diff < 0 ? 1 : 0)) | 0;
            pc++;
            continue;
          }
          case 0x1f: {
            const diff = ((L[d] as number) >>> 0) - ((L[s] as number) >>> 0);
            L[d] = diff | 0;
            H[d] = ((H[d] as number) - (H[s] as number) - (diff < 0 ? 1 : 0)) | 0;
            pc++;
            continue;
          }
          case 0x27:
          case 0x2f: {
            const bl = o === 0x27 ? (imm[pc] as number) : (L[s] as number);
            const bh = o === 0x27 ? bl >> 31 : (H[s] as number);
            const al = L[d] as number;
            const ah = H[d] as number;
            L[d] = Math.imul(al, bl);
            H[d] = (mulHiU32(al, bl) + Math.imul(ah, bl) + Math.imul(al, bh)) | 0;
            pc++;
            continue;
          }
          case 0x37:
          case 0x3f:
          case 0x97:
          case 0x9f:
          case 0x137:
          case 0x13f:
          case 0x197:
          case 0x19f: {
            const k = (o & 8) === 0;
            const bl = k ? (imm[pc] as number) : (L[s] as number);
            const bh = k ? bl >> 31 : (H[s] as number);
            divmod64(L, H, d, bl, bh, (o & 0xf0) === 0x90, o > 0xff);
            pc++;
            continue;
          }
          case 0x47:
          case 0x4f: {
            const bl = o === 0x47 ? (imm[pc] as number) : (L[s] as number);
            const bh = o === 0x47 ? bl >> 31 : (H[s] as number);
            L[d] = (L[d] as number) | bl;
            H[d] = (H[d] as number) | bh;
            pc++;
            continue;
          }
          case 0x57:
          case 0x5f: {
            const bl = o === 0x57 ? (imm[pc] as number) : (L[s] as number);
            const bh = o === 0x57 ? bl >> 31 : (H[s] as number);
            L[d] = (L[d] as number) & bl;
            H[d] = (H[d] as number) & bh;
            pc++;
            continue;
          }
          case 0xa7:
          case 0xaf: {
            const bl = o === 0xa7 ? (imm[pc] as number) : (L[s] as number);
            const bh = o === 0xa7 ? bl >> 31 : (H[s] as number);
            L[d] = (L[d] as number) ^ bl;
            H[d] = (H[d] as number) ^ bh;
            pc++;
            continue;
          }
          case 0x67:
          case 0x6f: {
            const n = (o === 0x67 ? (imm[pc] as number) : (L[s] as number)) & 63;
            const al = L[d] as number;
            if (n >= 32) {
              H[d] = al << (n - 32);
              L[d] = 0;
            } else if (n !== 0) {
              H[d] = ((H[d] as number) << n) | (al >>> (32 - n));
              L[d] = al << n;
            }
            pc++;
            continue;
          }
          case 0x77:
          case 0x7f: {
            const n = (o === 0x77 ? (imm[pc] as number) : (L[s] as number)) & 63;
            const ah = H[d] as number;
            if (n >= 32) {
              L[d] = ah >>> (n - 32);
              H[d] = 0;
            } else if (n !== 0) {
              L[d] = ((L[d] as number) >>> n) | (ah << (32 - n));
              H[d] = ah >>> n;
            }
            pc++;
            continue;
          }
          case 0xc7:
          case 0xcf: {
            const n = (o === 0xc7 ? (imm[pc] as number) : (L[s] as number)) & 63;
            const ah = H[d] as number;
            if (n >= 32) {
              L[d] = ah >> (n - 32);
              H[d] = ah >> 31;
            } else if (n !== 0) {
              L[d] = ((L[d] as number) >>> n) | (ah << (32 - n));
              H[d] = ah >> n;
            }
            pc++;
            continue;
          }
          case 0x87: {
            const al = L[d] as number;
            L[d] = -al | 0;
            H[d] = (~(H[d] as number) + (al === 0 ? 1 : 0)) | 0;
            pc++;
            continue;
          }
          case 0xb7: {
            const v = imm[pc] as number;
            L[d] = v;
            H[d] = v >> 31;
            pc++;
            continue;
          }
          case 0xbf:
            L[d] = L[s] as number;
            H[d] = H[s] as number;
            pc++;
            continue;
          case 0x1bf: {
            const w = off[pc] as number;
            const v = L[s] as number;
            const x = w === 8 ? (v << 24) >> 24 : w === 16 ? (v << 16) >> 16 : v;
            L[d] = x;
            H[d] = x >> 31;
            pc++;
            continue;
          }
          case 0xd7:
          case 0xdc: {
            const w = imm[pc] as number;
            const v = L[d] as number;
            if (w === 16) {
              L[d] = bswap16(v);
              H[d] = 0;
            } else if (w === 32) {
              L[d] = bswap32(v);
              H[d] = 0;
            } else {
              L[d] = bswap32(H[d] as number);
              H[d] = bswap32(v);
            }
            pc++;
            continue;
          }
          case 0xd4: {
            const w = imm[pc] as number;
            if (w === 16) {
              L[d] = (L[d] as number) & 0xffff;
              H[d] = 0;
            } else if (w === 32) H[d] = 0;
            pc++;
            continue;
          }
          // ---- ALU32: results zero-extend ----
          case 0x04:
          case 0x0c:
            L[d] = ((L[d] as number) + (o === 0x04 ? (imm[pc] as number) : (L[s] as number))) | 0;
            H[d] = 0;
            pc++;
            continue;
          case 0x14:
          case 0x1c:
            L[d] = ((L[d] as number) - (o === 0x14 ? (imm[pc] as number) : (L[s] as number))) | 0;
            H[d] = 0;
            pc++;
            continue;
          case 0x24:
          case 0x2c:
            L[d] = Math.imul(L[d] as number, o === 0x24 ? (imm[pc] as number) : (L[s] as number));
            H[d] = 0;
            pc++;
            continue;
          case 0x34:
          case 0x3c: {
            const b = (o === 0x34 ? (imm[pc] as number) : (L[s] as number)) >>> 0;
            L[d] = b === 0 ? 0 : Math.floor(((L[d] as number) >>> 0) / b) | 0;
            H[d] = 0;
            pc++;
            continue;
          }
          case 0x94:
          case 0x9c: {
            const b = (o === 0x94 ? (imm[pc] as number) : (L[s] as number)) >>> 0;
            if (b !== 0) L[d] = (((L[d] as number) >>> 0) % b) | 0;
            H[d] = 0;
            pc++;
            continue;
          }
          case 0x134:
          case 0x13c: {
            const b = o === 0x134 ? (imm[pc] as number) : (L[s] as number);
            const a = L[d] as number;
            // INT_MIN / -1 overflows to 2^31, which |0 wraps back to INT_MIN as the kernel does.
            L[d] = b === 0 ? 0 : Math.trunc(a / b) | 0;
            H[d] = 0;
            pc++;
            continue;
          }
          case 0x194:
          case 0x19c: {
            const b = o === 0x194 ? (imm[pc] as number) : (L[s] as number);
            if (b !== 0) L[d] = ((L[d] as number) % b) | 0;
            H[d] = 0;
            pc++;
            continue;
          }
          case 0x44:
          case 0x4c:
            L[d] = (L[d] as number) | (o === 0x44 ? (imm[pc] as number) : (L[s] as number));
            H[d] = 0;
            pc++;
            continue;
          case 0x54:
          case 0x5c:
            L[d] = (L[d] as number) & (o === 0x54 ? (imm[pc] as number) : (L[s] as number));
            H[d] = 0;
            pc++;
            continue;
          case 0xa4:
          case 0xac:
            L[d] = (L[d] as number) ^ (o === 0xa4 ? (imm[pc] as number) : (L[s] as number));
            H[d] = 0;
            pc++;
            continue;
          case 0x64:
          case 0x6c:
            L[d] = (L[d] as number) << (o === 0x64 ? (imm[pc] as number) : (L[s] as number));
            H[d] = 0;
            pc++;
            continue;
          case 0x74:
          case 0x7c:
            L[d] = (L[d] as number) >>> (o === 0x74 ? (imm[pc] as number) : (L[s] as number));
            H[d] = 0;
            pc++;
            continue;
          case 0xc4:
          case 0xcc:
            L[d] = (L[d] as number) >> (o === 0xc4 ? (imm[pc] as number) : (L[s] as number));
            H[d] = 0;
            pc++;
            continue;
          case 0x84:
            L[d] = -(L[d] as number) | 0;
            H[d] = 0;
            pc++;
            continue;
          case 0xb4:
            L[d] = imm[pc] as number;
            H[d] = 0;
            pc++;
            continue;
          case 0xbc:
            L[d] = L[s] as number;
            H[d] = 0;
            pc++;
            continue;
          case 0x1bc: {
            const v = L[s] as number;
            L[d] = (off[pc] as number) === 8 ? (v << 24) >> 24 : (v << 16) >> 16;
            H[d] = 0;
            pc++;
            continue;
          }
          // ---- lddw ----
          case 0x18:
            L[d] = imm[pc] as number;
            H[d] = p.imm2[pc] as number;
            pc += 2;
            continue;
          // ---- loads ----
          case 0x61: {
            const r = regions[((H[s] as number) - HI0) >>> 0];
            const i = ((((L[s] as number) + (off[pc] as number)) | 0) >>> 0) - REGION_LO_BASE;
            if (r === undefined || i < r.start || i + 4 > r.end) {
              throw mem.resolve(H[s] as number, ((L[s] as number) + (off[pc] as number)) | 0, 4, false);
            }
            if (r.onLoad !== undefined) hookedLoad(r, i, 4, L, H, d);
            else {
              L[d] = r.view.getInt32(i, true);
              H[d] = 0;
            }
            pc++;
            continue;
          }
          case 0x69: {
            const r = regions[((H[s] as number) - HI0) >>> 0];
            const i = ((((L[s] as number) + (off[pc] as number)) | 0) >>> 0) - REGION_LO_BASE;
            if (r === undefined || i < r.start || i + 2 > r.end) {
              throw mem.resolve(H[s] as number, ((L[s] as number) + (off[pc] as number)) | 0, 2, false);
            }
            if (r.onLoad !== undefined) hookedLoad(r, i, 2, L, H, d);
            else {
              L[d] = r.view.getUint16(i, true);
              H[d] = 0;
            }
            pc++;
            continue;
          }
          case 0x71: {
            const r = regions[((H[s] as number) - HI0) >>> 0];
            const i = ((((L[s] as number) + (off[pc] as number)) | 0) >>> 0) - REGION_LO_BASE;
            if (r === undefined || i < r.start || i + 1 > r.end) {
              throw mem.resolve(H[s] as number, ((L[s] as number) + (off[pc] as number)) | 0, 1, false);
            }
            if (r.onLoad !== undefined) hookedLoad(r, i, 1, L, H, d);
            else {
              L[d] = r.view.getUint8(i);
              H[d] = 0;
            }
            pc++;
            continue;
          }
          case 0x79: {
            const r = regions[((H[s] as number) - HI0) >>> 0];
            const i = ((((L[s] as number) + (off[pc] as number)) | 0) >>> 0) - REGION_LO_BASE;
            if (r === undefined || i < r.start || i + 8 > r.end) {
              throw mem.resolve(H[s] as number, ((L[s] as number) + (off[pc] as number)) | 0, 8, false);
            }
            if (r.onLoad !== undefined) hookedLoad(r, i, 8, L, H, d);
            else {
              L[d] = r.view.getInt32(i, true);
              H[d] = r.view.getInt32(i + 4, true);
            }
            pc++;
            continue;
          }
          case 0x81: {
            const r = regions[((H[s] as number) - HI0) >>> 0];
            const i = ((((L[s] as number) + (off[pc] as number)) | 0) >>> 0) - REGION_LO_BASE;
            if (r === undefined || i < r.start || i + 4 > r.end) {
              throw mem.resolve(H[s] as number, ((L[s] as number) + (off[pc] as number)) | 0, 4, false);
            }
            const v = r.view.getInt32(i, true);
            L[d] = v;
            H[d] = v >> 31;
            pc++;
            continue;
          }
          case 0x89: {
            const r = regions[((H[s] as number) - HI0) >>> 0];
            const i = ((((L[s] as number) + (off[pc] as number)) | 0) >>> 0) - REGION_LO_BASE;
            if (r === undefined || i < r.start || i + 2 > r.end) {
              throw mem.resolve(H[s] as number, ((L[s] as number) + (off[pc] as number)) | 0, 2, false);
            }
            const v = r.view.getInt16(i, true);
            L[d] = v;
            H[d] = v >> 31;
            pc++;
            continue;
          }
          case 0x91: {
            const r = regions[((H[s] as number) - HI0) >>> 0];
            const i = ((((L[s] as number) + (off[pc] as number)) | 0) >>> 0) - REGION_LO_BASE;
            if (r === undefined || i < r.start || i + 1 > r.end) {
              throw mem.resolve(H[s] as number, ((L[s] as number) + (off[pc] as number)) | 0, 1, false);
            }
            const v = r.view.getInt8(i);
            L[d] = v;
            H[d] = v >> 31;
            pc++;
            continue;
          }
          // ---- stores ----
          case 0x62:
          case 0x63: {
            const r = regions[((H[d] as number) - HI0) >>> 0];
            const i = ((((L[d] as number) + (off[pc] as number)) | 0) >>> 0) - REGION_LO_BASE;
            if (r === undefined || i < r.start || i + 4 > r.end || !r.writable) {
              throw mem.resolve(H[d] as number, ((L[d] as number) + (off[pc] as number)) | 0, 4, true);
            }
            if (i < r.dirtyFrom) r.dirtyFrom = i;
            r.view.setInt32(i, o === 0x62 ? (imm[pc] as number) : (L[s] as number), true);
            pc++;
            continue;
          }
          case 0x6a:
          case 0x6b: {
            const r = regions[((H[d] as number) - HI0) >>> 0];
            const i = ((((L[d] as number) + (off[pc] as number)) | 0) >>> 0) - REGION_LO_BASE;
            if (r === undefined || i < r.start || i + 2 > r.end || !r.writable) {
              throw mem.resolve(H[d] as number, ((L[d] as number) + (off[pc] as number)) | 0, 2, true);
            }
            if (i < r.dirtyFrom) r.dirtyFrom = i;
            r.view.setInt16(i, o === 0x6a ? (imm[pc] as number) : (L[s] as number), true);
            pc++;
            continue;
          }
          case 0x72:
          case 0x73: {
            const r = regions[((H[d] as number) - HI0) >>> 0];
            const i = ((((L[d] as number) + (off[pc] as number)) | 0) >>> 0) - REGION_LO_BASE;
            if (r === undefined || i < r.start || i + 1 > r.end || !r.writable) {
              throw mem.resolve(H[d] as number, ((L[d] as number) + (off[pc] as number)) | 0, 1, true);
            }
            if (i < r.dirtyFrom) r.dirtyFrom = i;
            r.view.setInt8(i, o === 0x72 ? (imm[pc] as number) : (L[s] as number));
            pc++;
            continue;
          }
          case 0x7a: {
            const r = regions[((H[d] as number) - HI0) >>> 0];
            const i = ((((L[d] as number) + (off[pc] as number)) | 0) >>> 0) - REGION_LO_BASE;
            if (r === undefined || i < r.start || i + 8 > r.end || !r.writable) {
              throw mem.resolve(H[d] as number, ((L[d] as number) + (off[pc] as number)) | 0, 8, true);
            }
            if (i < r.dirtyFrom) r.dirtyFrom = i;
            const v = imm[pc] as number;
            r.view.setInt32(i, v, true);
            r.view.setInt32(i + 4, v >> 31, true);
            pc++;
            continue;
          }
          case 0x7b: {
            const r = regions[((H[d] as number) - HI0) >>> 0];
            const i = ((((L[d] as number) + (off[pc] as number)) | 0) >>> 0) - REGION_LO_BASE;
            if (r === undefined || i < r.start || i + 8 > r.end || !r.writable) {
              throw mem.resolve(H[d] as number, ((L[d] as number) + (off[pc] as number)) | 0, 8, true);
            }
            if (i < r.dirtyFrom) r.dirtyFrom = i;
            r.view.setInt32(i, L[s] as number, true);
            r.view.setInt32(i + 4, H[s] as number, true);
            pc++;
            continue;
          }
          // ---- atomics ----
          case ATOMIC_W + A_ADD:
          case ATOMIC_W + A_OR:
          case ATOMIC_W + A_AND:
          case ATOMIC_W + A_XOR:
          case ATOMIC_W + A_ADD + A_FETCH:
          case ATOMIC_W + A_OR + A_FETCH:
          case ATOMIC_W + A_AND + A_FETCH:
          case ATOMIC_W + A_XOR + A_FETCH:
          case ATOMIC_W + A_XCHG:
          case ATOMIC_W + A_CMPXCHG:
            atomic32(mem, L, H, d, s, off[pc] as number, o - ATOMIC_W);
            pc++;
            continue;
          case ATOMIC_DW + A_ADD:
          case ATOMIC_DW + A_OR:
          case ATOMIC_DW + A_AND:
          case ATOMIC_DW + A_XOR:
          case ATOMIC_DW + A_ADD + A_FETCH:
          case ATOMIC_DW + A_OR + A_FETCH:
          case ATOMIC_DW + A_AND + A_FETCH:
          case ATOMIC_DW + A_XOR + A_FETCH:
          case ATOMIC_DW + A_XCHG:
          case ATOMIC_DW + A_CMPXCHG:
            atomic64(mem, L, H, d, s, off[pc] as number, o - ATOMIC_DW);
            pc++;
            continue;
          // ---- jumps ----
          case 0x05:
          case 0x06:
            pc = tgt[pc] as number;
            continue;
          case 0x15: {
            // jeq imm
            const al = L[d] as number;
            const ah = H[d] as number;
            const bl = imm[pc] as number;
            const bh = bl >> 31;
            pc = ah === bh && al === bl ? (tgt[pc] as number) : pc + 1;
            continue;
          }
          case 0x1d: {
            // jeq reg
            const al = L[d] as number;
            const ah = H[d] as number;
            const bl = L[s] as number;
            const bh = H[s] as number;
            pc = ah === bh && al === bl ? (tgt[pc] as number) : pc + 1;
            continue;
          }
          case 0x55: {
            // jne imm
            const al = L[d] as number;
            const ah = H[d] as number;
            const bl = imm[pc] as number;
            const bh = bl >> 31;
            pc = ah !== bh || al !== bl ? (tgt[pc] as number) : pc + 1;
            continue;
          }
          case 0x5d: {
            // jne reg
            const al = L[d] as number;
            const ah = H[d] as number;
            const bl = L[s] as number;
            const bh = H[s] as number;
            pc = ah !== bh || al !== bl ? (tgt[pc] as number) : pc + 1;
            continue;
          }
          case 0x25: {
            // jgt imm
            const al = L[d] as number;
            const ah = H[d] as number;
            const bl = imm[pc] as number;
            const bh = bl >> 31;
            pc = ah >>> 0 > bh >>> 0 || (ah === bh && al >>> 0 > bl >>> 0) ? (tgt[pc] as number) : pc + 1;
            continue;
          }
          case 0x2d: {
            // jgt reg
            const al = L[d] as number;
            const ah = H[d] as number;
            const bl = L[s] as number;
            const bh = H[s] as number;
            pc = ah >>> 0 > bh >>> 0 || (ah === bh && al >>> 0 > bl >>> 0) ? (tgt[pc] as number) : pc + 1;
            continue;
          }
          case 0x35: {
            // jge imm
            const al = L[d] as number;
            const ah = H[d] as number;
            const bl = imm[pc] as number;
            const bh = bl >> 31;
            pc = ah >>> 0 > bh >>> 0 || (ah === bh && al >>> 0 >= bl >>> 0) ? (tgt[pc] as number) : pc + 1;
            continue;
          }
          case 0x3d: {
            // jge reg
            const al = L[d] as number;
            const ah = H[d] as number;
            const bl = L[s] as number;
            const bh = H[s] as number;
            pc = ah >>> 0 > bh >>> 0 || (ah === bh && al >>> 0 >= bl >>> 0) ? (tgt[pc] as number) : pc + 1;
            continue;
          }
          case 0xa5: {
            // jlt imm
            const al = L[d] as number;
            const ah = H[d] as number;
            const bl = imm[pc] as number;
            const bh = bl >> 31;
            pc = ah >>> 0 < bh >>> 0 || (ah === bh && al >>> 0 < bl >>> 0) ? (tgt[pc] as number) : pc + 1;
            continue;
          }
          case 0xad: {
            // jlt reg
            const al = L[d] as number;
            const ah = H[d] as number;
            const bl = L[s] as number;
            const bh = H[s] as number;
            pc = ah >>> 0 < bh >>> 0 || (ah === bh && al >>> 0 < bl >>> 0) ? (tgt[pc] as number) : pc + 1;
            continue;
          }
          case 0xb5: {
            // jle imm
            const al = L[d] as number;
            const ah = H[d] as number;
            const bl = imm[pc] as number;
            const bh = bl >> 31;
            pc = ah >>> 0 < bh >>> 0 || (ah === bh && al >>> 0 <= bl >>> 0) ? (tgt[pc] as number) : pc + 1;
            continue;
          }
          case 0xbd: {
            // jle reg
            const al = L[d] as number;
            const ah = H[d] as number;
            const bl = L[s] as number;
            const bh = H[s] as number;
            pc = ah >>> 0 < bh >>> 0 || (ah === bh && al >>> 0 <= bl >>> 0) ? (tgt[pc] as number) : pc + 1;
            continue;
          }
          case 0x65: {
            // jsgt imm
            const al = L[d] as number;
            const ah = H[d] as number;
            const bl = imm[pc] as number;
            const bh = bl >> 31;
            pc = ah > bh || (ah === bh && al >>> 0 > bl >>> 0) ? (tgt[pc] as number) : pc + 1;
            continue;
          }
          case 0x6d: {
            // jsgt reg
            const al = L[d] as number;
            const ah = H[d] as number;
            const bl = L[s] as number;
            const bh = H[s] as number;
            pc = ah > bh || (ah === bh && al >>> 0 > bl >>> 0) ? (tgt[pc] as number) : pc + 1;
            continue;
          }
          case 0x75: {
            // jsge imm
            const al = L[d] as number;
            const ah = H[d] as number;
            const bl = imm[pc] as number;
            const bh = bl >> 31;
            pc = ah > bh || (ah === bh && al >>> 0 >= bl >>> 0) ? (tgt[pc] as number) : pc + 1;
            continue;
          }
          case 0x7d: {
            // jsge reg
            const al = L[d] as number;
            const ah = H[d] as number;
            const bl = L[s] as number;
            const bh = H[s] as number;
            pc = ah > bh || (ah === bh && al >>> 0 >= bl >>> 0) ? (tgt[pc] as number) : pc + 1;
            continue;
          }
          case 0xc5: {
            // jslt imm
            const al = L[d] as number;
            const ah = H[d] as number;
            const bl = imm[pc] as number;
            const bh = bl >> 31;
            pc = ah < bh || (ah === bh && al >>> 0 < bl >>> 0) ? (tgt[pc] as number) : pc + 1;
            continue;
          }
          case 0xcd: {
            // jslt reg
            const al = L[d] as number;
            const ah = H[d] as number;
            const bl = L[s] as number;
            const bh = H[s] as number;
            pc = ah < bh || (ah === bh && al >>> 0 < bl >>> 0) ? (tgt[pc] as number) : pc + 1;
            continue;
          }
          case 0xd5: {
            // jsle imm
            const al = L[d] as number;
            const ah = H[d] as number;
            const bl = imm[pc] as number;
            const bh = bl >> 31;
            pc = ah < bh || (ah === bh && al >>> 0 <= bl >>> 0) ? (tgt[pc] as number) : pc + 1;
            continue;
          }
          case 0xdd: {
            // jsle reg
            const al = L[d] as number;
            const ah = H[d] as number;
            const bl = L[s] as number;
            const bh = H[s] as number;
            pc = ah < bh || (ah === bh && al >>> 0 <= bl >>> 0) ? (tgt[pc] as number) : pc + 1;
            continue;
          }
          case 0x45: {
            // jset imm
            const al = L[d] as number;
            const ah = H[d] as number;
            const bl = imm[pc] as number;
            const bh = bl >> 31;
            pc = ((al & bl) | (ah & bh)) !== 0 ? (tgt[pc] as number) : pc + 1;
            continue;
          }
          case 0x4d: {
            // jset reg
            const al = L[d] as number;
            const ah = H[d] as number;
            const bl = L[s] as number;
            const bh = H[s] as number;
            pc = ((al & bl) | (ah & bh)) !== 0 ? (tgt[pc] as number) : pc + 1;
            continue;
          }
          case 0x16:
          case 0x1e: {
            // jeq32
            const al = L[d] as number;
            const bl = o === 0x16 ? (imm[pc] as number) : (L[s] as number);
            pc = al === bl ? (tgt[pc] as number) : pc + 1;
            continue;
          }
          case 0x56:
          case 0x5e: {
            // jne32
            const al = L[d] as number;
            const bl = o === 0x56 ? (imm[pc] as number) : (L[s] as number);
            pc = al !== bl ? (tgt[pc] as number) : pc + 1;
            continue;
          }
          case 0x26:
          case 0x2e: {
            // jgt32
            const al = L[d] as number;
            const bl = o === 0x26 ? (imm[pc] as number) : (L[s] as number);
            pc = al >>> 0 > bl >>> 0 ? (tgt[pc] as number) : pc + 1;
            continue;
          }
          case 0x36:
          case 0x3e: {
            // jge32
            const al = L[d] as number;
            const bl = o === 0x36 ? (imm[pc] as number) : (L[s] as number);
            pc = al >>> 0 >= bl >>> 0 ? (tgt[pc] as number) : pc + 1;
            continue;
          }
          case 0xa6:
          case 0xae: {
            // jlt32
            const al = L[d] as number;
            const bl = o === 0xa6 ? (imm[pc] as number) : (L[s] as number);
            pc = al >>> 0 < bl >>> 0 ? (tgt[pc] as number) : pc + 1;
            continue;
          }
          case 0xb6:
          case 0xbe: {
            // jle32
            const al = L[d] as number;
            const bl = o === 0xb6 ? (imm[pc] as number) : (L[s] as number);
            pc = al >>> 0 <= bl >>> 0 ? (tgt[pc] as number) : pc + 1;
            continue;
          }
          case 0x66:
          case 0x6e: {
            // jsgt32
            const al = L[d] as number;
            const bl = o === 0x66 ? (imm[pc] as number) : (L[s] as number);
            pc = al > bl ? (tgt[pc] as number) : pc + 1;
            continue;
          }
          case 0x76:
          case 0x7e: {
            // jsge32
            const al = L[d] as number;
            const bl = o === 0x76 ? (imm[pc] as number) : (L[s] as number);
            pc = al >= bl ? (tgt[pc] as number) : pc + 1;
            continue;
          }
          case 0xc6:
          case 0xce: {
            // jslt32
            const al = L[d] as number;
            const bl = o === 0xc6 ? (imm[pc] as number) : (L[s] as number);
            pc = al < bl ? (tgt[pc] as number) : pc + 1;
            continue;
          }
          case 0xd6:
          case 0xde: {
            // jsle32
            const al = L[d] as number;
            const bl = o === 0xd6 ? (imm[pc] as number) : (L[s] as number);
            pc = al <= bl ? (tgt[pc] as number) : pc + 1;
            continue;
          }
          case 0x46:
          case 0x4e: {
            // jset32
            const al = L[d] as number;
            const bl = o === 0x46 ? (imm[pc] as number) : (L[s] as number);
            pc = (al & bl) !== 0 ? (tgt[pc] as number) : pc + 1;
            continue;
          }
          // ---- calls ----
          case 0x85:
          case 0x8d: {
            this.pc = pc;
            this.executed = budget - reserve - left;
            let fn: HelperFn | undefined;
            if (o === 0x85) fn = p.helperAt[pc] as HelperFn;
            else {
              const id = (L[d] as number) >>> 0;
              fn = p.helpers(id);
              if (fn === undefined) {
                throw vmFault("unknown-helper", `callx to unknown ${helperName(id)} (id ${id})`);
              }
            }
            const ret = fn(this);
            if (ret !== undefined) {
              if (typeof ret === "number") {
                if (!Number.isSafeInteger(ret))
                  throw vmFault("helper", `helper returned ${ret}, not an integer`);
                L[0] = ret | 0;
                H[0] = Math.floor(ret / 0x1_0000_0000) | 0;
              } else {
                L[0] = loOf(ret);
                H[0] = hiOf(ret);
              }
            }
            if (this.pending !== PENDING_NONE) {
              const what = this.pending;
              this.pending = PENDING_NONE;
              if (what === PENDING_EXIT) return;
              p = this.nextProgram as Program;
              this.nextProgram = undefined;
              this.current = p;
              this.tailCalls++;
              code = precise ? preciseCode(p) : p.code;
              off = p.off;
              imm = p.imm;
              tgt = p.tgt;
              clearFrame(stacks[frame] as Region);
              pc = 0;
              continue;
            }
            pc++;
            continue;
          }
          case CALL_LOCAL: {
            if (frame + 1 >= RUNTIME_FRAMES) {
              throw vmFault("call-depth", `bpf-to-bpf call would need more than ${RUNTIME_FRAMES} frames`);
            }
            if (frame + 1 >= stacks.length) this.addStackFrame();
            const b = frame * 4;
            const sl = this.savedLo;
            const sh = this.savedHi;
            sl[b] = L[6] as number;
            sl[b + 1] = L[7] as number;
            sl[b + 2] = L[8] as number;
            sl[b + 3] = L[9] as number;
            sh[b] = H[6] as number;
            sh[b + 1] = H[7] as number;
            sh[b + 2] = H[8] as number;
            sh[b + 3] = H[9] as number;
            this.retPc[frame] = pc + 1;
            this.retProg[frame] = p;
            frame++;
            const st = stacks[frame] as Region;
            clearFrame(st);
            H[10] = st.hi;
            L[10] = REGION_LO_BASE + STACK_SIZE;
            pc = tgt[pc] as number;
            continue;
          }
          case 0x95: {
            if (frame === 0) {
              this.executed = budget - reserve - left;
              return;
            }
            frame--;
            const b = frame * 4;
            const sl = this.savedLo;
            const sh = this.savedHi;
            L[6] = sl[b] as number;
            L[7] = sl[b + 1] as number;
            L[8] = sl[b + 2] as number;
            L[9] = sl[b + 3] as number;
            H[6] = sh[b] as number;
            H[7] = sh[b + 1] as number;
            H[8] = sh[b + 2] as number;
            H[9] = sh[b + 3] as number;
            H[10] = (stacks[frame] as Region).hi;
            L[10] = REGION_LO_BASE + STACK_SIZE;
            pc = this.retPc[frame] as number;
            const back = this.retProg[frame] as Program;
            if (back !== p) {
              p = back;
              this.current = p;
              code = precise ? preciseCode(p) : p.code;
              off = p.off;
              imm = p.imm;
              tgt = p.tgt;
            }
            continue;
          }
          default:
            throw vmFault("bad-instruction", `opcode 0x${o.toString(16)} cannot be executed`);
        }
      }
    } catch (e) {
      // The block was charged in full: give back its instructions after the faulting one (the
      // faulting one counts, as it began). A budget fault sets blen 0 and charges nothing.
      const rest = blen === 0 ? 0 : (p.insnIndex[bs] as number) + blen - 1 - (p.insnIndex[pc] as number);
      this.executed = budget - reserve - left - rest;
      throw this.locate(e, p, pc);
    }
  }

  /** @internal Gives a fault its program, instruction and description (or wraps a foreign error). */
  locate(e: unknown, p: Program, pc: number): unknown {
    let f: VmFault;
    if (isTsbpfError(e)) {
      const ctx = { program: p.name, insn: pc };
      if (e.name !== "VmFault") return e.withContext(ctx);
      f = (e as VmFault).withContext(ctx);
    } else {
      const msg = e instanceof Error ? e.message : String(e);
      f = vmFault("helper", `helper failed: ${msg}`, { program: p.name, insn: pc });
      (f as { cause?: unknown }).cause = e;
    }
    if (p.describe !== undefined && f.instruction === undefined) {
      try {
        const desc = p.describe(pc);
        if (desc.text !== undefined) f.instruction = desc.text;
        if (desc.sourceLine !== undefined) f.sourceLine = desc.sourceLine;
      } catch {
        // A broken describer must not hide the fault itself.
      }
    }
    return f;
  }
}

/**
 * Zeroes a stack frame before a program (or callee) gets it, so reads of stack it did not write
 * are deterministic; only the part written since the last clear, which is usually a few bytes.
 */
export function clearFrame(st: Region): void {
  const b = st.bytes;
  const n = b.length;
  const from = st.dirtyFrom;
  if (from < n) {
    // A few bytes are zeroed faster by hand than by a call into fill().
    if (n - from <= 64) for (let i = from; i < n; i++) b[i] = 0;
    else b.fill(0, from);
    st.dirtyFrom = n;
  }
}

/** @internal 64-bit division and modulo of `L[d]:H[d]` by `bh:bl`, in place. */
export function divmod64(
  L: Int32Array,
  H: Int32Array,
  d: number,
  bl: number,
  bh: number,
  mod: boolean,
  signed: boolean,
): void {
  const al = L[d] as number;
  const ah = H[d] as number;
  if (bl === 0 && bh === 0) {
    // Division by zero gives 0; modulo by zero leaves dst alone.
    if (!mod) {
      L[d] = 0;
      H[d] = 0;
    }
    return;
  }
  if (!signed) {
    if (ah === 0 && bh === 0) {
      const a = al >>> 0;
      const b = bl >>> 0;
      L[d] = (mod ? a % b : Math.floor(a / b)) | 0;
      return;
    }
    const a = toU64(ah, al);
    const b = toU64(bh, bl);
    const r = mod ? a % b : a / b;
    L[d] = loOf(r);
    H[d] = hiOf(r);
    return;
  }
  if (ah === al >> 31 && bh === bl >> 31) {
    // Both fit in int32: the quotient (even INT_MIN / -1 = 2^31) is exact in a double.
    const r = mod ? al % bl : Math.trunc(al / bl);
    L[d] = r | 0;
    H[d] = r < 0 ? -1 : 0;
    return;
  }
  const a = toI64(ah, al);
  const b = toI64(bh, bl);
  // BigInt division truncates toward zero like C; INT64_MIN / -1 wraps back to INT64_MIN.
  const r = mod ? a % b : a / b;
  L[d] = loOf(r);
  H[d] = hiOf(r);
}

// The last two values a load hook returned and their words: hooks give the same pointers
// (data, data_end) run after run, and converting a bigint to words allocates.
// (Seeded with -1n and its true words, so a first hit is right too.)
let hookValA = -1n;
let hookLoA = -1;
let hookHiA = -1;
let hookValB = -1n;
let hookLoB = -1;
let hookHiB = -1;

/** @internal A load from a region with a load hook, into `L[d]`/`H[d]`. */
export function hookedLoad(
  r: Region,
  i: number,
  size: number,
  L: Int32Array,
  H: Int32Array,
  d: number,
): void {
  const v = (r.onLoad as LoadHook)(i, size);
  if (v !== undefined) {
    if (v === hookValA) {
      L[d] = hookLoA;
      H[d] = hookHiA;
    } else if (v === hookValB) {
      L[d] = hookLoB;
      H[d] = hookHiB;
    } else {
      const lo = loOf(v);
      const hi = hiOf(v);
      hookValB = hookValA;
      hookLoB = hookLoA;
      hookHiB = hookHiA;
      hookValA = v;
      hookLoA = lo;
      hookHiA = hi;
      L[d] = lo;
      H[d] = hi;
    }
    return;
  }
  const view = r.view;
  L[d] =
    size === 8 || size === 4
      ? view.getInt32(i, true)
      : size === 2
        ? view.getUint16(i, true)
        : view.getUint8(i);
  H[d] = size === 8 ? view.getInt32(i + 4, true) : 0;
}

/** @internal A 32-bit atomic operation (`kind` A_*) on `[dst + off]`, registers in `L`/`H`. */
export function atomic32(
  mem: Memory,
  L: Int32Array,
  H: Int32Array,
  d: number,
  s: number,
  off: number,
  kind: number,
): void {
  const r = mem.resolve(H[d] as number, ((L[d] as number) + off) | 0, 4, true);
  const i = mem.index;
  const old = r.view.getInt32(i, true);
  const v = L[s] as number;
  switch (kind) {
    case A_ADD:
    case A_ADD + A_FETCH:
      r.view.setInt32(i, (old + v) | 0, true);
      break;
    case A_OR:
    case A_OR + A_FETCH:
      r.view.setInt32(i, old | v, true);
      break;
    case A_AND:
    case A_AND + A_FETCH:
      r.view.setInt32(i, old & v, true);
      break;
    case A_XOR:
    case A_XOR + A_FETCH:
      r.view.setInt32(i, old ^ v, true);
      break;
    case A_XCHG:
      r.view.setInt32(i, v, true);
      break;
    default:
      // cmpxchg compares the low 32 bits of r0; r0 gets the old value, zero-extended.
      if (old === L[0]) r.view.setInt32(i, v, true);
      L[0] = old;
      H[0] = 0;
      return;
  }
  if (kind >= A_FETCH) {
    L[s] = old;
    H[s] = 0;
  }
}

/** @internal A 64-bit atomic operation, as {@link atomic32}. */
export function atomic64(
  mem: Memory,
  L: Int32Array,
  H: Int32Array,
  d: number,
  s: number,
  off: number,
  kind: number,
): void {
  const r = mem.resolve(H[d] as number, ((L[d] as number) + off) | 0, 8, true);
  const i = mem.index;
  const ol = r.view.getInt32(i, true);
  const oh = r.view.getInt32(i + 4, true);
  const vl = L[s] as number;
  const vh = H[s] as number;
  let nl = vl;
  let nh = vh;
  switch (kind) {
    case A_ADD:
    case A_ADD + A_FETCH: {
      const sum = (ol >>> 0) + (vl >>> 0);
      nl = sum | 0;
      nh = (oh + vh + (sum > 0xffffffff ? 1 : 0)) | 0;
      break;
    }
    case A_OR:
    case A_OR + A_FETCH:
      nl = ol | vl;
      nh = oh | vh;
      break;
    case A_AND:
    case A_AND + A_FETCH:
      nl = ol & vl;
      nh = oh & vh;
      break;
    case A_XOR:
    case A_XOR + A_FETCH:
      nl = ol ^ vl;
      nh = oh ^ vh;
      break;
    case A_XCHG:
      break;
    default:
      if (ol === L[0] && oh === H[0]) {
        r.view.setInt32(i, vl, true);
        r.view.setInt32(i + 4, vh, true);
      }
      L[0] = ol;
      H[0] = oh;
      return;
  }
  r.view.setInt32(i, nl, true);
  r.view.setInt32(i + 4, nh, true);
  if (kind >= A_FETCH) {
    L[s] = ol;
    H[s] = oh;
  }
}
