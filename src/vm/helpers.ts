import {
  BPF_F_CTXLEN_MASK,
  BPF_F_CURRENT_CPU,
  BPF_F_INDEX_MASK,
  Errno,
  HelperId,
  XdpAction,
} from "../abi/index.js";
import type { RedirectTarget } from "../backend/types.js";
import { formatTracePrintk, type PrintkMemory, TRACE_VPRINTK_MAX_ARGS } from "../trace/printk.js";
import { vmFault } from "./fault.js";
import type { HelperFn, Interpreter, Program } from "./interpreter.js";
import {
  ArrayMap,
  type ArrayOfMaps,
  type HashOfMaps,
  ProgArrayMap,
  PerfEventArrayMap,
  RingbufMap,
  type VmMapBase,
  vmObjectOf,
} from "./maps/index.js";
import { type Memory, REGION_HI_BASE, REGION_LO_BASE, type Region } from "./memory.js";
import type { SkbBuffer } from "./skb/skb-buffer.js";
import { addSkbHelpers, SKB_HELPERS } from "./skb/skb-helpers.js";
import { toU64 } from "./u64.js";
import type { XdpBuffer } from "./xdp-buffer.js";

/**
 * The helper functions the VM implements, with the kernel's semantics (kernel/bpf/helpers.c,
 * net/core/filter.c, kernel/trace/bpf_trace.c). Anything not listed here is refused when a
 * program is loaded, naming the helper.
 */
export const SUPPORTED_HELPERS: readonly string[] = [
  "map_lookup_elem",
  "map_update_elem",
  "map_delete_elem",
  "ktime_get_ns",
  "trace_printk",
  "get_prandom_u32",
  "get_smp_processor_id",
  "tail_call",
  "redirect",
  "csum_diff",
  "xdp_adjust_head",
  "redirect_map",
  "xdp_adjust_meta",
  "xdp_adjust_tail",
  "ktime_get_boot_ns",
  "ringbuf_output",
  "ringbuf_reserve",
  "ringbuf_submit",
  "ringbuf_discard",
  "ringbuf_query",
  "trace_vprintk",
  "perf_event_output",
  ...SKB_HELPERS,
];

/** `MAX_TAIL_CALL_CNT`: tail calls one packet may make (so at most 34 programs run). */
export const MAX_TAIL_CALL_CNT = 33;

/** High word of the values `lddw` gives for a map reference: not an address, just a handle. */
export const MAP_POINTER_HI = 0xfffe0000 | 0;

/** Encodes a map handle as the 64-bit value a program holds in a register. */
export function mapPointer(handle: number): bigint {
  return toU64(MAP_POINTER_HI, handle);
}

const EINVAL = -Errno.EINVAL;
const XDP_REDIRECT = 4;

/**
 * State of the run in progress, read and written by helpers. One object per collection, reset
 * (not reallocated) by each `run()`, so a `repeat` loop allocates nothing while nothing prints.
 */
export interface RunState {
  xdp: XdpBuffer | undefined;
  /** The skb of a tc run (undefined while an XDP program runs). */
  skb: SkbBuffer | undefined;
  /** Messages printed so far by this `run()` (all iterations), at most {@link maxTrace}. */
  trace: string[];
  /** Most messages kept; further printk calls still succeed, as the kernel's ring drops lines. */
  maxTrace: number;
  /** Programs of the current iteration, in order (tail calls followed). */
  chain: string[];
  redirect: RedirectTarget | undefined;
  cpu: number;
  /** Map value regions mapped during this `run()`; unmapped when it ends. */
  regions: Region[];
  /** Ring-buffer record regions; unmapped at the end of each iteration (the record is gone). */
  records: Region[];
  /** Map value regions by storage block and offset, so repeated lookups reuse one region. */
  valueRegions: Map<Uint8Array, Map<number, Region>>;
  /**
   * Regions of array elements, by storage block and index, kept for the space's life: an array's
   * elements never move, so a lookup of one needs a region once, not once per run. At most
   * {@link MAX_ARRAY_REGIONS} in all; past that, elements get per-run regions as other values do.
   */
  arrayRegions: Map<Uint8Array, (Region | undefined)[]>;
  /** How many regions {@link arrayRegions} holds. */
  arrayRegionCount: number;
}

/** Most array-element regions a space keeps mapped across runs (see `RunState.arrayRegions`). */
export const MAX_ARRAY_REGIONS = 8192;

/** A fresh, empty {@link RunState}. */
export function newRunState(maxTrace: number): RunState {
  return {
    xdp: undefined,
    skb: undefined,
    trace: [],
    maxTrace,
    chain: [],
    redirect: undefined,
    cpu: 0,
    regions: [],
    records: [],
    valueRegions: new Map(),
    arrayRegions: new Map(),
    arrayRegionCount: 0,
  };
}

/** What the helpers need from the collection: the VM program of a slot, random numbers, time. */
export interface HelperEnvironment {
  state(): RunState;
  programFor(prog: unknown): Program | undefined;
  random(): number;
  now(): bigint;
}

/**
 * The map a register holds. `mapCache` keeps handles already resolved (per collection): helpers run
 * per packet, and the handle table's WeakRef lookup costs more than the rest of a map lookup.
 */
function resolveMap(vm: Interpreter, reg: number, mapCache: (VmMapBase | undefined)[]): VmMapBase {
  const hi = vm.hi[reg] as number;
  const lo = vm.lo[reg] as number;
  let obj: VmMapBase | undefined;
  if (hi === MAP_POINTER_HI) {
    const h = lo >>> 0;
    obj = h < mapCache.length ? mapCache[h] : undefined;
    if (obj === undefined) {
      obj = vmObjectOf(h) as VmMapBase | undefined;
      if (obj !== undefined && h < 1 << 20) mapCache[h] = obj;
    }
  }
  if (obj === undefined) {
    throw vmFault("helper", `r${reg} is not a map pointer (0x${toU64(hi, lo).toString(16)})`, {
      hint: "the kernel verifier would reject this program",
    });
  }
  return obj as VmMapBase;
}

function valueRegion(
  state: RunState,
  memory: Memory,
  bytes: Uint8Array,
  offset: number,
  size: number,
  map: VmMapBase,
): Region {
  let byOffset = state.valueRegions.get(bytes);
  if (byOffset === undefined) {
    byOffset = new Map();
    state.valueRegions.set(bytes, byOffset);
  }
  let r = byOffset.get(offset);
  if (r === undefined) {
    r = memory.map(bytes, {
      writable: !map.readOnlyForProgram,
      name: `map ${map.name} value`,
      start: offset,
      end: offset + size,
      owner: map,
    });
    byOffset.set(offset, r);
    state.regions.push(r);
  }
  return r;
}

/** The region of element `index` of an array map's `block` (see `RunState.arrayRegions`). */
function arrayRegion(
  state: RunState,
  memory: Memory,
  map: ArrayMap,
  block: Uint8Array,
  index: number,
): Region {
  let byIndex = state.arrayRegions.get(block);
  if (byIndex === undefined) {
    byIndex = [];
    state.arrayRegions.set(block, byIndex);
  }
  let r = byIndex[index];
  if (r === undefined) {
    const offset = index * map.stride;
    if (state.arrayRegionCount >= MAX_ARRAY_REGIONS)
      return valueRegion(state, memory, block, offset, map.spec.valueSize, map);
    r = memory.map(block, {
      writable: !map.readOnlyForProgram,
      name: `map ${map.name} value`,
      start: offset,
      end: offset + map.spec.valueSize,
      owner: map,
    });
    byIndex[index] = r;
    state.arrayRegionCount++;
  }
  return r;
}

/**
 * @internal A helper's fast path, called by the compiled tier with the argument registers as
 * words instead of through the interpreter's register file; returns {@link FAST_UNHANDLED} when
 * the case is not one it covers (then the compiled code calls the helper itself).
 */
export type FastPath = (
  vm: Interpreter,
  h1: number,
  l1: number,
  h2: number,
  l2: number,
  l3: number,
) => number;

/** What the array-lookup fast path keeps per map (see createHelpers). */
interface ArrayFast {
  max: number;
  stride: number;
  percpu: boolean;
  blocks: readonly Uint8Array[];
  /** Per block: its element regions (`RunState.arrayRegions`' array), once it has one. */
  regions: ((Region | undefined)[] | undefined)[];
}

/** @internal What a {@link FastPath} returns when the helper itself must run. */
export const FAST_UNHANDLED = -1;

/** @internal A helper with a {@link FastPath}. */
export interface HelperWithFastPath {
  fast?: FastPath;
}

/**
 * @internal Where a {@link FastPath} of `bpf_map_lookup_elem` leaves r0 (low word, high word) when
 * it returns 1.
 */
export const FAST_R0 = new Int32Array(2);

const HI0 = REGION_HI_BASE | 0;

/** Reads `size` bytes of a key or value a helper was given a pointer to. */
function readArg(vm: Interpreter, reg: number, size: number): Uint8Array {
  return vm.memory.viewWords(vm.hi[reg] as number, vm.lo[reg] as number, size, false);
}

function printkMemory(memory: Memory): PrintkMemory {
  return {
    readString(addr, max) {
      const r = memory.regionOf(addr);
      if (r === undefined) return undefined;
      const i = memory.indexOf(addr);
      if (i < r.start || i >= r.end) return undefined;
      const limit = Math.min(r.end, i + max);
      let end = i;
      while (end < limit && r.bytes[end] !== 0) end++;
      return r.bytes.slice(i, end);
    },
    readBytes(addr, len) {
      try {
        return memory.readBytes(addr, len);
      } catch {
        return undefined;
      }
    },
  };
}

/** Ones'-complement 32-bit addition (end-around carry), as the kernel's csum_add. */
function csumAdd(a: number, b: number): number {
  const s = a + b;
  return s > 0xffffffff ? s - 0xffffffff : s;
}

/** The kernel's csum_partial: 32-bit ones'-complement sum of the little-endian words of `b`. */
function csumPartial(b: Uint8Array, seed: number): number {
  const v = new DataView(b.buffer, b.byteOffset, b.byteLength);
  let s = seed >>> 0;
  for (let i = 0; i + 4 <= b.length; i += 4) s = csumAdd(s, v.getUint32(i, true));
  return s;
}

/** csum_from32to16: folds a 32-bit sum to 16 bits without complementing it. */
function csumFold16(x: number): number {
  let s = (x & 0xffff) + (x >>> 16);
  s = (s & 0xffff) + (s >>> 16);
  return s;
}

/** Builds the helper table of one VM collection. */
export function createHelpers(env: HelperEnvironment): (id: number) => HelperFn | undefined {
  const table = new Map<number, HelperFn>();
  const mapCache: (VmMapBase | undefined)[] = [];
  const mapOf = (vm: Interpreter, reg: number): VmMapBase => resolveMap(vm, reg, mapCache);
  const xdpOf = (vm: Interpreter): XdpBuffer => {
    const x = env.state().xdp;
    if (x === undefined)
      throw vmFault("helper", `the helper called at instruction ${vm.pc} needs an XDP context`);
    return x;
  };

  table.set(HelperId.map_lookup_elem, (vm) => {
    const map = mapOf(vm, 1);
    const key = readArg(vm, 2, map.spec.keySize);
    if (map.spec.typeName === "array_of_maps" || map.spec.typeName === "hash_of_maps") {
      const inner = (map as unknown as ArrayOfMaps | HashOfMaps).lookupMapForProgram(key);
      if (inner === undefined) return 0;
      vm.setR0(mapPointer(inner.handle));
      return undefined;
    }
    const state = env.state();
    if (map instanceof ArrayMap) {
      const i = map.indexOf(key);
      if (i >= map.spec.maxEntries) return 0;
      const ref = map.lookupForProgram(key, state.cpu);
      if (ref === undefined) return 0;
      vm.setR0Pointer(arrayRegion(state, vm.memory, map, ref.bytes, i), ref.offset);
      return undefined;
    }
    const ref = map.lookupForProgram(key, state.cpu);
    if (ref === undefined) return 0;
    const r = valueRegion(env.state(), vm.memory, ref.bytes, ref.offset, ref.size, map);
    vm.setR0Pointer(r, ref.offset);
    return undefined;
  });
  table.set(HelperId.map_update_elem, (vm) => {
    const map = mapOf(vm, 1);
    const key = readArg(vm, 2, map.spec.keySize);
    const value = readArg(vm, 3, map.spec.valueSize).slice();
    return map.updateFromProgram(key.slice(), value, vm.arg(4), env.state().cpu);
  });
  table.set(HelperId.map_delete_elem, (vm) => {
    const map = mapOf(vm, 1);
    return map.deleteFromProgram(readArg(vm, 2, map.spec.keySize).slice());
  });
  table.set(HelperId.ktime_get_ns, () => env.now());
  table.set(HelperId.ktime_get_boot_ns, () => env.now());
  table.set(HelperId.get_prandom_u32, () => env.random() >>> 0);
  table.set(HelperId.get_smp_processor_id, () => env.state().cpu);

  table.set(HelperId.tail_call, (vm) => {
    const map = mapOf(vm, 2);
    if (!(map instanceof ProgArrayMap))
      throw vmFault("helper", `tail call through map ${map.name}, not a prog array`);
    const index = vm.argU32(3);
    // As the kernel: an index past max_entries, the limit reached, or an empty slot makes the
    // helper return and the program go on; only a jump that happens counts towards the limit.
    if (index >= map.spec.maxEntries || vm.tailCalls >= MAX_TAIL_CALL_CNT) return undefined;
    const target = map.programAt(index);
    if (target === undefined) return undefined;
    const p = env.programFor(target);
    if (p === undefined) return undefined;
    // The interpreter counts the jump when it happens (Interpreter.tailCall).
    env.state().chain.push(p.name);
    vm.tailCall(p);
    return undefined;
  });

  const printk = (vm: Interpreter, args: bigint[]): number => {
    const fmtSize = vm.argU32(2);
    const fmt = vm.memory.readBytes(vm.arg(1), fmtSize);
    const res = formatTracePrintk(fmt, args, printkMemory(vm.memory));
    if (!res.ok) return -res.errno; // the formatter reports errno as a positive number
    const st = env.state();
    if (st.trace.length < st.maxTrace) st.trace.push(res.text);
    return res.ret;
  };
  table.set(HelperId.trace_printk, (vm) => printk(vm, [vm.arg(3), vm.arg(4), vm.arg(5)]));
  table.set(HelperId.trace_vprintk, (vm) => {
    const len = vm.argU32(4);
    if (len % 8 !== 0 || len > TRACE_VPRINTK_MAX_ARGS * 8 || (len > 0 && vm.arg(3) === 0n)) return EINVAL;
    const data = len === 0 ? new Uint8Array(0) : vm.memory.readBytes(vm.arg(3), len);
    const dv = new DataView(data.buffer, data.byteOffset, data.byteLength);
    const args: bigint[] = [];
    for (let i = 0; i < len; i += 8) args.push(dv.getBigUint64(i, true));
    return printk(vm, args);
  });

  table.set(HelperId.xdp_adjust_head, (vm) => xdpOf(vm).adjustHead(vm.lo[2] as number));
  table.set(HelperId.xdp_adjust_meta, (vm) => xdpOf(vm).adjustMeta(vm.lo[2] as number));
  table.set(HelperId.xdp_adjust_tail, (vm) => xdpOf(vm).adjustTail(vm.lo[2] as number));

  table.set(HelperId.redirect, (vm) => {
    const flags = vm.arg(2);
    if (flags !== 0n) return XdpAction.ABORTED;
    env.state().redirect = { kind: "ifindex", ifindex: vm.argU32(1), flags };
    return XDP_REDIRECT;
  });
  table.set(HelperId.redirect_map, (vm) => {
    const map = mapOf(vm, 1);
    const key = vm.argU32(2);
    const flags = vm.arg(3);
    const t = map.spec.typeName;
    if (t !== "devmap" && t !== "devmap_hash" && t !== "cpumap" && t !== "xskmap") {
      throw vmFault("helper", `bpf_redirect_map on map ${map.name}, a ${t} map`, {
        hint: "the kernel verifier accepts only devmap, devmap_hash, cpumap and xskmap here",
      });
    }
    // Bits other than the fallback action (and, for device maps, BROADCAST | EXCLUDE_INGRESS)
    // make the helper return XDP_ABORTED (__bpf_xdp_redirect_map).
    const allowed = t === "devmap" || t === "devmap_hash" ? 3n | 8n | 16n : 3n;
    if ((flags & ~allowed) !== 0n) return XdpAction.ABORTED;
    const k = new Uint8Array(map.spec.keySize);
    new DataView(k.buffer).setUint32(0, key, true);
    const present = map.spec.keySize >= 4 && map.lookup(k) !== undefined;
    // The low two bits of flags are the action to return when the slot is empty.
    if (!present) return Number(flags & 3n);
    env.state().redirect = { kind: "map", map: map.name, key, flags };
    return XDP_REDIRECT;
  });

  table.set(HelperId.csum_diff, (vm) => {
    const fromSize = vm.argU32(2);
    const toSize = vm.argU32(4);
    const seed = vm.argU32(5);
    // Kernel 6.18 (net/core/filter.c): whole words only, no size limit beyond the verifier's;
    // the result is always folded to 16 bits (not complemented), even a bare seed.
    if ((fromSize | toSize) & 3) return EINVAL;
    if ((fromSize > 0 && vm.arg(1) === 0n) || (toSize > 0 && vm.arg(3) === 0n)) return EINVAL;
    if (fromSize > 0 && toSize > 0) {
      const to = csumPartial(readArg(vm, 3, toSize), seed);
      return csumFold16(csumAdd(to, ~csumPartial(readArg(vm, 1, fromSize), 0) >>> 0));
    }
    if (toSize > 0) return csumFold16(csumPartial(readArg(vm, 3, toSize), seed));
    if (fromSize > 0) return csumFold16(~csumPartial(readArg(vm, 1, fromSize), ~seed >>> 0) >>> 0);
    return csumFold16(seed);
  });

  const ringbufOf = (vm: Interpreter, reg: number): RingbufMap => {
    const m = mapOf(vm, reg);
    if (!(m instanceof RingbufMap)) throw vmFault("helper", `map ${m.name} is not a ring buffer`);
    return m;
  };
  const recordOf = (vm: Interpreter): { rb: RingbufMap; offset: number; region: Region } => {
    const addr = vm.arg(1);
    const region = vm.memory.regionOf(addr);
    const owner = region?.owner as { ringbuf?: RingbufMap; offset?: number } | undefined;
    if (region === undefined || owner?.ringbuf === undefined || owner.offset === undefined) {
      throw vmFault("helper", "ringbuf submit/discard of a pointer that bpf_ringbuf_reserve did not return");
    }
    return { rb: owner.ringbuf, offset: owner.offset, region };
  };
  table.set(HelperId.ringbuf_output, (vm) => {
    const rb = ringbufOf(vm, 1);
    const size = Number(vm.arg(3));
    return rb.output(readArg(vm, 2, size).slice(), vm.arg(4));
  });
  table.set(HelperId.ringbuf_reserve, (vm) => {
    const rb = ringbufOf(vm, 1);
    const size = Number(vm.arg(2) & 0xffffffffn);
    const ref = rb.reserve(size, vm.arg(3));
    if (ref === undefined) return 0;
    const r = vm.memory.map(ref.bytes, {
      writable: true,
      name: `ring buffer ${rb.name} record`,
      start: ref.offset,
      end: ref.offset + ref.size,
      owner: { ringbuf: rb, offset: ref.offset },
    });
    env.state().records.push(r);
    vm.setR0Pointer(r, ref.offset);
    return undefined;
  });
  const finish = (submit: boolean) => (vm: Interpreter) => {
    const { rb, offset, region } = recordOf(vm);
    if (submit) rb.submit(offset, vm.arg(2));
    else rb.discard(offset, vm.arg(2));
    // The record is no longer the program's: later accesses through the pointer fault.
    region.owner = undefined;
    vm.memory.setBounds(region, region.start, region.start);
    return 0;
  };
  table.set(HelperId.ringbuf_submit, finish(true));
  table.set(HelperId.ringbuf_discard, finish(false));
  /**
   * The first `n` bytes of the running program's packet (from `data`, as bpf_xdp_copy and
   * skb_copy_bits copy them), undefined when it has fewer (the kernel's -EFAULT) or there is no
   * packet.
   */
  const packetPrefix = (n: number): Uint8Array | undefined => {
    // The skb is set only while a tc program runs; the XDP buffer is there in any run.
    const { xdp, skb } = env.state();
    if (skb !== undefined) return n <= skb.len ? skb.page.subarray(skb.data, skb.data + n) : undefined;
    if (xdp !== undefined) {
      const linear = xdp.end - xdp.data;
      if (n > linear + xdp.frags.length) return undefined;
      if (n <= linear) return xdp.page.subarray(xdp.data, xdp.data + n);
      const out = new Uint8Array(n);
      out.set(xdp.page.subarray(xdp.data, xdp.end));
      out.set(xdp.frags.subarray(0, n - linear), linear);
      return out;
    }
    return undefined;
  };
  table.set(HelperId.perf_event_output, (vm) => {
    // bpf_perf_event_output(ctx, map, flags, data, size): the slot is the flags' low 32 bits,
    // BPF_F_CURRENT_CPU for the running CPU's; bits 32..51 (BPF_F_CTXLEN_MASK) ask for that many
    // packet bytes after the data, in the same sample (net/core/filter.c, bpf_xdp_event_output
    // and bpf_skb_event_output: -EINVAL for other flag bits, -EFAULT for more bytes than the
    // packet has, both before the slot is looked at).
    const m = mapOf(vm, 2);
    if (!(m instanceof PerfEventArrayMap)) throw vmFault("helper", `map ${m.name} is not a perf event array`);
    const flags = vm.arg(3);
    if ((flags & ~(BPF_F_INDEX_MASK | BPF_F_CTXLEN_MASK)) !== 0n) return EINVAL;
    const ctxLen = Number((flags & BPF_F_CTXLEN_MASK) >> 32n);
    let packet: Uint8Array | undefined;
    if (ctxLen !== 0) {
      const { xdp, skb } = env.state();
      if (xdp === undefined && skb === undefined) return EINVAL;
      packet = packetPrefix(ctxLen);
      if (packet === undefined) return -Errno.EFAULT;
    }
    const index = flags & BPF_F_INDEX_MASK;
    const cpu = index === BPF_F_CURRENT_CPU ? env.state().cpu : Number(index);
    const data = readArg(vm, 4, Number(vm.arg(5)));
    if (packet === undefined) return m.output(cpu, data);
    const sample = new Uint8Array(data.length + ctxLen);
    sample.set(data);
    sample.set(packet, data.length);
    return m.output(cpu, sample);
  });
  table.set(HelperId.ringbuf_query, (vm) => {
    return ringbufOf(vm, 1).query(vm.arg(2));
  });

  // Fast paths for the compiled tier (see FastPath): an array lookup with a 4-byte key, and a tail
  // call, without the register file round trip. Each gives the same result as its helper.
  // Per map handle: what the array fast path needs, resolved once (null: not an array it covers).
  const arrayFast: (ArrayFast | null | undefined)[] = [];
  const arrayFastOf = (h: number): ArrayFast | null => {
    let d = arrayFast[h];
    if (d === undefined) {
      const map = h < mapCache.length ? mapCache[h] : undefined;
      // Not resolved yet: the helper resolves it first (and caches it in mapCache).
      if (map === undefined) return null;
      d =
        map instanceof ArrayMap && map.spec.keySize === 4 && map.littleEndian
          ? {
              max: map.spec.maxEntries,
              stride: map.stride,
              percpu: map.spec.typeName === "percpu_array",
              blocks: map.blocks,
              regions: [],
            }
          : null;
      if (h < 1 << 20) arrayFast[h] = d;
    }
    return d;
  };
  const lookupFast: FastPath = (vm, h1, l1, h2, l2) => {
    if (h1 !== MAP_POINTER_HI) return FAST_UNHANDLED;
    const d = arrayFastOf(l1 >>> 0);
    if (d === null) return FAST_UNHANDLED;
    const kr = vm.memory.regions[(h2 - HI0) >>> 0];
    const ki = (l2 >>> 0) - REGION_LO_BASE;
    if (kr === undefined || ki < kr.start || ki + 4 > kr.end) return FAST_UNHANDLED;
    const index = kr.view.getUint32(ki, true);
    if (index >= d.max) {
      FAST_R0[0] = 0;
      FAST_R0[1] = 0;
      return 1;
    }
    const b = d.percpu ? env.state().cpu : 0;
    let byIndex = d.regions[b];
    if (byIndex === undefined) {
      const block = d.blocks[b];
      byIndex = block === undefined ? undefined : env.state().arrayRegions.get(block);
      if (byIndex === undefined) return FAST_UNHANDLED;
      d.regions[b] = byIndex;
    }
    const r = byIndex[index];
    if (r === undefined) return FAST_UNHANDLED;
    FAST_R0[0] = REGION_LO_BASE + index * d.stride;
    FAST_R0[1] = r.hi;
    return 1;
  };
  const tailFast: FastPath = (vm, _h1, _l1, h2, l2, l3) => {
    if (h2 !== MAP_POINTER_HI) return FAST_UNHANDLED;
    const h = l2 >>> 0;
    const map = h < mapCache.length ? mapCache[h] : undefined;
    if (!(map instanceof ProgArrayMap)) return FAST_UNHANDLED;
    const index = l3 >>> 0;
    if (index >= map.spec.maxEntries || vm.tailCalls >= MAX_TAIL_CALL_CNT) return 0;
    const target = map.programAt(index);
    if (target === undefined) return 0;
    const p = env.programFor(target);
    if (p === undefined) return 0;
    env.state().chain.push(p.name);
    vm.tailCall(p);
    return 1;
  };
  (table.get(HelperId.map_lookup_elem) as HelperWithFastPath).fast = lookupFast;
  (table.get(HelperId.tail_call) as HelperWithFastPath).fast = tailFast;

  addSkbHelpers(table, {
    skb: () => env.state().skb,
    setRedirect: (t) => {
      env.state().redirect = t;
    },
    hashSeed: 0x5eed,
  });
  return (id) => table.get(id);
}
