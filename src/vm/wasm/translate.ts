import { type Program, sharedConstants } from "../interpreter.js";
import { HelperId } from "../../abi/helper-id.js";
import { MAP_POINTER_HI, MAX_TAIL_CALL_CNT } from "../helpers.js";
import { Bytes, encodeModule, type FuncSpec, I32, I64, Op, VOID } from "./encoder.js";
import {
  CHAIN,
  CHAIN_N,
  CHAIN_STALE,
  CTX_N,
  CTX_PTR,
  DEOPT,
  NEED_JS,
  OUT_STATUS,
  OUT_TAILCALLS,
  PROG_CACHE,
  PROG_CACHE_SLOTS,
  TAIL_INLINE,
  E_BASE,
  E_DIRTY,
  E_END,
  E_HOOK,
  E_START,
  E_WORDS,
  E_WRITABLE,
  ENTRY_SHIFT,
  FAST_CTX_HI,
  FAST_CTX_LIMIT,
  FAST_CTX_WORDS,
  FAST_PKT_BASE,
  FAST_PKT_END,
  FAST_PKT_HI,
  FAST_PKT_START,
  MAP_CACHE,
  MAP_CACHE_SLOTS,
  FLAG_FRESH,
  FRAME_SIZE,
  FRAMES,
  HI0,
  LO_BASE,
  LO_TOP,
  OUT_FRAME,
  OUT_LEFT,
  OUT_MAXFRAME,
  OUT_NEXT,
  OUT_PC,
  OUT_PROG,
  OUT_RUNS,
  PAGES,
  PKT_ABS,
  PKT_LIM,
  PKT_PTR,
  REGS_HI,
  REGS_LO,
  RET_PC,
  RET_PROG,
  SAVED_HI,
  SAVED_LO,
  SCRATCH,
  STACK_HI,
  STACKS,
  Status,
  TABLE,
  TABLE_REGIONS,
} from "./layout.js";

/**
 * Translates a validated, pre-decoded {@link Program} into one WebAssembly function:
 *
 *   block $exit  loop $top  block $b[N-1] ... block $b0  block $default
 *     br_table (by slot) → the label after which block m's code starts
 *   end  (bad slot: resume in JS)  end  code of block 0  end  code of block 1 ... end  end
 *   (store every register, where to go on) return status
 *
 * A forward jump is a `br` straight to its block's code; a backward one (a loop) sets the slot and
 * goes through the `br_table` at the top. Registers are i64 locals. The budget is charged per
 * block on entry as the interpreter charges it; a block the budget cannot cover, a fault, and what
 * the wasm tier does not translate (atomics, callx) hand the run to the JavaScript tier at that
 * instruction (its precise variant), with the registers, frames and budget, so the fault, its
 * message and the instruction count are that tier's — which the tests hold to the interpreter's.
 */

const { ATOMIC_W, ATOMIC_DW, CALL_LOCAL } = sharedConstants();

// Parameters and locals.
const P_ENTRY = 0;
const P_FRAME = 1;
const P_LEFT = 2;
const P_FLAGS = 3;
const P_SELF = 4;
const R0 = 5; // r0..r10: locals 5..15
const L_PC = 16;
const L_FBASE = 17;
const L_T = 18; // region entry
const L_X = 19; // byte index
const L_V = 20; // low address word / scratch
const L_ST = 21; // status
const L_WHO = 22; // program to go on in
const L_A = 23; // i64 scratch
const L_B = 24; // i64 scratch
/** The body's parameters: entry, frame, left, flags, self, then r0..r9 (locals 5..14). */
const BODY_PARAMS = [I32, I32, I32, I32, I32, ...Array(10).fill(I64)];
/** The body's locals: r10, then the scratch locals above. */
const LOCALS = [I64, I32, I32, I32, I32, I32, I32, I32, I64, I64, I64, I32, I32, I32];
// The element the last inline array lookup found (-1: none since the last call into JavaScript):
const L_P0 = 25; // the pointer it returned (i64)
const L_A0 = 26; // the element's address in linear memory
const L_S0 = 27; // its value size
const L_W0 = 28; // 1 when stores to it are allowed

// Imported functions.
const F_CALL = 0; // (slot, left, frame) -> 0 go on, 1 end the run, 2 tail call, 3 tail call in wasm
const F_LOAD = 1; // (hi, lo, size, signed) -> ok; value at SCRATCH
const F_STORE = 2; // (hi, lo, size, vlo, vhi) -> ok

/** The imports a translated module needs, in order. */
export const IMPORTS = [
  { name: "call", type: { params: [I32, I32, I32], results: [I32] } },
  { name: "load", type: { params: [I32, I32, I32, I32], results: [I32] } },
  { name: "store", type: { params: [I32, I32, I32, I32, I32], results: [I32] } },
] as const;

/** A structured program's loops (header block → last block of the loop) and forward targets' scopes. */
interface Plan {
  tailOf: Map<number, number>;
  /** Forward-branch target block → header of the loop its block opens in (-1: the function). */
  scopeOf: Map<number, number>;
  /**
   * The blocks in the order they are emitted (all of them in slot order, or for a program
   * without cycles the reachable ones in a topological order: see {@link Translator.acyclic}).
   * Labels, `tailOf` and `scopeOf` are in positions of this order.
   */
  order: number[];
}

/** An open label of the structured mode: a loop (at its header) or a block ending before block `at`. */
interface Label {
  loop: boolean;
  at: number;
  tail?: number;
}

/** What {@link translateProgram} gives. */
export interface Translation {
  bytes: Uint8Array;
  /** Per slot: block index (-1 inside a block). */
  blockOf: Int32Array;
  /** Whether the module also exports the general variant (`bodyG`, `runG`, `manyG`). */
  general: boolean;
}

/** The body's type. */
const BODY_TYPE = { params: BODY_PARAMS, results: [I32] };

/**
 * The wasm module of `p`, exporting `body`, `run(entry, frame, left, flags, self) -> status`
 * and `many(n, left, self) -> runs` (see {@link repeatLoop}). When its loops access memory
 * through registers, that body is the loop-fast variant: each such access inside a loop checks
 * for the XDP packet only, and anything else leaves for the JS tier at that instruction with
 * DEOPT set (see {@link Translator.load}); the module then also exports the general variant as
 * `bodyG`, `runG` and `manyG`, which the wasm tier switches the program to for later runs.
 */
export function translateProgram(p: Program): Translation {
  const fast = new Translator(p, true);
  const body = fast.body();
  const funcs = (b: Bytes, suffix: string, at: number) => [
    { name: `body${suffix}`, type: BODY_TYPE, locals: LOCALS, body: b },
    {
      name: `run${suffix}`,
      type: { params: [I32, I32, I32, I32, I32], results: [I32] },
      locals: [],
      body: runEntry(at),
    },
    {
      name: `many${suffix}`,
      type: { params: [I32, I32, I32], results: [I32] },
      locals: [I32, I32, I32, I32],
      body: repeatLoop(at),
    },
  ];
  const list = funcs(body, "", IMPORTS.length);
  const general = fast.deopts > 0;
  if (general) list.push(...funcs(new Translator(p, false).body(), "G", IMPORTS.length + 3));
  const [func, ...more] = list;
  const bytes = encodeModule({ imports: IMPORTS, memoryPages: PAGES, func: func as FuncSpec, more });
  return { bytes, blockOf: fast.blockOf, general };
}

/**
 * `run(entry, frame, left, flags, self)`, the entry JavaScript calls: the body with r0..r9 from
 * the register file (r0 and r2..r9 zero when `flags` has {@link FLAG_FRESH}).
 */
function runEntry(body: number): Bytes {
  const b = new Bytes();
  const get = (l: number) => b.byte(Op.localGet).u32(l);
  for (let l = 0; l < 5; l++) get(l);
  for (let r = 0; r <= 9; r++) {
    b.byte(Op.i32Const).s32(0);
    b.byte(Op.i64Load32U)
      .u32(2)
      .u32(REGS_LO + 4 * r);
    b.byte(Op.i32Const).s32(0);
    b.byte(Op.i64Load32U)
      .u32(2)
      .u32(REGS_HI + 4 * r);
    b.byte(Op.i64Const).s64(32n);
    b.byte(Op.i64Shl);
    b.byte(Op.i64Or);
    if (r === 1) continue;
    b.byte(Op.i64Const).s64(0n);
    get(P_FLAGS);
    b.byte(Op.i32Const).s32(FLAG_FRESH);
    b.byte(Op.i32And);
    b.byte(Op.i32Eqz);
    b.byte(Op.select);
  }
  b.byte(Op.call).u32(body);
  b.byte(Op.end);
  return b;
}

/**
 * `many(n, left, self)`: runs the program up to `n` times from its start on the same context, as
 * BPF_PROG_TEST_RUN repeats a run: each run with r1 as the register file held it when `many` was
 * called and the other registers zero, a fresh tail-call count and chain, and `left` budget.
 * Returns the runs begun, and keeps the one under way (from 1) at OUT_RUNS, for when a run
 * throws; it stops early after a run that did not end in WebAssembly (its status
 * at OUT_STATUS: JavaScript goes on with it) or that ran a helper in JavaScript (NEED_JS: what
 * that helper left — records, value regions — is the caller's to release between runs).
 */
function repeatLoop(body: number): Bytes {
  const b = new Bytes();
  const [N, LEFT, SELF, I, ST, R1L, R1H] = [0, 1, 2, 3, 4, 5, 6];
  const get = (l: number) => b.byte(Op.localGet).u32(l);
  const set = (l: number) => b.byte(Op.localSet).u32(l);
  const c = (v: number) => b.byte(Op.i32Const).s32(v);
  const store = (at: number) => b.byte(Op.i32Store).u32(2).u32(at);
  const load = (at: number) => b.byte(Op.i32Load).u32(2).u32(at);
  c(0);
  load(REGS_LO + 4);
  set(R1L);
  c(0);
  load(REGS_HI + 4);
  set(R1H);
  c(0);
  c(0);
  store(NEED_JS);
  b.byte(Op.block).byte(VOID);
  b.byte(Op.loop).byte(VOID);
  c(0);
  get(I);
  c(1);
  b.byte(Op.i32Add);
  store(OUT_RUNS);
  c(0);
  c(0);
  store(OUT_TAILCALLS);
  c(0);
  c(0);
  store(CHAIN_N);
  c(0);
  c(1);
  store(CHAIN_STALE);
  c(0);
  c(0);
  get(LEFT);
  c(0);
  get(SELF);
  for (let r = 0; r <= 9; r++) {
    if (r !== 1) {
      b.byte(Op.i64Const).s64(0n);
      continue;
    }
    get(R1L);
    b.byte(Op.i64ExtendI32U);
    get(R1H);
    b.byte(Op.i64ExtendI32U);
    b.byte(Op.i64Const).s64(32n);
    b.byte(Op.i64Shl);
    b.byte(Op.i64Or);
  }
  b.byte(Op.call).u32(body);
  set(ST);
  get(I);
  c(1);
  b.byte(Op.i32Add);
  set(I);
  get(ST);
  b.byte(Op.brIf).u32(1);
  c(0);
  load(NEED_JS);
  b.byte(Op.brIf).u32(1);
  get(I);
  get(N);
  b.byte(Op.i32LtU);
  b.byte(Op.brIf).u32(0);
  b.byte(Op.end);
  b.byte(Op.end);
  c(0);
  get(ST);
  store(OUT_STATUS);
  get(I);
  b.byte(Op.end);
  return b;
}

class Translator {
  private readonly b = new Bytes();
  private readonly n: number;
  private readonly blockStart: number[] = [];
  readonly blockOf: Int32Array;
  /** Per slot: instructions of its block from it to the block's end (it included). */
  private readonly tail: Int32Array;
  /** Lowest stack byte index any r10-relative store writes (FRAME_SIZE when none). */
  private minR10 = FRAME_SIZE;
  /** Whether control flow is structured (see {@link structure}) rather than a dispatch loop. */
  private structured = false;
  /** The structured mode's open labels, outermost first. */
  private readonly labels: Label[] = [];
  /**
   * Per register, what the current block has made it so far: a constant (`c`, u64) or r10 plus
   * a constant (`fp`); undefined when not known. Lets a helper call use what its arguments
   * provably are (a map pointer from `lddw`, a key on the stack).
   */
  private readonly known: ({ c: bigint } | { fp: number } | undefined)[] = new Array(11).fill(undefined);
  /** Per register, in the current block: 1 when it is the entry block's r1 or a copy of it (likely the context). */
  private readonly ctxAlias = new Uint8Array(11);
  /** Per slot of a load or store: 1 when its base register likely holds a lookup's result (see {@link viaLookup}). */
  private lookedUp: Uint8Array = new Uint8Array(0);
  /** Per block: its position in the structured mode's order (see Plan.order). */
  private readonly pos: Int32Array = new Int32Array(0);
  /** Instructions of a loop-free structured body (-1: it has loops, or is not structured). */
  private loopFree = -1;
  /**
   * Per block of a structured body with loops: the budget its entry checks (-1: its own length).
   * An innermost loop's header checks for every block of the loop, whose others check nothing:
   * one pass through the loop runs each of them at most once.
   */
  private guards: Int32Array | undefined;
  /** Current block and extra nesting, for branch depths. */
  private k = 0;
  private e = 0;

  /** Accesses the loop-fast variant leaves to the JS tier when not in the packet (see {@link load}). */
  deopts = 0;
  /** Per block of a structured body: 1 when it is inside a loop. */
  private inLoop: Uint8Array = new Uint8Array(0);

  /** `fast`: the loop-fast variant (see {@link translateProgram}). */
  constructor(
    private readonly p: Program,
    private readonly fast = false,
  ) {
    this.n = p.length;
    this.blockOf = new Int32Array(this.n + 1).fill(-1);
    this.pos = new Int32Array(this.n + 1);
    this.tail = new Int32Array(this.n + 1);
  }

  /** The body function's code (see {@link translateProgram}). */
  body(): Bytes {
    const p = this.p;
    const code = p.code;
    for (let i = 0; i < this.n; ) {
      const bl = (code[i] as number) >>> 24;
      this.blockOf[i] = this.blockStart.length;
      this.blockStart.push(i);
      const first = p.insnIndex[i] as number;
      let j = i;
      for (let c = 0; c < bl; c++) {
        this.tail[j] = first + bl - (p.insnIndex[j] as number);
        const c0 = code[j] as number;
        const o = c0 & 0xffff;
        if ((o & 7) === 0x03 || (o & 7) === 0x02 || (o & 0xfff0) === ATOMIC_W || (o & 0xfff0) === ATOMIC_DW) {
          if (((c0 >>> 16) & 15) === 10)
            this.minR10 = Math.min(this.minR10, FRAME_SIZE + (p.off[j] as number));
        }
        j += o === 0x18 ? 2 : 1;
      }
      i = j;
    }
    const b = this.b;
    this.lookedUp = this.viaLookup();
    this.prologue();
    const plan = this.structure();
    if (plan !== undefined) this.emitStructured(plan);
    else this.emitDispatch();
    this.epilogue();
    b.byte(Op.end);
    return b;
  }

  /**
   * Which loads and stores go through what `bpf_map_lookup_elem` returned (r0, or a copy of it),
   * by a straight scan of the code in slot order: a guess only (control flow ignored), deciding
   * where {@link viaElement}'s check is worth emitting.
   */
  private viaLookup(): Uint8Array {
    const p = this.p;
    const code = p.code;
    const out = new Uint8Array(this.n);
    const kind = new Uint8Array(11);
    for (let i = 0; i < this.n; ) {
      const c = code[i] as number;
      const o = c & 0xffff;
      const d = (c >>> 16) & 15;
      const sr = (c >>> 20) & 15;
      const cls = o & 7;
      if (o === 0x18) {
        kind[d] = 0;
        i += 2;
        continue;
      }
      if (o < 0x100 && (cls === 0x01 || cls === 0x02 || cls === 0x03)) {
        out[i] = kind[cls === 0x01 ? sr : d] as number;
        if (cls === 0x01) kind[d] = 0;
      } else if (o === 0x85) {
        kind[0] = p.imm[i] === HelperId.map_lookup_elem ? 1 : 0;
        for (let r = 1; r <= 5; r++) kind[r] = 0;
      } else if (o === 0xbf) {
        kind[d] = kind[sr] as number;
      } else if (o < 0x100 && (cls === 0x04 || cls === 0x07)) {
        kind[d] = 0;
      } else if (o >= 0x100) kind.fill(0);
      i++;
    }
    return out;
  }

  /**
   * Pushes whether register `base` is the pointer the last inline lookup returned (L_P0) with
   * [off, off + size) inside its value (and, for a store, the value writable): then the access
   * goes to the element's address straight away (no region table). A region only goes away
   * through JavaScript, after which L_P0 is -1. False (nothing pushed) for a negative offset.
   */
  private viaElement(base: number, off: number, size: number, store: boolean): boolean {
    if (off < 0) return false;
    this.get(this.reg(base));
    this.get(L_P0);
    this.op(Op.i64Eq);
    this.i32c(off + size);
    this.get(L_S0);
    this.op(Op.i32LeU);
    this.op(Op.i32And);
    if (store) {
      this.get(L_W0);
      this.op(Op.i32And);
    }
    return true;
  }

  /**
   * After an inline lookup set r0 (not NULL) from the element's high word in L_V: L_P0, L_A0,
   * L_S0, L_W0 from its table entry (L_P0 -1 when the element is not in linear memory).
   */
  private stashElement(): void {
    // L_T = the element region's table entry (its id is below TABLE_REGIONS: recordLookup).
    this.get(L_V);
    this.i32c(HI0);
    this.op(Op.i32Sub);
    this.i32c(ENTRY_SHIFT);
    this.op(Op.i32Shl);
    this.i32c(TABLE);
    this.op(Op.i32Add);
    this.b.byte(Op.localTee).u32(L_T);
    this.mem(Op.i32Load, E_BASE);
    this.i32c(0);
    this.op(Op.i32GeS);
    this.open();
    this.get(this.reg(0));
    this.set(L_P0);
    this.get(L_T);
    this.mem(Op.i32Load, E_BASE);
    this.get(L_T);
    this.mem(Op.i32Load, E_START);
    this.op(Op.i32Add);
    this.set(L_A0);
    this.get(L_T);
    this.mem(Op.i32Load, E_END);
    this.get(L_T);
    this.mem(Op.i32Load, E_START);
    this.op(Op.i32Sub);
    this.set(L_S0);
    this.get(L_T);
    this.mem(Op.i32Load, E_WRITABLE);
    this.set(L_W0);
    this.op(Op.else);
    this.i64c(-1n);
    this.set(L_P0);
    this.close();
  }

  /**
   * The loops and forward-branch blocks of a program whose control flow WebAssembly can express
   * directly (no bpf-to-bpf calls, loops properly nested and entered at their header); undefined
   * otherwise (then the dispatch loop of {@link emitDispatch} runs it).
   */
  private structure(): Plan | undefined {
    const p = this.p;
    const code = p.code;
    const N = this.blockStart.length;
    const acyclic = this.acyclic();
    if (acyclic !== undefined) return acyclic;
    const edges: [number, number][] = [];
    for (let m = 0; m < N; m++) {
      const bs = this.blockStart[m] as number;
      const bl = (code[bs] as number) >>> 24;
      let last = bs;
      for (let c = 1; c < bl; c++) last += ((code[last] as number) & 0xffff) === 0x18 ? 2 : 1;
      const o = (code[last] as number) & 0xffff;
      if (o === CALL_LOCAL) return undefined;
      const cls = o & 7;
      if (o < 0x100 && (cls === 0x05 || cls === 0x06) && o !== 0x85 && o !== 0x95 && o !== 0x8d) {
        const t = p.tgt[last] as number;
        const tm = this.blockOf[t] as number;
        if (tm < 0) return undefined;
        edges.push([m, tm]);
      }
    }
    // Loops: header → last block jumping back to it.
    const tailOf = new Map<number, number>();
    for (const [from, to] of edges) if (to <= from) tailOf.set(to, Math.max(tailOf.get(to) ?? to, from));
    const loops = [...tailOf.entries()].sort((a, b) => a[0] - b[0]);
    for (let i = 0; i < loops.length; i++) {
      for (let j = i + 1; j < loops.length; j++) {
        const [_h1, t1] = loops[i] as [number, number];
        const [h2, t2] = loops[j] as [number, number];
        if (h2 <= t1 && t2 > t1) return undefined; // overlapping, not nested
      }
    }
    /** Innermost loop (by header) containing block m, excluding a loop headed at `not`; -1: none. */
    const innermost = (m: number, not: number): number => {
      let best = -1;
      for (const [h, t] of loops) if (h !== not && h <= m && m <= t && h > best) best = h;
      return best;
    };
    const scopeOf = new Map<number, number>();
    for (const [from, to] of edges) {
      if (to <= from) continue;
      const scope = tailOf.has(to) ? innermost(to, to) : innermost(to, -1);
      if (scope >= 0 && !(scope <= from && from <= (tailOf.get(scope) as number))) return undefined;
      scopeOf.set(to, scope);
    }
    return { tailOf, scopeOf, order: Array.from({ length: N }, (_, m) => m) };
  }

  /** Successors of block `m`: its jump's target block, and the next block when it falls through (-1 past the end). */
  private successors(m: number): { target: number; next: number | undefined } | undefined {
    const p = this.p;
    const code = p.code;
    const bs = this.blockStart[m] as number;
    const bl = (code[bs] as number) >>> 24;
    let last = bs;
    for (let c = 1; c < bl; c++) last += ((code[last] as number) & 0xffff) === 0x18 ? 2 : 1;
    const o = (code[last] as number) & 0xffff;
    if (o === CALL_LOCAL) return undefined;
    const cls = o & 7;
    let target = -1;
    if (o < 0x100 && (cls === 0x05 || cls === 0x06) && o !== 0x85 && o !== 0x95 && o !== 0x8d) {
      target = this.blockOf[p.tgt[last] as number] as number;
      if (target < 0) return undefined;
    }
    const ends = o === 0x05 || o === 0x06 || o === 0x95;
    const next = ends ? undefined : m + 1 < this.blockStart.length ? m + 1 : -1;
    return { target, next };
  }

  /**
   * For a program whose blocks form no cycle (no loop, though jumps may go backwards in slot
   * order, as compilers lay out shared exits): the blocks reachable from the entry in reverse
   * post-order (a block's fall-through successor right after it where possible), where every
   * jump goes forward. Undefined when there is a cycle or a bpf-to-bpf call.
   */
  private acyclic(): Plan | undefined {
    const N = this.blockStart.length;
    const succ: { target: number; next: number | undefined }[] = [];
    for (let m = 0; m < N; m++) {
      const s = this.successors(m);
      if (s === undefined) return undefined;
      succ.push(s);
    }
    // Iterative depth-first search from block 0: 1 on the stack, 2 done.
    const state = new Uint8Array(N);
    const post: number[] = [];
    const stack: [number, number][] = [[0, 0]];
    state[0] = 1;
    while (stack.length > 0) {
      const top = stack[stack.length - 1] as [number, number];
      const [m, k] = top;
      const s = succ[m] as { target: number; next: number | undefined };
      // Children: the jump target first, the fall-through last (it then follows m in the order).
      const kids = [s.target, s.next ?? -1];
      if (k < 2) {
        top[1] = k + 1;
        const c = kids[k] as number;
        if (c < 0) continue;
        if (state[c] === 1) return undefined; // a cycle
        if (state[c] === 0) {
          state[c] = 1;
          stack.push([c, 0]);
        }
        continue;
      }
      state[m] = 2;
      post.push(m);
      stack.pop();
    }
    const order = post.reverse();
    const pos = this.pos;
    order.forEach((m, i) => {
      pos[m] = i;
    });
    const scopeOf = new Map<number, number>();
    for (const m of order) {
      const s = succ[m] as { target: number; next: number | undefined };
      if (s.target >= 0) scopeOf.set(pos[s.target] as number, -1);
      if (s.next !== undefined && s.next >= 0 && pos[s.next] !== (pos[m] as number) + 1)
        scopeOf.set(pos[s.next] as number, -1);
    }
    return { tailOf: new Map(), scopeOf, order };
  }

  private emitStructured(plan: Plan): void {
    const b = this.b;
    const N = this.blockStart.length;
    this.structured = true;
    const order = plan.order;
    const pos = this.pos;
    order.forEach((m, i) => {
      pos[m] = i;
    });
    if (plan.tailOf.size === 0) {
      // No loop: a run of the body executes each block at most once, so one check on entry that
      // the budget covers them all stands for every block's (see block()).
      this.loopFree = 0;
      for (const m of order) this.loopFree += (this.p.code[this.blockStart[m] as number] as number) >>> 24;
    } else {
      // Blocks in slot order here (order is the identity when there are loops).
      const guards = new Int32Array(N).fill(-1);
      this.inLoop = new Uint8Array(N);
      for (const [h, t] of plan.tailOf) this.inLoop.fill(1, h, t + 1);
      const len = (m: number) => (this.p.code[this.blockStart[m] as number] as number) >>> 24;
      for (const [h, t] of plan.tailOf) {
        let inner = false;
        for (const h2 of plan.tailOf.keys()) if (h2 > h && h2 <= t) inner = true;
        if (inner) continue;
        let sum = 0;
        for (let m = h; m <= t; m++) {
          sum += len(m);
          if (m > h) guards[m] = 0;
        }
        guards[h] = sum;
      }
      this.guards = guards;
    }
    const labels = this.labels;
    labels.length = 0;
    b.byte(Op.block).byte(VOID);
    labels.push({ loop: false, at: -1 }); // $exit
    const openBlocks = (scope: number) => {
      const targets = [...plan.scopeOf.entries()].filter(([, sc]) => sc === scope).map(([t]) => t);
      targets.sort((x, y) => y - x);
      for (const t of targets) {
        b.byte(Op.block).byte(VOID);
        labels.push({ loop: false, at: t });
      }
    };
    openBlocks(-1);
    for (let m = 0; m < order.length; m++) {
      for (;;) {
        const top = labels[labels.length - 1] as Label;
        if (top.loop || top.at !== m) break;
        b.byte(Op.end);
        labels.pop();
      }
      if (labels.some((l) => !l.loop && l.at === m)) throw new Error(`block ${m}: misnested`);
      if (plan.tailOf.has(m)) {
        b.byte(Op.loop).byte(VOID);
        labels.push({ loop: true, at: m, tail: plan.tailOf.get(m) as number });
        openBlocks(m);
      }
      this.k = m;
      this.e = 0;
      const blk = order[m] as number;
      this.block(blk);
      // Falling through to the next block in slot order, when the order put another one here.
      const s = this.successors(blk);
      if (s?.next !== undefined && (s.next < 0 ? m !== order.length - 1 : pos[s.next] !== m + 1)) {
        if (s.next < 0) {
          this.i32c(this.n);
          this.set(L_PC);
          this.i32c(Status.resume);
          this.set(L_ST);
          b.byte(Op.br).u32(this.exitDepth);
        } else this.goto(this.blockStart[s.next] as number);
      }
      for (;;) {
        const top = labels[labels.length - 1] as Label;
        if (!top.loop || top.tail !== m) break;
        b.byte(Op.end);
        labels.pop();
      }
    }
    if (labels.length !== 1) throw new Error("unbalanced labels");
    this.i32c(this.n);
    this.set(L_PC);
    this.i32c(Status.resume);
    this.set(L_ST);
    b.byte(Op.end); // $exit
    labels.pop();
  }

  /** Depth of a label on the structured stack from here. */
  private labelDepth(loop: boolean, at: number): number {
    const labels = this.labels;
    for (let i = labels.length - 1; i >= 0; i--) {
      const l = labels[i] as Label;
      if (l.loop === loop && l.at === at) return labels.length - 1 - i + this.e;
    }
    throw new Error(`no label for ${loop ? "loop" : "block"} ${at}`);
  }

  private emitDispatch(): void {
    const b = this.b;
    const N = this.blockStart.length;
    b.byte(Op.block).byte(VOID); // $exit
    b.byte(Op.loop).byte(VOID); // $top
    for (let m = 0; m < N; m++) b.byte(Op.block).byte(VOID);
    b.byte(Op.block).byte(VOID); // $default
    this.get(L_PC);
    b.byte(Op.brTable).u32(this.n + 1);
    for (let s = 0; s <= this.n; s++) {
      const m = this.blockOf[s] as number;
      b.u32(m < 0 ? 0 : m + 1);
    }
    b.u32(0);
    b.byte(Op.end);
    // A slot that starts no block: the JS tier decides what that means.
    this.i32c(Status.resume);
    this.set(L_ST);
    b.byte(Op.br).u32(N + 1);
    for (let m = 0; m < N; m++) {
      b.byte(Op.end);
      this.k = m;
      this.e = 0;
      this.block(m);
    }
    b.byte(Op.end); // $top: falling out of it is falling off the program
    this.i32c(this.n);
    this.set(L_PC);
    this.i32c(Status.resume);
    this.set(L_ST);
    b.byte(Op.end); // $exit
  }

  // ---- small emitters ----
  private get(l: number): void {
    this.b.byte(Op.localGet).u32(l);
  }
  private set(l: number): void {
    this.b.byte(Op.localSet).u32(l);
  }
  private i32c(v: number): void {
    this.b.byte(Op.i32Const).s32(v);
  }
  private i64c(v: bigint): void {
    this.b.byte(Op.i64Const).s64(v);
  }
  private op(o: number): void {
    this.b.byte(o);
  }
  private mem(o: number, offset: number): void {
    this.b.byte(o).u32(0).u32(offset);
  }
  /** Pushes the high 32 bits of the i64 in local `l` (a pointer's region, a value's upper half). */
  private highWord(l: number): void {
    this.get(l);
    this.i64c(32n);
    this.op(Op.i64ShrU);
    this.op(Op.i32WrapI64);
  }
  /** Adds one to the i32 at `addr` in linear memory (a count the runtime reads). */
  private bump(addr: number): void {
    this.i32c(0);
    this.i32c(0);
    this.mem(Op.i32Load, addr);
    this.i32c(1);
    this.op(Op.i32Add);
    this.mem(Op.i32Store, addr);
  }
  /**
   * Finds the runtime cache entry (16 bytes at `base`, `slots` of them) for the map pointer in
   * register `r`, leaving the handle in L_V and the entry's address in L_T; `slow` branches out
   * when `r` is not a map pointer or the entry holds another handle.
   */
  private cacheEntry(r: number, slots: number, base: number, slow: () => void): void {
    this.highWord(this.reg(r));
    this.i32c(MAP_POINTER_HI);
    this.op(Op.i32Ne);
    slow();
    this.get(this.reg(r));
    this.op(Op.i32WrapI64);
    this.b.byte(Op.localTee).u32(L_V);
    this.i32c(slots - 1);
    this.op(Op.i32And);
    this.i32c(4);
    this.op(Op.i32Shl);
    this.i32c(base);
    this.op(Op.i32Add);
    this.b.byte(Op.localTee).u32(L_T);
    this.mem(Op.i32Load, 0);
    this.get(L_V);
    this.op(Op.i32Ne);
    slow();
  }
  private reg(r: number): number {
    return R0 + r;
  }
  /** Depth of label $b[m] (m > k) from here. */
  private depthOf(m: number): number {
    return m - this.k - 1 + this.e;
  }
  private get topDepth(): number {
    return this.blockStart.length - 1 - this.k + this.e;
  }
  private get exitDepth(): number {
    if (this.structured) return this.labels.length - 1 + this.e;
    return this.blockStart.length - this.k + this.e;
  }
  private open(type: number = VOID, o: number = Op.if): void {
    this.b.byte(o).byte(type);
    this.e++;
  }
  private close(): void {
    this.b.byte(Op.end);
    this.e--;
  }

  /** Stores register `r` into the register file. */
  private storeReg(r: number): void {
    this.i32c(0);
    this.get(this.reg(r));
    this.op(Op.i32WrapI64);
    this.mem(Op.i32Store, REGS_LO + 4 * r);
    this.i32c(0);
    this.highWord(this.reg(r));
    this.mem(Op.i32Store, REGS_HI + 4 * r);
  }

  /** Reads register `r` from the register file. */
  private loadReg(r: number): void {
    this.i32c(0);
    this.mem(Op.i64Load32U, REGS_LO + 4 * r);
    this.i32c(0);
    this.mem(Op.i64Load32U, REGS_HI + 4 * r);
    this.i64c(32n);
    this.op(Op.i64Shl);
    this.op(Op.i64Or);
    this.set(this.reg(r));
  }

  /** fbase and r10 for the frame in P_FRAME. */
  private enterFrame(): void {
    this.get(P_FRAME);
    this.i32c(FRAME_SIZE);
    this.op(Op.i32Mul);
    this.i32c(STACKS);
    this.op(Op.i32Add);
    this.set(L_FBASE);
    this.get(P_FRAME);
    this.i32c(2);
    this.op(Op.i32Shl);
    this.mem(Op.i64Load32U, STACK_HI);
    this.i64c(32n);
    this.op(Op.i64Shl);
    this.i64c(BigInt(LO_TOP));
    this.op(Op.i64Or);
    this.set(this.reg(10));
  }

  /**
   * Zeroes what compiled code stored into the current frame since it was last cleared (the
   * table's dirty mark, rounded down to 8 bytes), then marks the part r10-relative stores of this
   * program may write as dirty: those stores skip the per-store mark.
   */
  private clearFrame(): void {
    // L_T = entry of this frame's region
    this.get(P_FRAME);
    this.i32c(2);
    this.op(Op.i32Shl);
    this.mem(Op.i32Load, STACK_HI);
    this.i32c(HI0);
    this.op(Op.i32Sub);
    this.i32c(ENTRY_SHIFT);
    this.op(Op.i32Shl);
    this.i32c(TABLE);
    this.op(Op.i32Add);
    this.set(L_T);
    this.get(L_T);
    this.mem(Op.i32Load, E_DIRTY);
    this.i32c(-8);
    this.op(Op.i32And);
    this.set(L_X);
    // Nothing stored since the last clear (the common case for a program that does not store
    // to its stack): no work. The part this program's r10 stores mark (up to 8 words) is
    // cleared with straight stores when the mark is inside it; anything lower, by a loop.
    const m8 = this.minR10 & -8;
    const straight = m8 < FRAME_SIZE && FRAME_SIZE - m8 <= 64;
    this.get(L_X);
    this.i32c(FRAME_SIZE);
    this.op(Op.i32LtS);
    this.open();
    if (straight) {
      this.get(L_X);
      this.i32c(m8);
      this.op(Op.i32GeS);
      this.open();
      for (let x = m8; x < FRAME_SIZE; x += 8) {
        this.get(L_FBASE);
        this.i64c(0n);
        this.mem(Op.i64Store, x);
      }
      this.op(Op.else);
    }
    this.open(VOID, Op.block);
    this.open(VOID, Op.loop);
    this.get(L_X);
    this.i32c(FRAME_SIZE);
    this.op(Op.i32GeS);
    this.b.byte(Op.brIf).u32(1);
    this.get(L_FBASE);
    this.get(L_X);
    this.op(Op.i32Add);
    this.i64c(0n);
    this.mem(Op.i64Store, 0);
    this.get(L_X);
    this.i32c(8);
    this.op(Op.i32Add);
    this.set(L_X);
    this.b.byte(Op.br).u32(0);
    this.close();
    this.close();
    if (straight) this.close();
    if (this.minR10 >= FRAME_SIZE) {
      this.get(L_T);
      this.i32c(FRAME_SIZE);
      this.mem(Op.i32Store, E_DIRTY);
    }
    this.close();
    if (this.minR10 < FRAME_SIZE) {
      this.get(L_T);
      this.i32c(this.minR10);
      this.mem(Op.i32Store, E_DIRTY);
    }
  }

  private prologue(): void {
    this.get(P_ENTRY);
    this.set(L_PC);
    this.get(P_SELF);
    this.set(L_WHO);
    this.enterFrame();
    this.clearFrame();
    this.i64c(-1n);
    this.set(L_P0);
  }

  /**
   * Opens an `if` taken when [base + off, + size) lies inside the XDP packet's window, with the
   * access's absolute address on the stack: one subtraction and one unsigned compare of the
   * 64-bit pointer against the words the runtime keeps at PKT_PTR and PKT_LIM, where the general
   * path ({@link inPacket}) splits the pointer and compares three words. It takes a subset of
   * what that path takes, to the same address (an offset above LO_BASE could carry into the high
   * word, so such an access is left to it); false, with nothing emitted, when it does not apply.
   */
  private packetFast(base: number, off: number, size: number): boolean {
    if (!this.fromWindow(base, off, PKT_PTR)) return false;
    this.b.byte(Op.localTee).u32(L_A);
    this.i32c(0);
    this.mem(Op.i64Load, PKT_LIM + 8 * Math.log2(size));
    this.op(Op.i64LtU);
    this.open();
    this.i32c(0);
    this.mem(Op.i32Load, PKT_ABS);
    this.get(L_A);
    this.op(Op.i32WrapI64);
    this.op(Op.i32Add);
    return true;
  }

  /**
   * What the fast packet and context checks start from: pushes register `base` + `off` minus the
   * 64-bit pointer the runtime keeps at `at` (PKT_PTR, CTX_PTR), the access's offset into that
   * window. False, with nothing emitted, for an offset above LO_BASE, which could carry into the
   * pointer's high word (the general path takes those).
   */
  private fromWindow(base: number, off: number, at: number): boolean {
    if (off > LO_BASE) return false;
    this.get(this.reg(base));
    if (off !== 0) {
      this.i64c(BigInt(off));
      this.op(Op.i64Add);
    }
    this.i32c(0);
    this.mem(Op.i64Load, at);
    this.op(Op.i64Sub);
    return true;
  }

  /**
   * In the loop-fast variant, inside a loop, for an access not through a lookup's result: what
   * is not the packet leaves for the JS tier at slot `s` (it runs the access, or faults, and the
   * rest of the run), with DEOPT set so the wasm tier runs the general variant from then on.
   * Closes the access's block and returns true then; false (nothing emitted) otherwise. The
   * general path's code and its call into JavaScript are what make V8 keep a loop's registers
   * on the stack: without them a packet loop runs about twice as fast.
   */
  private deopt(s: number): boolean {
    if (!this.fast || this.inLoop[this.k] !== 1 || this.lookedUp[s] === 1) return false;
    this.deopts++;
    this.i32c(0);
    this.i32c(1);
    this.mem(Op.i32Store, DEOPT);
    this.bail(s);
    this.close();
    return true;
  }

  /**
   * Opens an `if` taken when a 4-byte load at base + off is an aligned field of the XDP context,
   * with the address of the field's word (i64, full pointers for data and data_end) on the
   * stack: the offset from the context's pointer, rotated right by 2 (the low bits then land on
   * top), compared once against the field count. A subset of what the general path's context
   * check takes, to the same word; false, with nothing emitted, for an offset above LO_BASE.
   */
  private ctxFast(base: number, off: number): boolean {
    if (!this.fromWindow(base, off, CTX_PTR)) return false;
    this.i64c(2n);
    this.op(Op.i64Rotr);
    this.b.byte(Op.localTee).u32(L_A);
    this.i32c(0);
    this.mem(Op.i64Load, CTX_N);
    this.op(Op.i64LtU);
    this.open();
    this.i32c(0);
    this.mem(Op.i32Load, FAST_CTX_WORDS);
    this.get(L_A);
    this.op(Op.i32WrapI64);
    this.i32c(3);
    this.op(Op.i32Shl);
    this.op(Op.i32Add);
    return true;
  }

  /** After $exit: every register, slot, budget, frame and program to memory; return the status. */
  private epilogue(): void {
    for (let r = 0; r <= 10; r++) this.storeReg(r);
    this.i32c(0);
    this.get(L_PC);
    this.mem(Op.i32Store, OUT_PC);
    this.i32c(0);
    this.get(P_LEFT);
    this.mem(Op.i32Store, OUT_LEFT);
    this.i32c(0);
    this.get(P_FRAME);
    this.mem(Op.i32Store, OUT_FRAME);
    this.i32c(0);
    this.get(L_WHO);
    this.mem(Op.i32Store, OUT_PROG);
    this.get(L_ST);
    this.op(Op.return);
  }

  /** Leaves for the JS tier at slot `s` (precise), giving back the part of its block not run. */
  private bail(s: number): void {
    this.i32c(s);
    this.set(L_PC);
    this.get(P_LEFT);
    this.i32c(this.tail[s] as number);
    this.op(Op.i32Add);
    this.set(P_LEFT);
    this.i32c(Status.bail);
    this.set(L_ST);
    this.b.byte(Op.br).u32(this.exitDepth);
  }

  /** Goes to slot `t` (a block start). */
  private goto(t: number): void {
    const m = this.blockOf[t] as number;
    if (this.structured) {
      const i = this.pos[m] as number;
      if (i === this.k + 1 && this.e === 0) return; // falls through
      this.b.byte(Op.br).u32(this.labelDepth(i <= this.k, i));
      return;
    }
    if (m > this.k) {
      if (m === this.k + 1 && this.e === 0) return; // falls through
      this.b.byte(Op.br).u32(this.depthOf(m));
      return;
    }
    this.i32c(t);
    this.set(L_PC);
    this.b.byte(Op.br).u32(this.topDepth);
  }

  /** Jumps to `t` when the i32 on the stack is non-zero. */
  private branchIf(t: number): void {
    const m = this.blockOf[t] as number;
    if (this.structured) {
      const i = this.pos[m] as number;
      this.b.byte(Op.brIf).u32(this.labelDepth(i <= this.k, i));
      return;
    }
    if (m > this.k) {
      this.b.byte(Op.brIf).u32(this.depthOf(m));
      return;
    }
    this.open();
    this.goto(t);
    this.close();
  }

  private block(m: number): void {
    const p = this.p;
    const code = p.code;
    const bs = this.blockStart[m] as number;
    const bl = (code[bs] as number) >>> 24;
    // Budget: the whole block on entry; when it cannot be covered, the JS tier refills or goes
    // precise. A loop-free body checks once, in its first block, for all of its blocks.
    const g = this.guards === undefined ? -1 : (this.guards[m] as number);
    const guard = this.loopFree >= 0 ? (m === 0 ? this.loopFree : 0) : g >= 0 ? g : bl;
    if (guard > 0) {
      this.get(P_LEFT);
      this.i32c(guard);
      this.op(Op.i32LtS);
      this.open();
      this.i32c(bs);
      this.set(L_PC);
      this.i32c(Status.resume);
      this.set(L_ST);
      this.b.byte(Op.br).u32(this.exitDepth);
      this.close();
    }
    this.get(P_LEFT);
    this.i32c(bl);
    this.op(Op.i32Sub);
    this.set(P_LEFT);
    let s = bs;
    this.known.fill(undefined);
    this.ctxAlias.fill(0);
    if (bs === 0) this.ctxAlias[1] = 1;
    for (let c = 0; c < bl; c++) {
      this.insn(s);
      this.track(s);
      s += ((code[s] as number) & 0xffff) === 0x18 ? 2 : 1;
    }
    // A block ending without a jump falls into the next one, whose code follows.
  }

  /** The second operand as an i64 (immediate sign-extended, or rs). */
  private src64(s: number, isK: boolean, K: number): void {
    if (isK) this.i64c(BigInt(K));
    else this.get(this.reg(s));
  }
  private src32(s: number, isK: boolean, K: number): void {
    if (isK) this.i32c(K);
    else {
      this.get(this.reg(s));
      this.op(Op.i32WrapI64);
    }
  }
  private dst32(d: number): void {
    this.get(this.reg(d));
    this.op(Op.i32WrapI64);
  }
  /** Sets rd from the i32 on the stack, zero-extended. */
  private setZext(d: number): void {
    this.op(Op.i64ExtendI32U);
    this.set(this.reg(d));
  }

  private bswap32(): void {
    // x on the stack → ((x & 0xff00ff00) rotl 8) | ((x & 0x00ff00ff) rotr 8)
    this.b.byte(Op.localTee).u32(L_V);
    this.i32c(0xff00ff00 | 0);
    this.op(Op.i32And);
    this.i32c(8);
    this.op(Op.i32Rotl);
    this.get(L_V);
    this.i32c(0x00ff00ff);
    this.op(Op.i32And);
    this.i32c(8);
    this.op(Op.i32Rotr);
    this.op(Op.i32Or);
  }

  private insn(s: number): void {
    const p = this.p;
    const c = p.code[s] as number;
    const o = c & 0xffff;
    const d = (c >>> 16) & 15;
    const sr = (c >>> 20) & 15;
    const K = p.imm[s] as number;
    const OFF = p.off[s] as number;
    const T = p.tgt[s] as number;
    const isK = (o & 8) === 0;
    const rd = this.reg(d);
    const cls = o & 7;
    if (o < 0x100 && (cls === 0x07 || cls === 0x04)) {
      if (this.alu(o, d, sr, isK, K, OFF)) return;
    }
    switch (o) {
      case 0x1bf: {
        this.get(this.reg(sr));
        this.op(OFF === 8 ? Op.i64Extend8S : OFF === 16 ? Op.i64Extend16S : Op.i64Extend32S);
        this.set(rd);
        return;
      }
      case 0x1bc: {
        this.get(this.reg(sr));
        this.op(Op.i32WrapI64);
        this.op(OFF === 8 ? Op.i32Extend8S : Op.i32Extend16S);
        this.setZext(d);
        return;
      }
      case 0x137:
      case 0x13f:
      case 0x197:
      case 0x19f:
        this.div64(d, sr, isK, K, (o & 0xf0) === 0x90, true);
        return;
      case 0x134:
      case 0x13c:
      case 0x194:
      case 0x19c:
        this.div32(d, sr, isK, K, (o & 0xf0) === 0x90, true);
        return;
      case 0x18: {
        const v = (BigInt(p.imm2[s] as number) << 32n) | BigInt((K as number) >>> 0);
        this.i64c(v);
        this.set(rd);
        return;
      }
      case 0x61:
      case 0x69:
      case 0x71:
      case 0x79:
        this.load(s, d, sr, OFF, o === 0x61 ? 4 : o === 0x69 ? 2 : o === 0x71 ? 1 : 8, false);
        return;
      case 0x81:
      case 0x89:
      case 0x91:
        this.load(s, d, sr, OFF, o === 0x81 ? 4 : o === 0x89 ? 2 : 1, true);
        return;
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
        this.store(s, d, sr, OFF, size, (o & 7) === 2, K);
        return;
      }
      case 0x05:
      case 0x06:
        this.goto(T);
        return;
      case 0x85:
        this.call(s);
        return;
      case CALL_LOCAL:
        this.callLocal(s, T);
        return;
      case 0x95:
        this.exit();
        return;
      default:
        break;
    }
    if (o < 0x100 && (cls === 0x05 || cls === 0x06)) {
      const jop = o & 0xf0;
      if (this.cond(jop, cls === 0x05, d, sr, isK, K)) {
        this.branchIf(T);
        return;
      }
    }
    // Atomics, callx, anything else: the JS tier runs it (and the rest of the run).
    this.bail(s);
  }

  /** Updates {@link known} after slot `s`. */
  private track(s: number): void {
    const p = this.p;
    const c = p.code[s] as number;
    const o = c & 0xffff;
    const d = (c >>> 16) & 15;
    const sr = (c >>> 20) & 15;
    const K = p.imm[s] as number;
    const kn = this.known;
    const ca = this.ctxAlias;
    if (o === 0xbf) ca[d] = ca[sr] as number;
    else if (o >= 0x100) ca.fill(0);
    else if (o === 0x85) ca.fill(0, 0, 6);
    else if ((o & 7) <= 1 || (o & 7) === 4 || (o & 7) === 7) ca[d] = 0;
    if (o >= 0x100 || o === 0x85) {
      // Calls clobber r0..r5; internal opcodes (calls, atomics, signed ops...) are not followed.
      for (let r = 0; r <= (o === 0x85 ? 5 : 9); r++) kn[r] = undefined;
      return;
    }
    if (o === 0x18) kn[d] = { c: (BigInt((p.imm2[s] as number) >>> 0) << 32n) | BigInt(K >>> 0) };
    else if (o === 0xb7) kn[d] = { c: BigInt.asUintN(64, BigInt(K)) };
    else if (o === 0xbf) kn[d] = sr === 10 ? { fp: 0 } : kn[sr];
    else if (o === 0x07) {
      const k = kn[d];
      kn[d] = k !== undefined && "fp" in k ? { fp: k.fp + K } : undefined;
    } else {
      const cls = o & 7;
      if (cls === 0x04 || cls === 0x07 || cls === 0x01) kn[d] = undefined;
    }
  }

  /** Pushes the i32 condition of a conditional jump; false when `jop` is none. */
  private cond(jop: number, wide: boolean, d: number, s: number, isK: boolean, K: number): boolean {
    const table: Record<number, [number, number]> = {
      16: [Op.i64Eq, Op.i32Eq],
      80: [Op.i64Ne, Op.i32Ne],
      32: [Op.i64GtU, Op.i32GtU],
      48: [Op.i64GeU, Op.i32GeU],
      160: [Op.i64LtU, Op.i32LtU],
      176: [Op.i64LeU, Op.i32LeU],
      96: [Op.i64GtS, Op.i32GtS],
      112: [Op.i64GeS, Op.i32GeS],
      192: [Op.i64LtS, Op.i32LtS],
      208: [Op.i64LeS, Op.i32LeS],
    };
    if (jop === 0x40) {
      if (wide) {
        this.get(this.reg(d));
        this.src64(s, isK, K);
        this.op(Op.i64And);
        this.i64c(0n);
        this.op(Op.i64Ne);
      } else {
        this.dst32(d);
        this.src32(s, isK, K);
        this.op(Op.i32And);
      }
      return true;
    }
    const ops = table[jop];
    if (ops === undefined) return false;
    if (wide) {
      this.get(this.reg(d));
      this.src64(s, isK, K);
      this.op(ops[0]);
    } else {
      this.dst32(d);
      this.src32(s, isK, K);
      this.op(ops[1]);
    }
    return true;
  }

  /** ALU ops with raw opcodes; false when not one. */
  private alu(o: number, d: number, s: number, isK: boolean, K: number, OFF: number): boolean {
    const rd = this.reg(d);
    const op = o & 0xf0;
    const wide = (o & 7) === 0x07;
    const bin64: Record<number, number> = {
      0: Op.i64Add,
      16: Op.i64Sub,
      32: Op.i64Mul,
      64: Op.i64Or,
      80: Op.i64And,
      160: Op.i64Xor,
      96: Op.i64Shl,
      112: Op.i64ShrU,
      192: Op.i64ShrS,
    };
    const bin32: Record<number, number> = {
      0: Op.i32Add,
      16: Op.i32Sub,
      32: Op.i32Mul,
      64: Op.i32Or,
      80: Op.i32And,
      160: Op.i32Xor,
      96: Op.i32Shl,
      112: Op.i32ShrU,
      192: Op.i32ShrS,
    };
    if (wide) {
      const f = bin64[op];
      if (f !== undefined) {
        this.get(rd);
        if (isK && (op === 0x60 || op === 0x70 || op === 0xc0)) this.i64c(BigInt(K & 63));
        else this.src64(s, isK, K);
        this.op(f);
        this.set(rd);
        return true;
      }
    } else {
      const f = bin32[op];
      if (f !== undefined) {
        this.dst32(d);
        this.src32(s, isK, K);
        this.op(f);
        this.setZext(d);
        return true;
      }
    }
    switch (o) {
      case 0x37:
      case 0x3f:
      case 0x97:
      case 0x9f:
        this.div64(d, s, isK, K, op === 0x90, false);
        return true;
      case 0x34:
      case 0x3c:
      case 0x94:
      case 0x9c:
        this.div32(d, s, isK, K, op === 0x90, false);
        return true;
      case 0x87:
        this.i64c(0n);
        this.get(rd);
        this.op(Op.i64Sub);
        this.set(rd);
        return true;
      case 0x84:
        this.i32c(0);
        this.dst32(d);
        this.op(Op.i32Sub);
        this.setZext(d);
        return true;
      case 0xb7:
        this.i64c(BigInt(K));
        this.set(rd);
        return true;
      case 0xbf:
        if (d !== s) {
          this.get(this.reg(s));
          this.set(rd);
        }
        return true;
      case 0xb4:
        this.i64c(BigInt(K >>> 0));
        this.set(rd);
        return true;
      case 0xbc:
        if (OFF !== 0) return false;
        this.get(this.reg(s));
        this.op(Op.i32WrapI64);
        this.setZext(d);
        return true;
      case 0xd7:
      case 0xdc:
        if (K === 16) {
          // ((x & 0xff) << 8) | ((x >> 8) & 0xff)
          this.dst32(d);
          this.b.byte(Op.localTee).u32(L_V);
          this.i32c(0xff);
          this.op(Op.i32And);
          this.i32c(8);
          this.op(Op.i32Shl);
          this.get(L_V);
          this.i32c(8);
          this.op(Op.i32ShrU);
          this.i32c(0xff);
          this.op(Op.i32And);
          this.op(Op.i32Or);
          this.setZext(d);
        } else if (K === 32) {
          this.dst32(d);
          this.bswap32();
          this.setZext(d);
        } else {
          this.dst32(d);
          this.bswap32();
          this.op(Op.i64ExtendI32U);
          this.i64c(32n);
          this.op(Op.i64Shl);
          this.highWord(rd);
          this.bswap32();
          this.op(Op.i64ExtendI32U);
          this.op(Op.i64Or);
          this.set(rd);
        }
        return true;
      case 0xd4:
        if (K === 16 || K === 32) {
          this.get(rd);
          this.i64c(K === 16 ? 0xffffn : 0xffffffffn);
          this.op(Op.i64And);
          this.set(rd);
        }
        return true;
      default:
        return false;
    }
  }

  /** 64-bit division or modulo: by 0 gives 0 (modulo: dst unchanged); signed by -1 cannot trap. */
  private div64(d: number, s: number, isK: boolean, K: number, mod: boolean, signed: boolean): void {
    const rd = this.reg(d);
    const divOp = signed ? (mod ? Op.i64RemS : Op.i64DivS) : mod ? Op.i64RemU : Op.i64DivU;
    if (isK) {
      const k = BigInt(K);
      if (k === 0n) {
        if (!mod) {
          this.i64c(0n);
          this.set(rd);
        }
        return;
      }
      if (signed && k === -1n) {
        if (mod) this.i64c(0n);
        else {
          this.i64c(0n);
          this.get(rd);
          this.op(Op.i64Sub);
        }
        this.set(rd);
        return;
      }
      this.get(rd);
      this.i64c(k);
      this.op(divOp);
      this.set(rd);
      return;
    }
    this.get(this.reg(s));
    this.set(L_B);
    this.get(L_B);
    this.op(Op.i64Eqz);
    this.open();
    if (!mod) {
      this.i64c(0n);
      this.set(rd);
    }
    this.op(Op.else);
    if (signed) {
      this.get(L_B);
      this.i64c(-1n);
      this.op(Op.i64Eq);
      this.open();
      if (mod) this.i64c(0n);
      else {
        this.i64c(0n);
        this.get(rd);
        this.op(Op.i64Sub);
      }
      this.set(rd);
      this.op(Op.else);
      this.get(rd);
      this.get(L_B);
      this.op(divOp);
      this.set(rd);
      this.close();
    } else {
      this.get(rd);
      this.get(L_B);
      this.op(divOp);
      this.set(rd);
    }
    this.close();
  }

  /** 32-bit division or modulo; the result (or kept dst) is zero-extended. */
  private div32(d: number, s: number, isK: boolean, K: number, mod: boolean, signed: boolean): void {
    const _rd = this.reg(d);
    const divOp = signed ? (mod ? Op.i32RemS : Op.i32DivS) : mod ? Op.i32RemU : Op.i32DivU;
    this.src32(s, isK, K);
    this.set(L_V);
    this.get(L_V);
    this.op(Op.i32Eqz);
    this.open();
    if (mod) this.dst32(d);
    else this.i32c(0);
    this.setZext(d);
    this.op(Op.else);
    if (signed) {
      this.get(L_V);
      this.i32c(-1);
      this.op(Op.i32Eq);
      this.open();
      this.i32c(0);
      if (!mod) {
        this.dst32(d);
        this.op(Op.i32Sub);
      }
      this.setZext(d);
      this.op(Op.else);
      this.dst32(d);
      this.get(L_V);
      this.op(divOp);
      this.setZext(d);
      this.close();
    } else {
      this.dst32(d);
      this.get(L_V);
      this.op(divOp);
      this.setZext(d);
    }
    this.close();
  }

  /**
   * Computes L_V (low address word), L_T (region entry, when the id is in the table) and L_X
   * (byte index); leaves on the stack whether the id is in the table.
   */
  private address(base: number, off: number): void {
    this.get(this.reg(base));
    this.op(Op.i32WrapI64);
    this.i32c(off);
    this.op(Op.i32Add);
    this.b.byte(Op.localTee).u32(L_V);
    this.i32c(LO_BASE);
    this.op(Op.i32Sub);
    this.set(L_X);
    this.highWord(this.reg(base));
    this.set(L_T);
  }

  /** From L_T holding the high word: L_T becomes the table entry; pushes whether the id is in the table. */
  private tableEntry(): void {
    this.get(L_T);
    this.i32c(HI0);
    this.op(Op.i32Sub);
    this.b.byte(Op.localTee).u32(L_T);
    this.i32c(TABLE_REGIONS);
    this.op(Op.i32LtU);
    this.set(L_ST);
    // entry address, or the table's start when out of it (never read then)
    this.get(L_T);
    this.i32c(ENTRY_SHIFT);
    this.op(Op.i32Shl);
    this.i32c(TABLE);
    this.op(Op.i32Add);
    this.i32c(TABLE);
    this.get(L_ST);
    this.op(Op.select);
    this.set(L_T);
    this.get(L_ST);
  }

  /** Pushes whether L_T (high word) and L_X (index) are `size` bytes inside the XDP packet. */
  private inPacket(size: number): void {
    this.get(L_T);
    this.i32c(0);
    this.mem(Op.i32Load, FAST_PKT_HI);
    this.op(Op.i32Eq);
    this.get(L_X);
    this.i32c(0);
    this.mem(Op.i32Load, FAST_PKT_START);
    this.op(Op.i32GeS);
    this.op(Op.i32And);
    this.get(L_X);
    this.i32c(size);
    this.op(Op.i32Add);
    this.i32c(0);
    this.mem(Op.i32Load, FAST_PKT_END);
    this.op(Op.i32LeU);
    this.op(Op.i32And);
  }

  /** Pushes the packet's address of L_X. */
  private packetAddress(): void {
    this.i32c(0);
    this.mem(Op.i32Load, FAST_PKT_BASE);
    this.get(L_X);
    this.op(Op.i32Add);
  }

  /** Pushes whether [x, x + size) is inside the entry's window and the region is in memory. */
  private inWindow(size: number): void {
    this.get(L_T);
    this.mem(Op.i32Load, E_BASE);
    this.i32c(0);
    this.op(Op.i32GeS);
    this.get(L_X);
    this.get(L_T);
    this.mem(Op.i32Load, E_START);
    this.op(Op.i32GeS);
    this.op(Op.i32And);
    this.get(L_X);
    this.i32c(size);
    this.op(Op.i32Add);
    this.get(L_T);
    this.mem(Op.i32Load, E_END);
    this.op(Op.i32LeU);
    this.op(Op.i32And);
  }

  private load(s: number, d: number, base: number, off: number, size: number, signed: boolean): void {
    const rd = this.reg(d);
    const op = signed
      ? size === 4
        ? Op.i64Load32S
        : size === 2
          ? Op.i64Load16S
          : Op.i64Load8S
      : size === 8
        ? Op.i64Load
        : size === 4
          ? Op.i64Load32U
          : size === 2
            ? Op.i64Load16U
            : Op.i64Load8U;
    if (base === 10) {
      // r10 is read-only and its accesses checked at load: always inside the current frame.
      this.get(L_FBASE);
      this.mem(op, FRAME_SIZE + off);
      this.set(rd);
      return;
    }
    this.open(VOID, Op.block); // $ok
    if (this.lookedUp[s] === 1 && this.viaElement(base, off, size, false)) {
      this.open();
      this.get(L_A0);
      this.mem(op, off);
      this.set(rd);
      this.b.byte(Op.br).u32(1);
      this.close();
    }
    const ctx = !signed && size === 4;
    const ctxFast = () => {
      if (!this.ctxFast(base, off)) return false;
      this.mem(Op.i64Load, 0);
      this.set(rd);
      this.b.byte(Op.br).u32(1);
      this.close();
      return true;
    };
    // A copy of the entry's r1 is likely the context: its fields are tried first.
    const ctxFirst = ctx && this.ctxAlias[base] === 1;
    if (ctxFirst) ctxFast();
    if (this.packetFast(base, off, size)) {
      this.mem(op, 0);
      this.set(rd);
      this.b.byte(Op.br).u32(1);
      this.close();
    }
    const ctxDone = ctx && (ctxFirst ? off <= LO_BASE : ctxFast());
    if (off <= LO_BASE && this.deopt(s)) return;
    this.address(base, off);
    if (ctx && !ctxDone) {
      // The XDP context's fields: the words its owner keeps (full pointers for data/data_end).
      this.get(L_T);
      this.i32c(0);
      this.mem(Op.i32Load, FAST_CTX_HI);
      this.op(Op.i32Eq);
      this.get(L_X);
      this.i32c(0);
      this.mem(Op.i32Load, FAST_CTX_LIMIT);
      this.op(Op.i32LtU);
      this.op(Op.i32And);
      this.get(L_X);
      this.i32c(3);
      this.op(Op.i32And);
      this.op(Op.i32Eqz);
      this.op(Op.i32And);
      this.open();
      this.i32c(0);
      this.mem(Op.i32Load, FAST_CTX_WORDS);
      this.get(L_X);
      this.i32c(1);
      this.op(Op.i32Shl);
      this.op(Op.i32Add);
      this.mem(Op.i64Load, 0);
      this.set(rd);
      this.b.byte(Op.br).u32(1);
      this.close();
    }
    this.inPacket(size);
    this.open();
    this.packetAddress();
    this.mem(op, 0);
    this.set(rd);
    this.b.byte(Op.br).u32(1);
    this.close();
    this.tableEntry();
    this.open(); // id in table
    this.inWindow(size);
    if (!signed) {
      this.get(L_T);
      this.mem(Op.i32Load, E_HOOK);
      this.op(Op.i32Eqz);
      this.op(Op.i32And);
    }
    this.open();
    this.get(L_T);
    this.mem(Op.i32Load, E_BASE);
    this.get(L_X);
    this.op(Op.i32Add);
    this.mem(op, 0);
    this.set(rd);
    this.b.byte(Op.br).u32(2);
    this.close();
    if (!signed && size === 4) {
      // A context's 4-byte fields: the words the region's owner keeps (full pointers).
      this.inWindow(4);
      this.get(L_T);
      this.mem(Op.i32Load, E_HOOK);
      this.i32c(1);
      this.op(Op.i32Eq);
      this.op(Op.i32And);
      this.get(L_X);
      this.i32c(3);
      this.op(Op.i32And);
      this.op(Op.i32Eqz);
      this.op(Op.i32And);
      this.open();
      this.get(L_T);
      this.mem(Op.i32Load, E_WORDS);
      this.get(L_X);
      this.i32c(1);
      this.op(Op.i32Shl);
      this.op(Op.i32Add);
      this.mem(Op.i64Load, 0);
      this.set(rd);
      this.b.byte(Op.br).u32(2);
      this.close();
    }
    this.close();
    // Anything else: JavaScript loads it, or says it faults.
    this.highWord(this.reg(base));
    this.get(L_V);
    this.i32c(size);
    this.i32c(signed ? 1 : 0);
    this.b.byte(Op.call).u32(F_LOAD);
    this.op(Op.i32Eqz);
    this.open();
    this.bail(s);
    this.close();
    this.i32c(0);
    this.mem(Op.i64Load, SCRATCH);
    this.set(rd);
    this.close();
  }

  private storeOp(size: number): number {
    return size === 8 ? Op.i64Store : size === 4 ? Op.i64Store32 : size === 2 ? Op.i64Store16 : Op.i64Store8;
  }

  private value(sr: number, isImm: boolean, K: number): void {
    if (isImm) this.i64c(BigInt(K));
    else this.get(this.reg(sr));
  }

  private store(
    s: number,
    d: number,
    sr: number,
    off: number,
    size: number,
    isImm: boolean,
    K: number,
  ): void {
    const op = this.storeOp(size);
    if (d === 10) {
      this.get(L_FBASE);
      this.value(sr, isImm, K);
      this.mem(op, FRAME_SIZE + off);
      return;
    }
    this.open(VOID, Op.block); // $ok
    if (this.lookedUp[s] === 1 && this.viaElement(d, off, size, true)) {
      this.open();
      this.get(L_A0);
      this.value(sr, isImm, K);
      this.mem(op, off);
      this.b.byte(Op.br).u32(1);
      this.close();
    }
    if (this.packetFast(d, off, size)) {
      this.value(sr, isImm, K);
      this.mem(op, 0);
      this.b.byte(Op.br).u32(1);
      this.close();
      if (this.deopt(s)) return;
    }
    this.address(d, off);
    this.inPacket(size);
    this.open();
    this.packetAddress();
    this.value(sr, isImm, K);
    this.mem(op, 0);
    this.b.byte(Op.br).u32(1);
    this.close();
    this.tableEntry();
    this.open();
    this.inWindow(size);
    this.get(L_T);
    this.mem(Op.i32Load, E_WRITABLE);
    this.op(Op.i32And);
    this.open();
    this.get(L_T);
    this.mem(Op.i32Load, E_BASE);
    this.get(L_X);
    this.op(Op.i32Add);
    this.value(sr, isImm, K);
    this.mem(op, 0);
    // dirty = min(dirty, x)
    this.get(L_T);
    this.get(L_X);
    this.get(L_T);
    this.mem(Op.i32Load, E_DIRTY);
    this.get(L_X);
    this.get(L_T);
    this.mem(Op.i32Load, E_DIRTY);
    this.op(Op.i32LtS);
    this.op(Op.select);
    this.mem(Op.i32Store, E_DIRTY);
    this.b.byte(Op.br).u32(2);
    this.close();
    this.close();
    this.highWord(this.reg(d));
    this.get(L_V);
    this.i32c(size);
    this.value(sr, isImm, K);
    this.set(L_A);
    this.get(L_A);
    this.op(Op.i32WrapI64);
    this.highWord(L_A);
    this.b.byte(Op.call).u32(F_STORE);
    this.op(Op.i32Eqz);
    this.open();
    this.bail(s);
    this.close();
    this.close();
  }

  /** A helper call through the register file (the import runs it, and its fast path). */
  private call(s: number): void {
    const fast = (this.p.helperAt[s] as { fast?: unknown } | undefined)?.fast;
    const id = this.p.imm[s];
    if (fast !== undefined && (id === HelperId.map_lookup_elem || id === HelperId.tail_call)) {
      this.open(VOID, Op.block); // $done
      this.open(VOID, Op.block); // $slow
      if (id === HelperId.tail_call) this.inlineTail();
      else {
        const m = this.known[1];
        const k = this.known[2];
        const handle =
          m !== undefined && "c" in m && m.c >> 32n === BigInt(MAP_POINTER_HI >>> 0)
            ? Number(m.c & 0xffffffffn)
            : -1;
        if (handle >= 0 && k !== undefined && "fp" in k && k.fp >= -FRAME_SIZE && k.fp <= -4)
          this.knownLookup(handle, k.fp);
        else this.inlineLookup();
      }
      this.close();
      this.genericCall(s);
      this.close();
      return;
    }
    this.genericCall(s);
  }

  /**
   * `bpf_tail_call(ctx, prog_array, index)` inside WebAssembly, while the run allows it
   * (TAIL_INLINE, set by a repeat loop) and the runtime's mirror of the prog array knows the
   * slot (tail-calls.ts): an index past the end, the 33-call limit and an empty slot fall
   * through as the helper does; a target is called through the table in this frame with every
   * register, as the status-3 path of {@link genericCall} does, and its id goes to the chain.
   * Anything else branches out of the enclosing block to the call through JavaScript.
   */
  private inlineTail(): void {
    const slow = () => this.b.byte(Op.brIf).u32(0);
    const done = () => this.b.byte(Op.brIf).u32(1);
    this.i32c(0);
    this.mem(Op.i32Load, TAIL_INLINE);
    this.op(Op.i32Eqz);
    slow();
    // r2: a prog array whose handle the mirror knows.
    this.cacheEntry(2, PROG_CACHE_SLOTS, PROG_CACHE, slow);
    // r3 (u32) past max_entries, or the limit reached: the call falls through.
    this.get(this.reg(3));
    this.op(Op.i32WrapI64);
    this.b.byte(Op.localTee).u32(L_X);
    this.get(L_T);
    this.mem(Op.i32Load, 4);
    this.op(Op.i32GeU);
    done();
    this.i32c(0);
    this.mem(Op.i32Load, OUT_TAILCALLS);
    this.i32c(MAX_TAIL_CALL_CNT);
    this.op(Op.i32GeS);
    done();
    // The slot: 0 not known, -1 empty, else 1 + the target's runtime id.
    this.get(L_T);
    this.mem(Op.i32Load, 8);
    this.get(L_X);
    this.i32c(2);
    this.op(Op.i32Shl);
    this.op(Op.i32Add);
    this.mem(Op.i32Load, 0);
    this.b.byte(Op.localTee).u32(L_V);
    this.op(Op.i32Eqz);
    slow();
    this.get(L_V);
    this.i32c(0);
    this.op(Op.i32LtS);
    done();
    this.get(L_V);
    this.i32c(1);
    this.op(Op.i32Sub);
    this.set(L_V);
    this.bump(OUT_TAILCALLS);
    this.i32c(0);
    this.mem(Op.i32Load, CHAIN_N);
    this.i32c(2);
    this.op(Op.i32Shl);
    this.get(L_V);
    this.mem(Op.i32Store, CHAIN);
    this.bump(CHAIN_N);
    this.get(L_V);
    this.tailInto();
  }

  /**
   * Calls the program whose runtime id is on the stack through the table at insn 0 in this frame,
   * with every register, and returns what it returns (a tail call).
   */
  private tailInto(): void {
    this.set(L_V);
    this.i32c(0);
    this.get(P_FRAME);
    this.get(P_LEFT);
    this.i32c(0);
    this.get(L_V);
    for (let r = 0; r <= 9; r++) this.get(this.reg(r));
    this.get(L_V);
    this.b.byte(Op.callIndirect).u32(IMPORTS.length).u32(0);
    this.op(Op.return);
  }

  /**
   * `bpf_map_lookup_elem` on an array map with a 4-byte key on the current frame's stack, inline:
   * the map's descriptor and each element's region come from the runtime's lookup cache
   * (MAP_CACHE), filled by the helper's fast path the first time; anything else branches out of
   * the enclosing block to the call through JavaScript.
   */
  private inlineLookup(): void {
    const slow = () => this.b.byte(Op.brIf).u32(0);
    // r1: a map pointer whose handle the cache knows.
    this.cacheEntry(1, MAP_CACHE_SLOTS, MAP_CACHE, slow);
    // r2: 4 bytes inside the current frame.
    this.get(this.reg(2));
    this.i64c(32n);
    this.op(Op.i64ShrU);
    this.get(this.reg(10));
    this.i64c(32n);
    this.op(Op.i64ShrU);
    this.op(Op.i64Ne);
    slow();
    this.get(this.reg(2));
    this.op(Op.i32WrapI64);
    this.i32c(LO_BASE);
    this.op(Op.i32Sub);
    this.b.byte(Op.localTee).u32(L_X);
    this.i32c(FRAME_SIZE - 4);
    this.op(Op.i32GtU);
    slow();
    this.get(L_FBASE);
    this.get(L_X);
    this.op(Op.i32Add);
    this.mem(Op.i32Load, 0);
    this.set(L_X);
    // Past the end: NULL.
    this.get(L_X);
    this.get(L_T);
    this.mem(Op.i32Load, 4);
    this.op(Op.i32GeU);
    this.open();
    this.i64c(0n);
    this.set(this.reg(0));
    this.b.byte(Op.br).u32(2);
    this.close();
    // The element's region, once known.
    this.get(L_T);
    this.mem(Op.i32Load, 12);
    this.get(L_X);
    this.i32c(2);
    this.op(Op.i32Shl);
    this.op(Op.i32Add);
    this.mem(Op.i32Load, 0);
    this.b.byte(Op.localTee).u32(L_V);
    this.op(Op.i32Eqz);
    slow();
    this.get(L_V);
    this.op(Op.i64ExtendI32U);
    this.i64c(32n);
    this.op(Op.i64Shl);
    this.get(L_X);
    this.get(L_T);
    this.mem(Op.i32Load, 8);
    this.op(Op.i32Mul);
    this.i32c(LO_BASE);
    this.op(Op.i32Add);
    this.op(Op.i64ExtendI32U);
    this.op(Op.i64Or);
    this.set(this.reg(0));
    this.stashElement();
    this.b.byte(Op.br).u32(1);
  }

  /**
   * {@link inlineLookup} where r1 is known to be the pointer of map `handle` and r2 to be
   * r10 + `off` (a key on this frame): the cache slot is a constant address and the key a load
   * at a fixed offset of the frame. Same results, same way out to the helper otherwise.
   */
  private knownLookup(handle: number, off: number): void {
    const slow = () => this.b.byte(Op.brIf).u32(0);
    const slot = MAP_CACHE + ((handle & (MAP_CACHE_SLOTS - 1)) << 4);
    this.i32c(0);
    this.mem(Op.i32Load, slot);
    this.i32c(handle | 0);
    this.op(Op.i32Ne);
    slow();
    this.get(L_FBASE);
    this.mem(Op.i32Load, FRAME_SIZE + off);
    this.b.byte(Op.localTee).u32(L_X);
    this.i32c(0);
    this.mem(Op.i32Load, slot + 4);
    this.op(Op.i32GeU);
    this.open();
    this.i64c(0n);
    this.set(this.reg(0));
    this.b.byte(Op.br).u32(2);
    this.close();
    this.i32c(0);
    this.mem(Op.i32Load, slot + 12);
    this.get(L_X);
    this.i32c(2);
    this.op(Op.i32Shl);
    this.op(Op.i32Add);
    this.mem(Op.i32Load, 0);
    this.b.byte(Op.localTee).u32(L_V);
    this.op(Op.i32Eqz);
    slow();
    this.get(L_V);
    this.op(Op.i64ExtendI32U);
    this.i64c(32n);
    this.op(Op.i64Shl);
    this.get(L_X);
    this.i32c(0);
    this.mem(Op.i32Load, slot + 8);
    this.op(Op.i32Mul);
    this.i32c(LO_BASE);
    this.op(Op.i32Add);
    this.op(Op.i64ExtendI32U);
    this.op(Op.i64Or);
    this.set(this.reg(0));
    this.stashElement();
    this.b.byte(Op.br).u32(1);
  }

  /** A helper call through the import, with the registers through the register file. */
  private genericCall(s: number): void {
    for (let r = 0; r <= 5; r++) this.storeReg(r);
    this.i32c(s);
    this.get(P_LEFT);
    this.get(P_FRAME);
    this.b.byte(Op.call).u32(F_CALL);
    // JavaScript may have unmapped or moved regions: forget the last lookup's element.
    this.i64c(-1n);
    this.set(L_P0);
    this.b.byte(Op.localTee).u32(L_ST);
    this.open();
    // 1: the run ends (bpf_exit-like helpers), r0 already set.
    this.get(L_ST);
    this.i32c(1);
    this.op(Op.i32Eq);
    this.open();
    this.i32c(0);
    this.get(P_LEFT);
    this.mem(Op.i32Store, OUT_LEFT);
    this.i32c(Status.done);
    this.op(Op.return);
    this.close();
    // 3: a tail call into a program translated here: call it through the runtime's table, in
    // this frame, and end with what it ends with.
    this.get(L_ST);
    this.i32c(3);
    this.op(Op.i32Eq);
    this.open();
    for (let r = 0; r <= 5; r++) this.loadReg(r);
    this.i32c(0);
    this.mem(Op.i32Load, OUT_NEXT);
    this.tailInto();
    this.close();
    // 2: a tail call the run's driver makes.
    this.i32c(0);
    this.set(L_PC);
    for (let r = 0; r <= 5; r++) this.loadReg(r);
    this.i32c(Status.tailCall);
    this.set(L_ST);
    this.b.byte(Op.br).u32(this.exitDepth);
    this.close();
    for (let r = 0; r <= 5; r++) this.loadReg(r);
  }

  private callLocal(s: number, t: number): void {
    this.get(P_FRAME);
    this.i32c(FRAMES - 1);
    this.op(Op.i32GeS);
    this.open();
    this.bail(s);
    this.close();
    // Save r6..r9, the return slot and this program.
    for (let j = 0; j < 4; j++) {
      const r = this.reg(6 + j);
      this.get(P_FRAME);
      this.i32c(4);
      this.op(Op.i32Shl);
      this.get(r);
      this.op(Op.i32WrapI64);
      this.mem(Op.i32Store, SAVED_LO + 4 * j);
      this.get(P_FRAME);
      this.i32c(4);
      this.op(Op.i32Shl);
      this.highWord(r);
      this.mem(Op.i32Store, SAVED_HI + 4 * j);
    }
    this.get(P_FRAME);
    this.i32c(2);
    this.op(Op.i32Shl);
    this.i32c(s + 1);
    this.mem(Op.i32Store, RET_PC);
    this.get(P_FRAME);
    this.i32c(2);
    this.op(Op.i32Shl);
    this.get(P_SELF);
    this.mem(Op.i32Store, RET_PROG);
    this.get(P_FRAME);
    this.i32c(1);
    this.op(Op.i32Add);
    this.set(P_FRAME);
    // maxframe = max(maxframe, frame)
    this.i32c(0);
    this.get(P_FRAME);
    this.i32c(0);
    this.mem(Op.i32Load, OUT_MAXFRAME);
    this.get(P_FRAME);
    this.i32c(0);
    this.mem(Op.i32Load, OUT_MAXFRAME);
    this.op(Op.i32GtS);
    this.op(Op.select);
    this.mem(Op.i32Store, OUT_MAXFRAME);
    this.enterFrame();
    this.clearFrame();
    this.goto(t);
    // A goto that falls through still needs nothing more: the call ends its block.
  }

  private exit(): void {
    this.get(P_FRAME);
    this.op(Op.i32Eqz);
    this.open();
    this.storeReg(0);
    this.i32c(0);
    this.get(P_LEFT);
    this.mem(Op.i32Store, OUT_LEFT);
    this.i32c(Status.done);
    this.op(Op.return);
    this.close();
    this.get(P_FRAME);
    this.i32c(1);
    this.op(Op.i32Sub);
    this.set(P_FRAME);
    for (let j = 0; j < 4; j++) {
      this.get(P_FRAME);
      this.i32c(4);
      this.op(Op.i32Shl);
      this.mem(Op.i64Load32U, SAVED_LO + 4 * j);
      this.get(P_FRAME);
      this.i32c(4);
      this.op(Op.i32Shl);
      this.mem(Op.i64Load32U, SAVED_HI + 4 * j);
      this.i64c(32n);
      this.op(Op.i64Shl);
      this.op(Op.i64Or);
      this.set(this.reg(6 + j));
    }
    this.enterFrame();
    this.get(P_FRAME);
    this.i32c(2);
    this.op(Op.i32Shl);
    this.mem(Op.i32Load, RET_PC);
    this.set(L_PC);
    // Back into another program (a tail call made from a subprogram): the JS tier goes on there.
    this.get(P_FRAME);
    this.i32c(2);
    this.op(Op.i32Shl);
    this.mem(Op.i32Load, RET_PROG);
    this.b.byte(Op.localTee).u32(L_WHO);
    this.get(P_SELF);
    this.op(Op.i32Ne);
    // Without the dispatch loop a return slot cannot be reached here: the JS tier goes on there.
    if (this.structured) {
      this.op(Op.drop);
      this.i32c(1);
    }
    this.open();
    this.i32c(Status.resume);
    this.set(L_ST);
    this.b.byte(Op.br).u32(this.exitDepth);
    this.close();
    if (this.structured) this.op(Op.unreachable);
    else this.b.byte(Op.br).u32(this.topDepth);
  }
}
