import type { Interpreter, Program } from "../interpreter.js";
import { vmObjectOf } from "../maps/handles.js";
import { ProgArrayMap } from "../maps/prog-array-map.js";
import {
  CHAIN,
  CHAIN_N,
  CHAIN_STALE,
  OUT_TAILCALLS,
  PROG_CACHE,
  PROG_CACHE_SLOTS,
  PROG_MIRROR_MAX,
  TAIL_INLINE,
} from "./layout.js";
import type { WasmRuntime } from "./runtime.js";

/**
 * Tail calls made inside WebAssembly (translate.ts, inlineTail): one runtime's mirror of the prog
 * arrays' slots in its memory, and the names of the programs those calls went to. The mirror is
 * filled slot by slot as the tail-call import meets them (a target translated on this runtime, or
 * an empty slot), and a prog array's whole table goes back to "ask JavaScript" when any of its
 * slots changes, so a slot updated between runs is seen by the next tail call. The chain of
 * programs is kept as runtime ids in memory and turned into names only when JavaScript needs them
 * ({@link sync}).
 */
export class WasmTails {
  /** The run's chain of program names, while a repeat loop runs (undefined: no in-wasm tail calls). */
  chain: string[] | undefined;
  /** Slot table offset per prog-array handle. */
  private readonly tables = new Map<number, number>();

  constructor(private readonly rt: WasmRuntime) {
    for (let s = 0; s < PROG_CACHE_SLOTS; s++) rt.i32[(PROG_CACHE >> 2) + s * 4] = -1;
  }

  /** Lets runs tail-call inside WebAssembly, their chain of names going to `chain`; or stops them (undefined). */
  open(chain: string[] | undefined): void {
    this.chain = chain;
    this.rt.i32[TAIL_INLINE >> 2] = chain === undefined ? 0 : 1;
  }

  /**
   * Brings the interpreter's tail-call count and the run's chain of names up to date with what
   * WebAssembly did (before JavaScript runs a helper or goes on with the run, and when it ends).
   */
  sync(vm: Interpreter): void {
    const I = this.rt.i32;
    vm.tailCalls = I[OUT_TAILCALLS >> 2] as number;
    const n = I[CHAIN_N >> 2] as number;
    if (n === 0 && I[CHAIN_STALE >> 2] === 0) return;
    const chain = this.chain;
    if (chain !== undefined) {
      // A repeat loop began a new run: its chain restarts at the entry program, as iterate's does.
      if (I[CHAIN_STALE >> 2] !== 0) while (chain.length > 1) chain.pop();
      for (let k = 0; k < n; k++) {
        const p = this.rt.programs[I[(CHAIN >> 2) + k] as number] as Program;
        chain.push(p.name);
        vm.current = p;
      }
    }
    I[CHAIN_N >> 2] = 0;
    I[CHAIN_STALE >> 2] = 0;
  }

  /**
   * Records what the tail-call helper found at `index` of the prog array with `handle`: the
   * runtime id of the target it jumped to, or -1 when the slot was empty and the call fell
   * through (only then: an index past the end or the limit of 33 falls
   * through whatever the slot holds, and the translated code checks those itself).
   */
  record(handle: number, index: number, id: number): void {
    const map = vmObjectOf(handle);
    if (!(map instanceof ProgArrayMap)) return;
    const max = map.spec.maxEntries;
    if (max > PROG_MIRROR_MAX || index >= max) return;
    if (id < 0 && map.programAt(index) !== undefined) return;
    const I = this.rt.i32;
    let table = this.tables.get(handle);
    if (table === undefined) {
      table = this.rt.alloc(max * 4);
      if (table < 0) return;
      const at = table >> 2;
      this.tables.set(handle, table);
      const rt = this.rt;
      // Once the runtime gave its memory back, the memory is another interpreter's: stop writing.
      map.watch(() => {
        if (rt.released) return false;
        I.fill(0, at, at + max);
        return true;
      });
    }
    const slot = (PROG_CACHE >> 2) + ((handle & (PROG_CACHE_SLOTS - 1)) << 2);
    // A slot taken over from another prog array: that one's table stays, kept right by its watcher.
    I[slot] = handle;
    I[slot + 1] = max;
    I[slot + 2] = table;
    I[(table >> 2) + index] = id < 0 ? -1 : id + 1;
  }
}
