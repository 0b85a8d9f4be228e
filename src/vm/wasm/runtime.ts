import type { Interpreter } from "../interpreter.js";
import { ArrayMap } from "../maps/array-map.js";
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
  FAST_CTX_HI,
  FAST_CTX_LIMIT,
  FAST_CTX_WORDS,
  FAST_PKT_BASE,
  FAST_PKT_END,
  FAST_PKT_HI,
  FAST_PKT_START,
  FRAME_SIZE,
  FRAMES,
  HEAP,
  MAP_CACHE,
  MAP_CACHE_SLOTS,
  OUT_MAXFRAME,
  MAX_PAGES,
  MIN_PAGES,
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
  Table: new (d: { initial: number; element: "anyfunc" }) => WasmTable;
  Module: new (bytes: Uint8Array) => object;
  Instance: new (module: object, imports: object) => { exports: Record<string, unknown> };
}

/** A WebAssembly.Table of functions. */
export interface WasmTable {
  length: number;
  grow(n: number): number;
  set(i: number, f: unknown): void;
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
  /** Every program's function, at its runtime id: tail calls between them stay in WebAssembly. */
  readonly table: WasmTable = new wasmApi.Table({ initial: 0, element: "anyfunc" });
  readonly i32: Int32Array;
  readonly u8: Uint8Array;
  /** Programs by runtime id (the `self` a compiled function gets). */
  readonly programs: unknown[] = [];
  private heap = HEAP;
  private xdp: XdpBuffer | undefined;
  /** The interpreter's frame 0. */
  readonly stack0: Region;
  /** The budget beyond `left` of the run under way (see Interpreter's CHUNK). */
  reserve = 0;
  /** The target of the tail call a helper just made. */
  next: unknown = undefined;

  constructor(
    readonly vm: Interpreter,
    pages = MIN_PAGES,
  ) {
    this.memory = new wasmApi.Memory({ initial: pages, maximum: pages });
    const buf = this.memory.buffer;
    this.i32 = new Int32Array(buf);
    this.u8 = new Uint8Array(buf);
    for (let id = 0; id < TABLE_REGIONS; id++) this.i32[(TABLE >> 2) + (id << (ENTRY_SHIFT - 2))] = -1;
    for (let s = 0; s < MAP_CACHE_SLOTS; s++) this.i32[(MAP_CACHE >> 2) + s * 4] = -1;
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
      this.fixed.add(r);
    });
    // Chained: interpreters sharing one Memory each keep a table.
    const before = vm.memory.onChange;
    vm.memory.onChange =
      before === undefined
        ? (r) => this.changed(r)
        : (r) => {
            before(r);
            this.changed(r);
          };
    this.stack0 = vm.stacks[0] as Region;
  }

  /**
   * Moves array maps' values into this memory, so compiled code reads and writes them directly
   * (once a slow access has found their region: see {@link register}). A map too large for
   * what is left stays where it is.
   */
  adoptArrays(maps: readonly unknown[]): void {
    const buf = this.memory.buffer;
    for (const m of maps) {
      if (!(m instanceof ArrayMap)) continue;
      const blocks = m.blocks;
      for (let c = 0; c < blocks.length; c++) {
        const old = blocks[c] as Uint8Array;
        if (old.buffer === buf) continue;
        const at = this.alloc(old.length);
        if (at < 0) return;
        const moved = new Uint8Array(buf, at, old.length);
        moved.set(old);
        blocks[c] = moved;
      }
    }
  }

  /**
   * Lets compiled code reach `r` directly from now on, when its bytes are in this memory and it
   * has no load hook. Called by the slow access imports; the table entry goes again when the
   * region is unmapped, rebound or given new bounds (Memory.onChange).
   */
  register(r: Region): void {
    if (r.id >= TABLE_REGIONS || r.onLoad !== undefined || r.bytes.buffer !== this.memory.buffer) return;
    if (this.vm.memory.regions[r.id] !== r) return;
    this.setEntry(r, r.bytes.byteOffset, -1);
  }

  /** Element tables of the lookup cache, by map handle. */
  private readonly elementTables = new Map<number, number>();
  /** Per region id recorded in an element table: the table word and the region. */
  private readonly recorded = new Map<number, [number, Region]>();

  /**
   * Records what the array-lookup fast path found: map `handle`'s element at `r` (a region of an
   * ArrayMap), so the next lookups of it are inline (translate.ts, inlineLookup).
   */
  recordLookup(handle: number, r: Region): void {
    const m = r.owner;
    if (!(m instanceof ArrayMap) || r.id >= TABLE_REGIONS) return;
    const max = m.spec.maxEntries;
    if (max > 1 << 16 || r.start % m.stride !== 0) return;
    const I = this.i32;
    let table = this.elementTables.get(handle);
    if (table === undefined) {
      table = this.alloc(max * 4);
      if (table < 0) return;
      this.elementTables.set(handle, table);
    }
    const slot = (MAP_CACHE >> 2) + ((handle & (MAP_CACHE_SLOTS - 1)) << 2);
    if (I[slot] !== handle) {
      I[slot] = handle;
      I[slot + 1] = max;
      I[slot + 2] = m.stride;
      I[slot + 3] = table;
    }
    const word = (table >> 2) + r.start / m.stride;
    I[word] = r.hi;
    this.recorded.set(r.id, [word, r]);
    this.register(r);
  }

  /** Memory.onChange: a region registered by {@link register} is forgotten. */
  private changed(r: Region): void {
    const rec = this.recorded.get(r.id);
    if (rec !== undefined && rec[1] === r) {
      this.i32[rec[0]] = 0;
      this.recorded.delete(r.id);
    }
    if (r.id >= TABLE_REGIONS) return;
    const e = this.entry(r);
    // Stack frames and the context keep their entries (their bounds never move).
    if (this.fixed.has(r)) return;
    this.i32[e + (E_BASE >> 2)] = -1;
  }

  /** Regions whose table entries stay (stack frames, the XDP context). */
  private readonly fixed = new Set<Region>();

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

  /** @internal Bytes of the heap (8-aligned), or -1 when they do not fit. */
  alloc(size: number): number {
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
    // The packet is reached through the FAST_PKT_* words only (its table entry stays "not here",
    // so an access outside its window goes to JavaScript, which faults as the other tiers do).
    this.setEntry(xdp.ctx, ctx, words);
    this.fixed.add(xdp.ctx);
    const I = this.i32;
    I[FAST_PKT_HI >> 2] = xdp.packet.hi;
    I[FAST_PKT_BASE >> 2] = page;
    I[FAST_CTX_HI >> 2] = xdp.ctx.hi;
    I[FAST_CTX_WORDS >> 2] = words;
    I[FAST_CTX_LIMIT >> 2] = 24;
    const bounds = (start: number, end: number) => {
      I[FAST_PKT_START >> 2] = start;
      I[FAST_PKT_END >> 2] = end;
    };
    bounds(xdp.packet.start, xdp.packet.end);
    xdp.onBounds = bounds;
    this.xdp = xdp;
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

/**
 * The wasm runtime of `vm`, made on first use with room for `heapBytes` of adopted regions
 * (within {@link MAX_PAGES}: what does not fit stays in JavaScript, reached through the imports).
 */
export function runtimeOf(vm: Interpreter, heapBytes = 0): WasmRuntime | undefined {
  let rt = runtimes.get(vm);
  if (rt === undefined) {
    if (unavailable.has(vm)) return undefined;
    const pages = Math.min(MAX_PAGES, Math.max(MIN_PAGES, Math.ceil((HEAP + 16384 + heapBytes) / 65536)));
    try {
      rt = new WasmRuntime(vm, pages);
    } catch (e) {
      // V8 reserves address space per WebAssembly memory; with too many alive at once it refuses
      // more. The interpreter then runs its programs on the compiled tier.
      if (!(e instanceof RangeError)) throw e;
      unavailable.add(vm);
      return undefined;
    }
    runtimes.set(vm, rt);
  }
  return rt;
}

/** Interpreters whose runtime could not be made. */
const unavailable = new WeakSet<Interpreter>();
