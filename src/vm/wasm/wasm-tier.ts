import { HelperId } from "../../abi/helper-id.js";
import { VerifierError } from "../../errors.js";
import { jsTierOf, resumeCompiled, setReturn } from "../compiler.js";
import { FAST_R0, type HelperWithFastPath } from "../helpers.js";
import {
  type CompiledEntry,
  clearFrame,
  type HelperFn,
  hookedLoad,
  type Interpreter,
  type Program,
  sharedConstants,
} from "../interpreter.js";
import type { Region } from "../memory.js";
import {
  DEOPT,
  FAST_PKT_HI,
  FLAG_FRESH,
  HI0,
  LO_BASE,
  NEED_JS,
  OUT_FRAME,
  OUT_LEFT,
  OUT_NEXT,
  OUT_PC,
  OUT_PROG,
  OUT_RUNS,
  OUT_STATUS,
  OUT_TAILCALLS,
  RET_PROG,
  SCRATCH,
  Status,
} from "./layout.js";
import { planAdoption, runtimeOf, type WasmRuntime, wasmApi } from "./runtime.js";
import { WasmTails } from "./tail-calls.js";
import { translateProgram } from "./translate.js";

/**
 * The wasm tier: each program becomes a WebAssembly function (translate.ts) run on the
 * interpreter's own registers, frames and regions, moved into one linear memory (runtime.ts).
 * It covers ALU, jumps, lddw, loads and stores, bpf-to-bpf calls, helper calls (through one
 * import; the array-lookup and tail-call fast paths included) and tail calls between translated
 * programs. What it does not do — a fault, a block the budget cannot cover, atomics, callx —
 * hands the rest of the run to the JavaScript tier (compiler.ts) at that instruction, which is
 * why the three tiers give the same faults, messages and instruction counts.
 */

const { CHUNK, PENDING_EXIT } = sharedConstants();

type RunFn = (entry: number, frame: number, left: number, flags: number, self: number) => number;
type ManyFn = (n: number, left: number, self: number) => number;

/** One program's module instantiated on one runtime. */
interface Instance {
  rt: WasmRuntime;
  fn: RunFn;
  many: ManyFn;
  self: number;
  tails: WasmTails;
  /** The general variant, while the loop-fast one runs (see translateProgram). */
  general?: { fn: RunFn; many: ManyFn; body: unknown };
}

/**
 * After a loop-fast body left for the JS tier at an access that was not the packet (DEOPT set):
 * the program it left runs its general variant from now on, here and through tail calls.
 */
function deoptimize(vm: Interpreter, rt: WasmRuntime): void {
  const I = rt.i32;
  I[DEOPT >> 2] = 0;
  const p = rt.programs[I[OUT_PROG >> 2] as number] as Program;
  // Through a packet pointer, outside the window: a fault, which the variant does not change.
  const c = p.code[I[OUT_PC >> 2] as number] as number;
  const base = (c & 7) === 0x01 ? (c >>> 20) & 15 : (c >>> 16) & 15;
  if (vm.hi[base] === I[FAST_PKT_HI >> 2]) return;
  const w = p.jit;
  const inst = w instanceof WasmProgram ? w.instanceFor(vm) : undefined;
  const g = inst?.general;
  if (inst === undefined || g === undefined) return;
  wasmStats.deopts++;
  inst.fn = g.fn;
  inst.many = g.many;
  delete inst.general;
  rt.table.set(inst.self, g.body);
}

const tailsOf = new WeakMap<WasmRuntime, WasmTails>();

/** The runtime's in-wasm tail-call state, made on first use. */
function tailsFor(rt: WasmRuntime): WasmTails {
  let t = tailsOf.get(rt);
  if (t === undefined) {
    t = new WasmTails(rt);
    tailsOf.set(rt, t);
  }
  return t;
}

/** A program translated to WebAssembly; set as `Program.jit`. */
class WasmProgram implements CompiledEntry {
  fallback?: CompiledEntry;
  private last: Instance | undefined;
  // Weak: a program shared by many interpreters (the warm-up program) must not keep their memories.
  private readonly instances = new WeakMap<WasmRuntime, Instance>();

  constructor(
    readonly prog: Program,
    readonly module: object,
  ) {}

  /** The runtime gave its memory back ({@link WasmRuntime.release}): its instance is no longer to be entered. */
  forget(rt: WasmRuntime): void {
    if (this.last?.rt === rt) this.last = undefined;
  }

  instanceFor(vm: Interpreter): Instance | undefined {
    const last = this.last;
    if (last !== undefined && last.rt.vm === vm) return last;
    const rt = runtimeOf(vm);
    if (rt === undefined) return undefined;
    let inst = this.instances.get(rt);
    if (inst === undefined) {
      inst = instantiate(this, rt);
      this.instances.set(rt, inst);
    }
    this.last = inst;
    return inst;
  }

  enter(vm: Interpreter, fresh = false): void {
    const inst = this.instanceFor(vm);
    if (inst === undefined) {
      jsTierOf(this.prog).enter(vm, fresh);
      return;
    }
    const rt = inst.rt;
    vm.tailCalls = 0;
    rt.i32[OUT_TAILCALLS >> 2] = 0;
    const budget = vm.budget;
    const left = this.begin(vm, rt);
    const st = inst.fn(0, 0, left, fresh ? FLAG_FRESH : 0, inst.self);
    if (st === Status.done) {
      vm.executed = budget - rt.reserve - (rt.i32[OUT_LEFT >> 2] as number);
      return;
    }
    drive(vm, rt, st);
  }

  /** What every run from JavaScript starts with; returns the budget the first chunk gives it. */
  private begin(vm: Interpreter, rt: WasmRuntime): number {
    vm.pending = 0;
    vm.current = this.prog;
    // Stores JavaScript made into frame 0 (helpers, the JS tier); compiled code clears its own.
    const s0 = rt.stack0;
    if (s0.dirtyFrom < s0.bytes.length) clearFrame(s0);
    const left = Math.min(vm.budget, CHUNK);
    rt.reserve = vm.budget - left;
    return left;
  }

  /**
   * Runs the program up to `n` times as {@link enter}(vm, true) would, r1 as the register file
   * holds it for each, without coming back to JavaScript between runs (translate.ts, `many`):
   * tail calls between programs translated here stay in WebAssembly, their names going to
   * `chain` (the run's chain, entry first; each run's replaces the last's). Returns how many
   * runs it made, the last one complete: fewer than `n` when a run needed JavaScript (a helper
   * that ran there, a hand-over to the JS tier); a fault is thrown from the run that made it.
   */
  enterMany(vm: Interpreter, n: number, chain: string[], begun?: Int32Array): number {
    if (begun !== undefined) begun[0] = 1;
    const inst = this.instanceFor(vm);
    if (inst === undefined) {
      jsTierOf(this.prog).enter(vm, true);
      return 1;
    }
    const rt = inst.rt;
    const tails = inst.tails;
    const budget = vm.budget;
    const left = this.begin(vm, rt);
    tails.open(chain);
    try {
      const runs = inst.many(n, left, inst.self);
      const I = rt.i32;
      const st = I[OUT_STATUS >> 2] as number;
      tails.sync(vm);
      if (st === Status.done) vm.executed = budget - rt.reserve - (I[OUT_LEFT >> 2] as number);
      else drive(vm, rt, st);
      return runs;
    } finally {
      // The run under way when a helper threw inside WebAssembly, or the last one.
      if (begun !== undefined) begun[0] = rt.i32[OUT_RUNS >> 2] as number;
      tails.sync(vm);
      tails.open(undefined);
    }
  }
}

/** Follows a run through tail calls and hand-overs until it ends. */
function drive(vm: Interpreter, rt: WasmRuntime, status: number): void {
  const I = rt.i32;
  let st = status;
  for (;;) {
    const left = I[OUT_LEFT >> 2] as number;
    const frame = I[OUT_FRAME >> 2] as number;
    if (st === Status.done) {
      vm.executed = vm.budget - rt.reserve - left;
      return;
    }
    if (st === Status.tailCall) {
      const np = rt.next as Program;
      rt.next = undefined;
      const w = np.jit;
      const inst = w instanceof WasmProgram ? w.instanceFor(vm) : undefined;
      if (inst !== undefined) {
        clearFrame(vm.stacks[frame] as Region);
        st = inst.fn(0, frame, left, 0, inst.self);
        continue;
      }
      handOff(vm, rt, np, 0, frame, left, false, true);
      return;
    }
    if (I[DEOPT >> 2] !== 0) deoptimize(vm, rt);
    const who = rt.programs[I[OUT_PROG >> 2] as number] as Program;
    handOff(vm, rt, who, I[OUT_PC >> 2] as number, frame, left, st === Status.bail, false);
    return;
  }
}

/**
 * @internal For tests: how many runs the wasm tier has handed to the JavaScript tier, how many
 * helper calls (tail calls included) it has made through JavaScript, and how many programs went
 * from their loop-fast variant to the general one.
 */
export const wasmStats = { handOffs: 0, helperCalls: 0, deopts: 0 };

/** Goes on with the run on the JavaScript tier. */
function handOff(
  vm: Interpreter,
  rt: WasmRuntime,
  p: Program,
  pc: number,
  frame: number,
  left: number,
  precise: boolean,
  clear: boolean,
): void {
  wasmStats.handOffs++;
  tailsFor(rt).sync(vm);
  rt.handOverDirt(false);
  if (clear) clearFrame(vm.stacks[frame] as Region);
  const I = rt.i32;
  for (let f = 0; f < frame; f++) vm.retProg[f] = rt.programs[I[(RET_PROG >> 2) + f] as number] as Program;
  try {
    resumeCompiled(vm, p, pc, frame, left, rt.reserve, precise);
  } finally {
    rt.i32[OUT_TAILCALLS >> 2] = vm.tailCalls;
    rt.handOverDirt(true);
  }
}

function instantiate(wp: WasmProgram, rt: WasmRuntime): Instance {
  const vm = rt.vm;
  const P = wp.prog;
  const L = vm.lo;
  const H = vm.hi;
  const I = rt.i32;
  const mem = vm.memory;
  const helpers = P.helperAt;
  const sl = new Int32Array(1);
  const sh = new Int32Array(1);
  const self = rt.programs.length;
  rt.programs.push(P);
  const tails = tailsFor(rt);
  /** After a tail call (vm.nextProgram taken): 3 when the target runs here through the table, else 2. */
  const tail = (np: Program, frame: number): number => {
    const js = vm.stacks[frame] as Region;
    if (js.dirtyFrom < js.bytes.length) clearFrame(js);
    const w = np.jit;
    const inst = w instanceof WasmProgram ? w.instanceFor(vm) : undefined;
    if (inst === undefined || inst.rt !== rt) {
      rt.next = np;
      return 2;
    }
    I[OUT_NEXT >> 2] = inst.self;
    return 3;
  };
  const call = (k: number, left: number, frame: number): number => {
    const fn = helpers[k] as HelperFn & HelperWithFastPath;
    const fast = fn.fast;
    wasmStats.helperCalls++;
    // What tail calls inside WebAssembly did, for the helpers' limit and the chain's order.
    tails.sync(vm);
    if (fast !== undefined) {
      const t = fast(vm, H[1] as number, L[1] as number, H[2] as number, L[2] as number, L[3] as number);
      const id = P.imm[k];
      if (id === HelperId.map_lookup_elem) {
        if (t === 1) {
          const lo = FAST_R0[0] as number;
          const hi = FAST_R0[1] as number;
          L[0] = lo;
          H[0] = hi;
          if (hi !== 0) {
            const r = mem.regions[(hi - HI0) >>> 0];
            if (r !== undefined) rt.recordLookup(L[1] as number, r);
          }
          return 0;
        }
      } else if (id === HelperId.tail_call) {
        if (t === 1) {
          const np = vm.nextProgram as Program;
          vm.nextProgram = undefined;
          vm.pending = 0;
          vm.current = np;
          I[OUT_TAILCALLS >> 2] = ++vm.tailCalls;
          const st = tail(np, frame);
          if (st === 3) tails.record(L[2] as number, L[3] as number, I[OUT_NEXT >> 2] as number);
          return st;
        }
        if (t === 0) {
          tails.record(L[2] as number, L[3] as number, -1);
          return 0;
        }
      }
    }
    I[NEED_JS >> 2] = 1;
    vm.pc = k;
    vm.executed = vm.budget - rt.reserve - left;
    try {
      const r = fn(vm);
      if (r !== undefined) setReturn(L, H, r);
    } catch (e) {
      throw vm.locate(e, P, k);
    }
    rt.takeHelperDirt();
    if (vm.pending !== 0) {
      const what = vm.pending;
      vm.pending = 0;
      if (what === PENDING_EXIT) return 1;
      const np = vm.nextProgram as Program;
      vm.nextProgram = undefined;
      vm.current = np;
      I[OUT_TAILCALLS >> 2] = ++vm.tailCalls;
      return tail(np, frame);
    }
    return 0;
  };
  const load = (hi: number, lo: number, size: number, signed: number): number => {
    const r = mem.regions[(hi - HI0) >>> 0];
    const i = (lo >>> 0) - LO_BASE;
    if (r === undefined || i < r.start || i + size > r.end) return 0;
    rt.register(r);
    let vl: number;
    let vh: number;
    try {
      if (signed !== 0) {
        vl =
          size === 4 ? r.view.getInt32(i, true) : size === 2 ? r.view.getInt16(i, true) : r.view.getInt8(i);
        vh = vl >> 31;
      } else if (r.onLoad !== undefined) {
        const W = r.loadWords;
        if (size === 4 && W !== undefined && (i & 3) === 0) {
          vl = W[i >> 1] as number;
          vh = W[(i >> 1) + 1] as number;
        } else {
          hookedLoad(r, i, size, sl, sh, 0);
          vl = sl[0] as number;
          vh = sh[0] as number;
        }
      } else if (size === 8) {
        vl = r.view.getInt32(i, true);
        vh = r.view.getInt32(i + 4, true);
      } else {
        vl =
          size === 4 ? r.view.getInt32(i, true) : size === 2 ? r.view.getUint16(i, true) : r.view.getUint8(i);
        vh = 0;
      }
    } catch {
      return 0; // the JS tier runs the load again, and reports what it throws
    }
    I[SCRATCH >> 2] = vl;
    I[(SCRATCH >> 2) + 1] = vh;
    return 1;
  };
  const store = (hi: number, lo: number, size: number, vl: number, vh: number): number => {
    const r = mem.regions[(hi - HI0) >>> 0];
    const i = (lo >>> 0) - LO_BASE;
    if (r === undefined || i < r.start || i + size > r.end || !r.writable) return 0;
    rt.register(r);
    if (i < r.dirtyFrom) r.dirtyFrom = i;
    const v = r.view;
    if (size === 8) {
      v.setInt32(i, vl, true);
      v.setInt32(i + 4, vh, true);
    } else if (size === 4) v.setInt32(i, vl, true);
    else if (size === 2) v.setInt16(i, vl, true);
    else v.setInt8(i, vl);
    return 1;
  };
  const instance = new wasmApi.Instance(wp.module, {
    env: { memory: rt.memory, table: rt.table, call, load, store },
  });
  const ex = instance.exports;
  const fn = ex.run as RunFn;
  const many = ex.many as ManyFn;
  if (rt.table.length <= self) rt.table.grow(self + 1 - rt.table.length);
  // The body (registers as parameters): what tail calls inside WebAssembly call.
  rt.table.set(self, ex.body);
  const inst: Instance = { rt, fn, many, self, tails };
  if (ex.bodyG !== undefined)
    inst.general = { fn: ex.runG as RunFn, many: ex.manyG as ManyFn, body: ex.bodyG };
  return inst;
}

/**
 * Translates `prog` to WebAssembly and attaches it, so `Interpreter.exec` (and everything built
 * on it) runs it; its JavaScript translation, when it has one, stays as the fallback. Throws a
 * VerifierError only for a program `loadProgram` would not have produced.
 */
export function compileWasm(prog: Program): boolean {
  if (prog.jit instanceof WasmProgram) return true;
  const { bytes } = translateProgram(prog);
  let module: object;
  try {
    module = new wasmApi.Module(bytes);
  } catch (e) {
    throw new VerifierError(`the wasm tier produced an invalid module: ${(e as Error).message}`, {
      program: prog.name,
      hint: "run it on the compiled tier (tier: compiled) and report the program",
    });
  }
  const w = new WasmProgram(prog, module);
  if (prog.jit !== undefined) w.fallback = prog.jit;
  prog.jit = w;
  return true;
}

/**
 * Runs `prog` up to `n` times from fresh registers (r1 as set) on `vm`, as `vm.execFresh` would
 * each time, and returns how many runs it made (at least 1; see WasmProgram.enterMany). Programs
 * not on the wasm tier run once. `begun[0]` is set to the runs begun before the last one's end,
 * so a caller knows how many were made when that one throws a fault.
 */
export function execFreshMany(
  vm: Interpreter,
  prog: Program,
  n: number,
  chain: string[],
  begun?: Int32Array,
): number {
  const w = prog.jit;
  if (w instanceof WasmProgram) return w.enterMany(vm, n, chain, begun);
  if (begun !== undefined) begun[0] = 1;
  vm.execFresh(prog);
  return 1;
}

/** Whether `prog` runs on the wasm tier. */
export function isWasm(prog: Program): boolean {
  return prog.jit instanceof WasmProgram;
}

/**
 * Readies `prog`'s wasm code for runs on `vm` (instantiates it there), so a first timed run does
 * not pay for it. Returns whether `prog` is on the wasm tier.
 */
export function primeWasm(prog: Program, vm: Interpreter): boolean {
  if (!(prog.jit instanceof WasmProgram)) return false;
  prog.jit.instanceFor(vm);
  return true;
}

/**
 * Has `vm`'s wasm runtime hold `xdp`'s packet and context and the array maps' values in its
 * memory, besides `vm`'s registers and frames (at once when it has a runtime, else when it gets
 * one: see runtime.ts, planAdoption).
 */
export function adoptForWasm(
  vm: Interpreter,
  xdp: import("../xdp-buffer.js").XdpBuffer,
  maps: readonly unknown[],
): void {
  planAdoption(vm, xdp, maps);
}
