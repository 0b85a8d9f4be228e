import { sharedConstants } from "../interpreter.js";
import { REGION_HI_BASE, REGION_LO_BASE } from "../memory.js";
import { STACK_SIZE } from "../../object/stack-frames.js";

/**
 * The wasm tier's linear memory, one per interpreter (see runtime.ts): fixed byte offsets shared
 * by the translator (translate.ts) and the runtime. Nothing here grows: a grown WebAssembly.Memory
 * detaches every JavaScript view of it, and the interpreter's registers and regions are such views.
 */

const { RUNTIME_FRAMES } = sharedConstants();

/** Frames a run can reach (the interpreter's bound), all laid out at once. */
export const FRAMES = RUNTIME_FRAMES;
/** Where a compiled function leaves `left` (the budget still in hand) when it returns. */
export const OUT_LEFT = 0;
/** Where it leaves the slot to go on from (bail-outs). */
export const OUT_PC = 4;
/** Where it leaves the frame it stopped in. */
export const OUT_FRAME = 8;
/** Deepest frame a compiled function has entered since the runtime was made. */
export const OUT_MAXFRAME = 12;
/** Where a slow load import leaves the value (i64, little-endian). */
export const SCRATCH = 16;
/** Which program (runtime id) to go on in after a bail-out. */
export const OUT_PROG = 24;
/** The runtime id of the program a tail call goes to, when it is translated (table index). */
export const OUT_NEXT = 28;
/** The XDP packet region's high word (0 and an empty window when there is none). */
export const FAST_PKT_HI = 32;
/** Absolute offset of the packet page's byte 0. */
export const FAST_PKT_BASE = 36;
/** The packet's window (`data_meta`), kept by the XDP buffer. */
export const FAST_PKT_START = 40;
/** The packet's window end (`data_end`). */
export const FAST_PKT_END = 44;
/** The XDP context region's high word. */
export const FAST_CTX_HI = 48;
/** Absolute offset of the context's words (`Region.loadWords`). */
export const FAST_CTX_WORDS = 52;
/** Bytes of the context its words cover (0: none). */
export const FAST_CTX_LIMIT = 56;
/** Tail calls the run under way has made (the kernel's limit is 33): the wasm side of `vm.tailCalls`. */
export const OUT_TAILCALLS = 60;
/** The interpreter's `lo` (r0..r10 low words). */
export const REGS_LO = 64;
/** The interpreter's `hi`. */
export const REGS_HI = 128;
/** The interpreter's `savedLo` (r6..r9 per calling frame). */
export const SAVED_LO = 256;
/** The interpreter's `savedHi`. */
export const SAVED_HI = SAVED_LO + FRAMES * 16 + 256;
/** The interpreter's `retPc`. */
export const RET_PC = SAVED_HI + FRAMES * 16 + 256;
/** Runtime id of each calling frame's program (the wasm side of `retProg`). */
export const RET_PROG = RET_PC + FRAMES * 4 + 64;
/** High address word of each frame's stack region. */
export const STACK_HI = RET_PROG + FRAMES * 4 + 64;
/** The region table: one entry per region id below {@link TABLE_REGIONS}. */
export const TABLE = (STACK_HI + FRAMES * 4 + 4095) & ~4095;
/** Region ids the table covers; higher ids go through the slow import. */
export const TABLE_REGIONS = 4096;
/** Bytes per table entry, as a shift. */
export const ENTRY_SHIFT = 5;
/** Entry field: absolute offset of the region's byte 0 in linear memory, -1 when not there. */
export const E_BASE = 0;
/** Entry field: first accessible byte index. */
export const E_START = 4;
/** Entry field: one past the last accessible byte index. */
export const E_END = 8;
/** Entry field: 1 when stores are allowed. */
export const E_WRITABLE = 12;
/** Entry field: lowest byte index stored to by compiled code since the region was last cleared. */
export const E_DIRTY = 16;
/** Entry field: 0 plain; 1 a context whose 4-byte aligned loads read words at {@link E_WORDS}; 2 hooked. */
export const E_HOOK = 20;
/** Entry field: absolute offset of the context's words (`Region.loadWords`). */
export const E_WORDS = 24;
/** The stack frames, {@link STACK_SIZE} bytes each, frame f at `STACKS + f * STACK_SIZE`. */
export const STACKS = (TABLE + (TABLE_REGIONS << ENTRY_SHIFT) + 4095) & ~4095;
/**
 * The array-lookup cache: {@link MAP_CACHE_SLOTS} slots of [map handle, max entries, stride,
 * offset of the per-element region-high-word table], by handle modulo the slot count.
 */
export const MAP_CACHE = (STACKS + FRAMES * STACK_SIZE + 4095) & ~4095;
/** Slots of the array-lookup cache (a power of 2). */
export const MAP_CACHE_SLOTS = 256;
/**
 * The prog-array mirror: {@link PROG_CACHE_SLOTS} slots of [map handle, max entries, offset of
 * the slot table, 0], by handle modulo the slot count. A slot table holds per index 0 (not known:
 * ask JavaScript), -1 (empty: the tail call falls through) or 1 + the target's runtime id. Filled
 * by the tail-call import as it meets slots, emptied when the map changes (tail-calls.ts).
 */
export const PROG_CACHE = MAP_CACHE + MAP_CACHE_SLOTS * 16;
/** Slots of the prog-array mirror (a power of 2). */
export const PROG_CACHE_SLOTS = 64;
/** Most slots a prog array may have to be mirrored (larger ones tail-call through JavaScript). */
export const PROG_MIRROR_MAX = 4096;
/** 1 while a run may tail-call inside WebAssembly (its chain then goes to {@link CHAIN}). */
export const TAIL_INLINE = PROG_CACHE + PROG_CACHE_SLOTS * 16;
/** Entries at {@link CHAIN} not yet given to the run's chain of program names. */
export const CHAIN_N = TAIL_INLINE + 4;
/** 1 when a repeat loop has begun a new run since the chain of names was last brought up to date. */
export const CHAIN_STALE = TAIL_INLINE + 8;
/** Set by the helper import when a helper ran in JavaScript: a repeat loop returns after that run. */
export const NEED_JS = TAIL_INLINE + 12;
/** The status of the run a repeat loop stopped at (see `many` in translate.ts). */
export const OUT_STATUS = TAIL_INLINE + 16;
/**
 * Set by a loop-fast body (translate.ts) when it left for the JS tier at an access that was not
 * the packet: the program it left (OUT_PROG) runs its general variant from then on.
 */
export const DEOPT = TAIL_INLINE + 20;
/** The run a repeat loop is making, from 1 (see `many` in translate.ts): read when a run throws. */
export const OUT_RUNS = TAIL_INLINE + 24;
/** Runtime ids of the programs tail calls made in WebAssembly went to, in order (at most 33 a run). */
export const CHAIN = TAIL_INLINE + 32;
/**
 * The XDP packet's window as the translated code's one-compare check wants it (translate.ts,
 * `packetFast`), rewritten by the runtime whenever the window moves: at {@link PKT_PTR} the
 * pointer (i64) of its first byte, at {@link PKT_ABS} that byte's absolute offset, at
 * {@link PKT_LIM} + 8 * k (k = 0..3 for 1, 2, 4, 8 bytes) how many start offsets an access of
 * that size fits at (i64; 0: none). All zero while no packet is adopted: nothing passes.
 */
export const PKT_PTR = CHAIN + 64 * 4;
/** See {@link PKT_PTR}. */
export const PKT_ABS = PKT_PTR + 8;
/** See {@link PKT_PTR}. */
export const PKT_LIM = PKT_PTR + 16;
/**
 * The XDP context as the one-compare check of a 4-byte context load wants it (translate.ts,
 * `ctxFast`): at {@link CTX_PTR} the pointer (i64) of its byte 0, at {@link CTX_N} how many
 * 4-byte fields the words at FAST_CTX_WORDS hold (i64; 0 while no context is adopted).
 */
export const CTX_PTR = PKT_LIM + 32;
/** See {@link CTX_PTR}. */
export const CTX_N = CTX_PTR + 8;
/** Where adopted regions (packet page, context, array values) are placed. */
export const HEAP = CTX_N + 8;
/**
 * Size of the linear memory, in 64 KiB pages: at least MIN_PAGES, more for large array maps up to
 * MAX_PAGES (a runtime is made per interpreter, and tests make thousands).
 */
export const MIN_PAGES = 8;
/** See {@link MIN_PAGES}. */
export const MAX_PAGES = 256;
/** The page count a module declares for its imported memory (any runtime's memory has at least it). */
export const PAGES = MIN_PAGES;
/** The high word of region id 0 (signed). */
export const HI0 = REGION_HI_BASE | 0;
/** Low address word of byte 0 of a region. */
export const LO_BASE = REGION_LO_BASE;
/** Low word of r10 (the top of a frame). */
export const LO_TOP = REGION_LO_BASE + STACK_SIZE;
/** {@link STACK_SIZE}, re-exported for the translator. */
export const FRAME_SIZE = STACK_SIZE;

/** What a compiled function returns. */
export const Status = {
  /** The run ended; r0 is in the register file. */
  done: 0,
  /** A helper made a tail call: go on in `vm.nextProgram` at its insn 0. */
  tailCall: 1,
  /** Go on in the JS tier's precise variant at OUT_PC (a fault, or what the wasm tier does not do). */
  bail: 2,
  /** Go on in the JS tier at OUT_PC, a block start (budget refill, a return into another program). */
  resume: 3,
} as const;

/** Flag of the compiled function's `flags` argument: r0 and r2..r9 are zero, not read. */
export const FLAG_FRESH = 1;
