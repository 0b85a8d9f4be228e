import type { Interpreter } from "../interpreter.js";
import { ArrayMap } from "../maps/array-map.js";
import type { Region } from "../memory.js";
import type { XdpBuffer } from "../xdp-buffer.js";
import {
  CTX_N,
  CTX_PTR,
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
  LO_BASE,
  MAP_CACHE,
  MAP_CACHE_SLOTS,
  OUT_MAXFRAME,
  PKT_ABS,
  PKT_LIM,
  PKT_PTR,
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
  Memory: new (d: { initial: number; maximum: number }) => WasmMemory;
  Table: new (d: { initial: number; element: "anyfunc" }) => WasmTable;
  Module: new (bytes: Uint8Array) => object;
  Instance: new (module: object, imports: object) => { exports: Record<string, unknown> };
}

/** A WebAssembly.Memory. */
export interface WasmMemory {
  readonly buffer: ArrayBuffer;
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
  readonly memory: WasmMemory;
  /** Every program's function, at its runtime id: tail calls between them stay in WebAssembly. */
  readonly table: WasmTable = new wasmApi.Table({ initial: 0, element: "anyfunc" });
  readonly i32: Int32Array;
  readonly u8: Uint8Array;
  /** Programs by runtime id (the `self` a compiled function gets). */
  readonly programs: unknown[] = [];
  private heap: number;
  private xdp: XdpBuffer | undefined;
  /** The interpreter's frame 0. */
  readonly stack0: Region;
  /** The budget beyond `left` of the run under way (see Interpreter's CHUNK). */
  reserve = 0;
  /** The target of the tail call a helper just made. */
  next: unknown = undefined;
  /** Set by {@link release}: the memory is no longer this runtime's. */
  released = false;
  /** Runs under way on this runtime ({@link pinRuntime}): it is not taken away while any is. */
  pins = 0;
  /** The memory's pool entry. */
  private readonly slot: Slot;

  /**
   * The interpreter laid out in the memory; none once {@link release}d (the pool may hold the
   * runtime a while: it must not keep the interpreter, its programs and their code alive).
   */
  vm: Interpreter;

  /** Lays `vm` out in `slot`'s memory, which must be zero (fresh, or cleared by the pool). */
  constructor(vm: Interpreter, slot: Slot) {
    this.vm = vm;
    this.slot = slot;
    this.memory = slot.memory;
    this.heap = HEAP;
    slot.used = HEAP;
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
    this.before = before;
    this.listener =
      before === undefined
        ? (r) => this.changed(r)
        : (r) => {
            before(r);
            this.changed(r);
          };
    vm.memory.onChange = this.listener;
    this.stack0 = vm.stacks[0] as Region;
  }

  /** The Memory.onChange listener this runtime installed, and the one it chained to. */
  private readonly listener: (r: Region) => void;
  private readonly before: ((r: Region) => void) | undefined;

  /**
   * Gives the memory back: everything the runtime moved into it (registers, frames, the XDP
   * buffer, array values, and the regions viewing them) is copied out into JavaScript arrays of
   * its own, so the interpreter, its maps and their regions go on as if nothing had moved, and
   * the memory can serve another interpreter. The interpreter gets a runtime again on its next
   * wasm run. Called when its collections are closed, or when the pool hands the memory to
   * another interpreter (see {@link Slot}).
   */
  release(): void {
    if (this.released) return;
    this.handOverDirt(false);
    this.released = true;
    const vm = this.vm;
    const buf = this.memory.buffer;
    const own = vm as unknown as Record<string, Int32Array>;
    for (const name of ["lo", "hi", "savedLo", "savedHi", "retPc"]) {
      const a = own[name] as Int32Array;
      if (a.buffer === buf) own[name] = a.slice();
    }
    const xdp = this.xdp;
    if (xdp !== undefined) {
      xdp.onBounds = undefined;
      xdp.relocate(new Uint8Array(xdp.page.length), new Int32Array(12));
      this.xdp = undefined;
    }
    // Array values: each block gets a buffer of its own again.
    const moved: [Uint8Array, Uint8Array][] = [];
    for (const m of plans.get(vm)?.maps ?? []) {
      const blocks = (m as ArrayMap).blocks;
      for (let c = 0; c < blocks.length; c++) {
        const old = blocks[c] as Uint8Array;
        if (old.buffer !== buf) continue;
        const copy = old.slice();
        blocks[c] = copy;
        moved.push([old, copy]);
      }
    }
    // Every region still viewing the memory: a view of a moved block follows it; any other
    // (the stack frames, the XDP context) gets a copy of its bytes.
    if (vm.memory.onChange === this.listener) vm.memory.onChange = this.before;
    for (const r of vm.memory.regions) {
      if (r === undefined || r.bytes.buffer !== buf) continue;
      const to = follow(r.bytes, moved) ?? r.bytes.slice();
      const dirty = r.dirtyFrom;
      vm.memory.rebind(r, to, r.start, r.end);
      r.dirtyFrom = dirty;
    }
    if (runtimes.get(vm) === this) runtimes.delete(vm);
    // Programs keep their last instance at hand: it must not be entered again.
    for (const p of this.programs)
      (p as { jit?: { forget?: (rt: WasmRuntime) => void } }).jit?.forget?.(this);
    this.programs.length = 0;
    // What would keep the interpreter's graph alive: the instances' functions (their imports
    // close over the interpreter), the regions, and the interpreter itself.
    for (let i = 0; i < this.table.length; i++) this.table.set(i, null);
    this.fixed.clear();
    this.recorded.clear();
    this.elementTables.clear();
    this.next = undefined;
    this.vm = DETACHED;
    giveBack(this.slot, this);
  }

  /**
   * Moves array maps' values into this memory, so compiled code reads and writes them directly
   * (once a slow access has found their region: see {@link register}). A map too large for
   * what is left stays where it is.
   */
  adoptArrays(maps: readonly unknown[]): void {
    const buf = this.memory.buffer;
    const moved: [Uint8Array, Uint8Array][] = [];
    out: for (const m of maps) {
      if (!(m instanceof ArrayMap)) continue;
      const blocks = m.blocks;
      for (let c = 0; c < blocks.length; c++) {
        const old = blocks[c] as Uint8Array;
        if (old.buffer === buf) continue;
        const at = this.alloc(old.length);
        if (at < 0) break out;
        const copy = new Uint8Array(buf, at, old.length);
        copy.set(old);
        blocks[c] = copy;
        moved.push([old, copy]);
      }
    }
    if (moved.length === 0) return;
    // Regions mapped over the blocks before they moved (global data) follow them.
    const mem = this.vm.memory;
    for (const r of mem.regions) {
      if (r === undefined) continue;
      const to = follow(r.bytes, moved);
      if (to === undefined) continue;
      const dirty = r.dirtyFrom;
      mem.rebind(r, to, r.start, r.end);
      r.dirtyFrom = dirty;
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
    if (this.released) return;
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
    this.slot.used = end;
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
    I[CTX_PTR >> 2] = LO_BASE;
    I[(CTX_PTR >> 2) + 1] = xdp.ctx.hi;
    I[CTX_N >> 2] = 24 / 4;
    const hi = xdp.packet.hi;
    const bounds = (start: number, end: number) => {
      I[FAST_PKT_START >> 2] = start;
      I[FAST_PKT_END >> 2] = end;
      I[PKT_PTR >> 2] = LO_BASE + start;
      I[(PKT_PTR >> 2) + 1] = hi;
      I[PKT_ABS >> 2] = page + start;
      for (let k = 0; k < 4; k++) {
        I[(PKT_LIM >> 2) + 2 * k] = Math.max(0, end - start - (1 << k) + 1);
        I[(PKT_LIM >> 2) + 2 * k + 1] = 0;
      }
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

/** What a released runtime's `vm` is: an interpreter of no one, so no program's cached instance matches. */
const DETACHED = Object.freeze({}) as Interpreter;

/**
 * `bytes`' counterpart in a moved block (`moved`: pairs of the block before and after the move),
 * when it lies within one.
 */
function follow(bytes: Uint8Array, moved: readonly [Uint8Array, Uint8Array][]): Uint8Array | undefined {
  for (const [old, copy] of moved) {
    if (bytes.buffer !== old.buffer) continue;
    const at = bytes.byteOffset - old.byteOffset;
    if (at >= 0 && at + bytes.length <= old.length) return copy.subarray(at, at + bytes.length);
  }
  return undefined;
}

/**
 * One WebAssembly memory of the pool, and the runtime it serves (none: free). V8 reserves a large
 * guarded address range for every WebAssembly memory, whatever its size (10 GiB on x64), so a
 * process can hold only so many at once: about 13 000 in 128 TiB of address space, and as few as
 * one under `ulimit -v`. Past that `new WebAssembly.Memory` throws a RangeError. The pool keeps the
 * memories the wasm tier holds, gives free ones (their collections closed, or their interpreter
 * collected) to the next interpreter, and past {@link wasmMemoryPool}'s limit takes the memory of
 * the interpreter that got its own longest ago.
 */
export interface Slot {
  readonly memory: WasmMemory;
  /** Its size in 64 KiB pages. */
  readonly pages: number;
  /** Bytes from offset 0 the last runtime may have written (cleared before the next one). */
  used: number;
  /** The runtime using it; held weakly, so an interpreter nobody keeps frees its memory. */
  owner: WeakRef<WasmRuntime> | undefined;
}

/** What goes into an interpreter's memory when it gets one: its XDP buffer and its array maps. */
interface Plan {
  xdp: XdpBuffer | undefined;
  maps: unknown[];
  /** Heap bytes the array maps need. */
  bytes: number;
}

const plans = new WeakMap<Interpreter, Plan>();
const runtimes = new WeakMap<Interpreter, WasmRuntime>();
/** Interpreters refused a memory, with the pool's {@link wasmMemoryPool.epoch} then. */
const refused = new WeakMap<Interpreter, number>();

/**
 * Default limit of WebAssembly memories the wasm tier holds at once (in use and free): far below
 * what V8 allows on a 64-bit host (about 13 000), and about 60 MB of touched pages at most.
 */
export const DEFAULT_MEMORY_LIMIT = 256;
/** Free memories kept for reuse; past that a freed one is dropped (V8 unmaps it). */
const KEEP_FREE = 8;

/** @internal The wasm tier's memory pool (see {@link Slot}); tests lower its limit. */
export const wasmMemoryPool = {
  /** Most memories held at once, in use and free; 0: none (every program runs on the JS tier). */
  limit: DEFAULT_MEMORY_LIMIT,
  /** The memories held, the longest-held first. */
  slots: [] as Slot[],
  /** Bumped when a memory becomes free or the limit changes: a refused interpreter tries again. */
  epoch: 0,
  /** Memories made, reused, taken from an interpreter still alive, and interpreters refused one. */
  stats: { created: 0, reused: 0, evicted: 0, refused: 0 },
};

/** @internal Sets the pool's limit (tests: 0 or 1 forces the fallback or the reuse); returns the previous one. */
export function setWasmMemoryLimit(limit: number): number {
  const before = wasmMemoryPool.limit;
  wasmMemoryPool.limit = limit;
  wasmMemoryPool.epoch++;
  const slots = wasmMemoryPool.slots;
  // Free memories past the new limit go now.
  for (let i = slots.length - 1; i >= 0 && slots.length > limit; i--) {
    if (ownerOf(slots[i] as Slot) === undefined) slots.splice(i, 1);
  }
  return before;
}

/** A collected runtime's memory is free. */
const registry = new FinalizationRegistry<Slot>((slot) => {
  if (slot.owner !== undefined && slot.owner.deref() === undefined) freed(slot);
});

/** The live runtime using `slot`, if any (a collected one frees it). */
function ownerOf(slot: Slot): WasmRuntime | undefined {
  const owner = slot.owner;
  if (owner === undefined) return undefined;
  const rt = owner.deref();
  if (rt === undefined) slot.owner = undefined;
  return rt;
}

/** `slot` no longer serves a runtime: kept for reuse, or dropped when enough are. */
function freed(slot: Slot): void {
  slot.owner = undefined;
  wasmMemoryPool.epoch++;
  const slots = wasmMemoryPool.slots;
  let free = 0;
  for (const s of slots) if (s.owner === undefined) free++;
  if (free > KEEP_FREE) {
    const i = slots.indexOf(slot);
    if (i >= 0) slots.splice(i, 1);
  }
}

/** Called by {@link WasmRuntime.release}. */
function giveBack(slot: Slot, rt: WasmRuntime): void {
  registry.unregister(rt);
  if (slot.owner?.deref() === rt) freed(slot);
}

/** A zeroed memory of at least `pages` pages for a new runtime, or none to be had. */
function acquire(pages: number): Slot | undefined {
  const pool = wasmMemoryPool;
  const slots = pool.slots;
  if (pool.limit <= 0) return undefined;
  // A free one, the smallest that fits.
  let best: Slot | undefined;
  for (const s of slots) {
    if (s.pages >= pages && ownerOf(s) === undefined && (best === undefined || s.pages < best.pages))
      best = s;
  }
  if (best !== undefined) return reuse(best);
  if (slots.length < pool.limit) {
    const s = create(pages);
    if (s !== undefined) return s;
  }
  // The memory of the interpreter that got one longest ago and is not running.
  for (const s of [...slots]) {
    const rt = ownerOf(s);
    if (rt === undefined || rt.pins > 0) continue;
    rt.release();
    pool.stats.evicted++;
    if (s.pages >= pages && slots.includes(s)) return reuse(s);
    const i = slots.indexOf(s);
    if (i >= 0) slots.splice(i, 1);
    const made = create(pages);
    if (made !== undefined) return made;
  }
  return undefined;
}

function reuse(s: Slot): Slot {
  new Uint8Array(s.memory.buffer, 0, s.used).fill(0);
  s.used = 0;
  const slots = wasmMemoryPool.slots;
  slots.splice(slots.indexOf(s), 1);
  slots.push(s);
  wasmMemoryPool.stats.reused++;
  return s;
}

function create(pages: number): Slot | undefined {
  let memory: WasmMemory;
  try {
    memory = new wasmApi.Memory({ initial: pages, maximum: pages });
  } catch (e) {
    // V8 refuses past its limit of live memories (see Slot).
    if (e instanceof RangeError) return undefined;
    throw e;
  }
  const s: Slot = { memory, pages, used: 0, owner: undefined };
  wasmMemoryPool.slots.push(s);
  wasmMemoryPool.stats.created++;
  return s;
}

/**
 * The wasm runtime of `vm`: made on first use, in a memory from the pool, with `vm`'s XDP buffer
 * and array maps moved in as {@link planAdoption} recorded (within {@link MAX_PAGES}: what does
 * not fit stays in JavaScript, reached through the imports). None when no memory can be had: the
 * interpreter then runs its programs on the JS tier (compiler.ts), with the same results.
 */
export function runtimeOf(vm: Interpreter): WasmRuntime | undefined {
  const rt = runtimes.get(vm);
  return rt === undefined ? makeRuntime(vm) : rt;
}

function makeRuntime(vm: Interpreter): WasmRuntime | undefined {
  const pool = wasmMemoryPool;
  if (refused.get(vm) === pool.epoch) return undefined;
  const plan = plans.get(vm);
  const heapBytes = plan?.bytes ?? 0;
  const pages = Math.min(MAX_PAGES, Math.max(MIN_PAGES, Math.ceil((HEAP + 16384 + heapBytes) / 65536)));
  const slot = acquire(pages);
  if (slot === undefined) {
    refused.set(vm, pool.epoch);
    pool.stats.refused++;
    return undefined;
  }
  refused.delete(vm);
  const rt = new WasmRuntime(vm, slot);
  slot.owner = new WeakRef(rt);
  registry.register(rt, slot, rt);
  runtimes.set(vm, rt);
  if (plan !== undefined) {
    if (plan.xdp !== undefined) rt.adoptXdp(plan.xdp);
    rt.adoptArrays(plan.maps);
  }
  return rt;
}

/**
 * Records what `vm`'s runtime moves into its memory: the XDP buffer runs lay packets out in and
 * `maps`' array values (a collection's, at load). Done at once when `vm` has a runtime, else when
 * it gets one (its first wasm run), and again whenever it gets a memory back.
 */
export function planAdoption(vm: Interpreter, xdp: XdpBuffer, maps: readonly unknown[]): void {
  let plan = plans.get(vm);
  if (plan === undefined) {
    plan = { xdp, maps: [], bytes: 0 };
    plans.set(vm, plan);
  }
  plan.xdp = xdp;
  for (const m of maps) {
    if (!(m instanceof ArrayMap)) continue;
    plan.maps.push(m);
    plan.bytes += m.blocks.reduce((n, b) => n + b.length + 8, 0) + m.spec.maxEntries * 4 + 8;
  }
  const rt = runtimes.get(vm);
  if (rt !== undefined) {
    rt.adoptXdp(xdp);
    rt.adoptArrays(maps);
  }
}

/** Gives `vm`'s memory back to the pool (its collections are closed); see {@link WasmRuntime.release}. */
export function releaseRuntime(vm: Interpreter): void {
  runtimes.get(vm)?.release();
}

/**
 * Gets `vm` its runtime for runs about to start (see {@link runtimeOf}) and keeps it until
 * {@link unpinRuntime}: the pool does not take a memory from an interpreter in the middle of
 * runs (a batch's packet callback may run another collection).
 */
export function pinRuntime(vm: Interpreter): WasmRuntime | undefined {
  const rt = runtimeOf(vm);
  if (rt !== undefined) rt.pins++;
  return rt;
}

/** Ends a {@link pinRuntime}. */
export function unpinRuntime(rt: WasmRuntime | undefined): void {
  if (rt !== undefined) rt.pins--;
}

/**
 * Whether `vm`'s wasm programs run on the JS tier for want of a memory: it has none, and was
 * refused one at its last try (it tries again at its next run once a memory has become free).
 */
export function lacksMemory(vm: Interpreter): boolean {
  return !runtimes.has(vm) && refused.has(vm);
}
