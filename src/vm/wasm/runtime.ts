import type { Interpreter } from "../interpreter.js";
import type { Region } from "../memory.js";
import type { XdpBuffer } from "../xdp-buffer.js";
import {
  E_BASE,
  E_DIRTY,
  E_END,
  E_HOOK,
  E_START,
  E_WORDS,
  E_WRITABLE,
  ENTRY_SHIFT,
  FRAME_SIZE,
  FRAMES,
  HEAP,
  OUT_MAXFRAME,
  PAGES,
  REGS_HI,
  REGS_LO,
  RET_PC,
  SAVED_HI,
  SAVED_LO,
  STACK_HI,
  STACKS,
  TABLE,
  TABLE_REGIONS,
} from "./layout.js";

/** The part of the WebAssembly JS API the wasm tier uses (Node's typings do not declare it). */
interface WasmApi {
  Memory: new (d: { initial: number; maximum: number }) => { buffer: ArrayBuffer };
  Module: new (bytes: Uint8Array) => object;
  Instance: new (module: object, imports: object) => { exports: Record<string, unknown> };
}

/** The global `WebAssembly`. */
export const wasmApi = (globalThis as unknown as { WebAssembly: WasmApi }).WebAssembly;

/**
 * One interpreter's side of the wasm tier: the linear memory its compiled programs share, laid
 * out as layout.ts says. Made the first time a wasm program runs on the interpreter, it moves the
 * interpreter's register file, saved registers, return slots and every stack frame it can reach
 * into that memory (the arrays and regions keep their ids and addresses: the interpreter and the
 * JS tier go on using them as before), and keeps a table of the regions compiled code reaches
 * without calling out: the stack frames and the regions adopted with {@link adoptXdp}.
 */
export class WasmRuntime {
  readonly memory: { buffer: ArrayBuffer };
  readonly i32: Int32Array;
  readonly u8: Uint8Array;
  /** Programs by runtime id (the `self` a compiled function gets). */
  readonly programs: unknown[] = [];
  /** Regions whose window can move between runs (the packet): copied to the table on each entry. */
  private readonly moving: Region[] = [];
  private heap = HEAP;
  private xdp: XdpBuffer | undefined;
  /** The budget beyond `left` of the run under way (see Interpreter's CHUNK). */
  reserve = 0;
  /** The target of the tail call a helper just made. */
  next: unknown = undefined;

  constructor(readonly vm: Interpreter) {
    this.memory = new wasmApi.Memory({ initial: PAGES, maximum: PAGES });
    const buf = this.memory.buffer;
    this.i32 = new Int32Array(buf);
    this.u8 = new Uint8Array(buf);
    for (let id = 0; id < TABLE_REGIONS; id++) this.i32[(TABLE >> 2) + (id << (ENTRY_SHIFT - 2))] = -1;
    const move = (name: "lo" | "hi" | "savedLo" | "savedHi" | "retPc", at: number) => {
      const old = vm[name];
      const moved = new Int32Array(buf, at, old.length);
      moved.set(old);
      (vm as unknown as Record<string, Int32Array>)[name] = moved;
    };
    move("lo", REGS_LO);
    move("hi", REGS_HI);
    move("savedLo", SAVED_LO);
    move("savedHi", SAVED_HI);
    move("retPc", RET_PC);
    while (vm.stacks.length < FRAMES) vm.addStackFrame();
    vm.stacks.forEach((r, f) => {
      if (f >= FRAMES) return;
      const at = STACKS + f * FRAME_SIZE;
      // Fresh memory is zero: the frame starts clean on both sides.
      vm.memory.rebind(r, new Uint8Array(buf, at, FRAME_SIZE));
      r.dirtyFrom = FRAME_SIZE;
      this.i32[(STACK_HI >> 2) + f] = r.hi;
      this.setEntry(r, at, -1);
      this.i32[this.entry(r) + (E_DIRTY >> 2)] = FRAME_SIZE;
    });
  }

  /** Index (in i32s) of region `r`'s table entry. */
  private entry(r: Region): number {
    return (TABLE >> 2) + (r.id << (ENTRY_SHIFT - 2));
  }

  private setEntry(r: Region, base: number, words: number): void {
    if (r.id >= TABLE_REGIONS) return;
    const e = this.entry(r);
    const I = this.i32;
    I[e + (E_BASE >> 2)] = base;
    I[e + (E_START >> 2)] = r.start;
    I[e + (E_END >> 2)] = r.end;
    I[e + (E_WRITABLE >> 2)] = r.writable ? 1 : 0;
    I[e + (E_DIRTY >> 2)] = r.bytes.length;
    I[e + (E_HOOK >> 2)] = r.onLoad === undefined ? 0 : words >= 0 ? 1 : 2;
    I[e + (E_WORDS >> 2)] = words;
  }

  private alloc(size: number): number {
    const at = this.heap;
    const end = (at + size + 7) & ~7;
    if (end > this.u8.length) return -1;
    this.heap = end;
    return at;
  }

  /**
   * Moves an XDP buffer's page and context into this memory, so compiled code reads and writes
   * the packet and the context's words directly.
   */
  adoptXdp(xdp: XdpBuffer): void {
    if (this.xdp === xdp) return;
    const page = this.alloc(xdp.page.length);
    const words = this.alloc(12 * 4);
    const ctx = this.alloc(xdp.ctx.bytes.length);
    if (page < 0 || words < 0 || ctx < 0) return;
    const buf = this.memory.buffer;
    xdp.relocate(new Uint8Array(buf, page, xdp.page.length), new Int32Array(buf, words, 12));
    const cb = new Uint8Array(buf, ctx, xdp.ctx.bytes.length);
    cb.set(xdp.ctx.bytes);
    this.vm.memory.rebind(xdp.ctx, cb, xdp.ctx.start, xdp.ctx.end);
    this.setEntry(xdp.packet, page, -1);
    this.setEntry(xdp.ctx, ctx, words);
    this.moving.push(xdp.packet);
    this.xdp = xdp;
  }

  /** Copies the windows of regions that move (the packet's, after a reset or adjust_head) to the table. */
  refresh(): void {
    const I = this.i32;
    for (const r of this.moving) {
      if (r.id >= TABLE_REGIONS) continue;
      const e = this.entry(r);
      I[e + (E_START >> 2)] = r.start;
      I[e + (E_END >> 2)] = r.end;
    }
  }

  /**
   * Hands the stack frames' dirty marks from compiled code to the JS side (before the JS tier
   * goes on with a run, which clears frames by its own marks), or back (`toWasm`: after a helper
   * or the JS tier stored into frames compiled code is about to reuse).
   */
  handOverDirt(toWasm: boolean): void {
    const I = this.i32;
    const stacks = this.vm.stacks;
    const top = toWasm ? stacks.length - 1 : Math.min(I[OUT_MAXFRAME >> 2] as number, stacks.length - 1);
    for (let f = 0; f <= top; f++) {
      const r = stacks[f] as Region;
      const e = this.entry(r) + (E_DIRTY >> 2);
      const w = I[e] as number;
      if (toWasm) {
        if (r.dirtyFrom < w) I[e] = r.dirtyFrom;
        r.dirtyFrom = FRAME_SIZE;
      } else {
        if (w < r.dirtyFrom) r.dirtyFrom = w;
        I[e] = FRAME_SIZE;
      }
    }
  }

  /** As {@link handOverDirt}(true) for the frames up to the deepest one compiled code reached. */
  takeHelperDirt(): void {
    const I = this.i32;
    const stacks = this.vm.stacks;
    const top = Math.min(I[OUT_MAXFRAME >> 2] as number, stacks.length - 1);
    for (let f = 0; f <= top; f++) {
      const r = stacks[f] as Region;
      if (r.dirtyFrom < FRAME_SIZE) {
        const e = this.entry(r) + (E_DIRTY >> 2);
        if (r.dirtyFrom < (I[e] as number)) I[e] = r.dirtyFrom;
        r.dirtyFrom = FRAME_SIZE;
      }
    }
  }
}

const runtimes = new WeakMap<Interpreter, WasmRuntime>();

/** The wasm runtime of `vm`, made on first use. */
export function runtimeOf(vm: Interpreter): WasmRuntime {
  let rt = runtimes.get(vm);
  if (rt === undefined) {
    rt = new WasmRuntime(vm);
    runtimes.set(vm, rt);
  }
  return rt;
}
