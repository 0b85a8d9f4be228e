import { mkdtempSync, rmSync } from "node:fs";
import { readFileSync } from "node:fs";
import type { BpfMap, LoadedCollection, RunResult } from "../../src/backend/types.js";
import type { EventReader } from "../../src/backend/event-reader.js";
import { Collection } from "../../src/collection.js";
import { isTsbpfError } from "../../src/errors.js";
import type { CollectionSpec } from "../../src/object/types.js";
import { MapType, ProgType } from "../../src/abi/index.js";
import { applyWiring, type TailSlot } from "../../src/tailcall/wiring.js";

/** Map types whose contents are kernel object ids or not iterable: compared by nothing. */
const OPAQUE = new Set<number>([
  MapType.prog_array,
  MapType.array_of_maps,
  MapType.hash_of_maps,
  MapType.perf_event_array,
  MapType.ringbuf,
  MapType.user_ringbuf,
  MapType.stack_trace,
  MapType.queue,
  MapType.stack,
  MapType.bloom_filter,
  MapType.cgroup_array,
  MapType.sockmap,
  MapType.sockhash,
  MapType.xskmap,
  MapType.arena,
]);

const PERCPU = new Set<number>([MapType.percpu_array, MapType.percpu_hash, MapType.lru_percpu_hash]);

/** The kernel's number of possible CPUs, which per-CPU map values are sized by. */
export function possibleCpus(): number {
  try {
    const text = readFileSync("/sys/devices/system/cpu/possible", "utf8").trim();
    let n = 0;
    for (const part of text.split(",")) {
      const [a, b] = part.split("-").map(Number);
      n += b === undefined ? 1 : (b as number) - (a as number) + 1;
    }
    return n;
  } catch {
    return 1;
  }
}

const hex = (b: Uint8Array): string => Buffer.from(b).toString("hex");

/**
 * The CPU this process is pinned to (the runner re-executes itself under `taskset`), so the VM
 * can run on the same CPU as the kernel's test runs and per-CPU values compare slot by slot.
 */
export function pinnedCpu(): number | undefined {
  const v = process.env.TSBPF_DIFF_CPU;
  return v === undefined || v === "" ? undefined : Number(v);
}

/**
 * The VM tier the harness compares with the kernel: TSBPF_DIFF_TIER=js (or wasm, interpreter)
 * runs the same corpus on that tier; the default is the VM's default, the compiled tier (wasm
 * over the JS tier).
 */
export function diffTier(): "compiled" | "wasm" | "js" | "interpreter" {
  const v = process.env.TSBPF_DIFF_TIER;
  if (v === "wasm" || v === "js" || v === "interpreter") return v;
  return "compiled";
}

/**
 * A map's contents as one comparable string: entries sorted by key (hash order differs between
 * engines and is not part of the contract). Unpinned, per-CPU values are reduced to their sorted
 * non-zero slots, since the kernel runs on whichever CPU the thread is on (an approximation:
 * a counter split over two CPUs then differs); pinned, they compare slot by slot.
 */
export function snapshotMap(m: BpfMap): string {
  if (OPAQUE.has(m.spec.type)) return "(not compared)";
  try {
    const rows: string[] = [];
    for (const [k, v] of m.entries()) {
      let val = hex(v);
      if (PERCPU.has(m.spec.type) && pinnedCpu() === undefined) {
        const slot = Math.ceil(m.spec.valueSize / 8) * 8;
        const parts: string[] = [];
        for (let o = 0; o + slot <= v.length; o += slot) {
          const p = v.subarray(o, o + m.spec.valueSize);
          if (p.some((x) => x !== 0)) parts.push(hex(p));
        }
        val = `percpu[${parts.sort().join(",")}]`;
      }
      rows.push(`${hex(k)}=${val}`);
    }
    return rows.sort().join(" ");
  } catch (e) {
    return `(unreadable: ${isTsbpfError(e) ? e.name : "error"})`;
  }
}

/** Readers of each collection's ring buffers and perf event arrays, opened before its first run. */
const readers = new WeakMap<LoadedCollection, EventReader<unknown>[]>();

function eventReadersOf(coll: LoadedCollection): EventReader<unknown>[] {
  let r = readers.get(coll);
  if (r === undefined) {
    r = Object.values(coll.spec.maps)
      .filter((m) => m.type === MapType.ringbuf || m.type === MapType.perf_event_array)
      .map((m) => coll.events(m.name));
    readers.set(coll, r);
  }
  return r;
}

/** The records each event map received since the last call, as hex, plus perf's lost count. */
export function drainEvents(coll: LoadedCollection): Record<string, string[]> {
  const out: Record<string, string[]> = {};
  for (const r of eventReadersOf(coll)) {
    const recs: string[] = [];
    r.consume((rec) => recs.push(hex(rec)));
    if (r.lost > 0) recs.push(`lost ${r.lost}`);
    out[r.map] = recs;
  }
  return out;
}

/** Every map of a collection, snapshotted. */
export function snapshotMaps(c: LoadedCollection): Record<string, string> {
  const out: Record<string, string> = {};
  for (const [name, m] of Object.entries(c.maps)) out[name] = snapshotMap(m);
  return out;
}

/** What one engine did with one packet, reduced to the parts the contract says must agree. */
export interface Outcome {
  /** The engine refused the run (packet too short or too long...): the error class. */
  refused?: string;
  /** The refusal's message, for reports only. */
  refusedMessage?: string;
  retval?: number;
  dataOut?: string;
  trace?: string[];
  maps: Record<string, string>;
  /** Records each ring buffer and perf event array received from this run, as hex. */
  events?: Record<string, string[]>;
  /** VM only, for reports. */
  chain?: string[];
  fault?: string;
}

/** Runs `prog` of `coll` once on `data` and reduces the result to an {@link Outcome}. */
export async function runOnce(coll: LoadedCollection, prog: string, data: Uint8Array): Promise<Outcome> {
  const p = coll.programs[prog];
  if (p === undefined) throw new Error(`no program ${prog}`);
  let r: RunResult;
  eventReadersOf(coll);
  try {
    r = await p.run(data);
  } catch (e) {
    const name = isTsbpfError(e) ? e.name : e instanceof Error ? `untyped ${e.name}` : "thrown value";
    return {
      refused: name === "UsageError" || name === "LoadError" ? "refused" : name,
      refusedMessage: (e as Error)?.message ?? String(e),
      maps: snapshotMaps(coll),
      events: drainEvents(coll),
    };
  }
  const o: Outcome = {
    retval: r.retval,
    dataOut: hex(r.dataOut),
    trace: r.trace,
    maps: snapshotMaps(coll),
    events: drainEvents(coll),
  };
  if (r.chain !== undefined) o.chain = r.chain;
  if (r.fault !== undefined) o.fault = r.fault.message;
  return o;
}

/** Ring-buffer and perf records the kernel produced that {@link diffOutcomes} compared, so far. */
export const eventsCompared = { records: 0 };

/** The fields where two outcomes differ (empty when they agree). */
export function diffOutcomes(vm: Outcome, kernel: Outcome): string[] {
  const d: string[] = [];
  for (const recs of Object.values(kernel.events ?? {})) eventsCompared.records += recs.length;
  if ((vm.refused === undefined) !== (kernel.refused === undefined) || vm.refused !== kernel.refused) {
    d.push(
      `refusal: vm ${vm.refused ?? "ran"} (${vm.refusedMessage ?? ""}), kernel ${kernel.refused ?? "ran"} (${kernel.refusedMessage ?? ""})`,
    );
    return d;
  }
  if (vm.refused === undefined) {
    if (vm.retval !== kernel.retval) d.push(`verdict: vm ${vm.retval}, kernel ${kernel.retval}`);
    if (vm.dataOut !== kernel.dataOut) d.push(hexDiff(vm.dataOut ?? "", kernel.dataOut ?? ""));
    const vt = vm.trace ?? [];
    const kt = kernel.trace ?? [];
    const i = firstDifference(vt, kt);
    if (i >= 0) {
      d.push(
        `trace (${vt.length} vs ${kt.length} lines), first difference at line ${i}:\n      vm     ${JSON.stringify(vt[i])?.slice(0, 200)}\n      kernel ${JSON.stringify(kt[i])?.slice(0, 200)}`,
      );
    }
  }
  const ve = vm.events ?? {};
  const ke = kernel.events ?? {};
  for (const name of new Set([...Object.keys(ve), ...Object.keys(ke)])) {
    const a = ve[name] ?? [];
    const b = ke[name] ?? [];
    const i = firstDifference(a, b);
    if (i >= 0) {
      d.push(
        `events of ${name} (${a.length} vs ${b.length} records), first difference at record ${i}:\n      vm     ${a[i]?.slice(0, 200)}\n      kernel ${b[i]?.slice(0, 200)}`,
      );
    }
  }
  for (const name of new Set([...Object.keys(vm.maps), ...Object.keys(kernel.maps)])) {
    if (vm.maps[name] !== kernel.maps[name]) {
      d.push(`map ${name}:\n      vm     ${vm.maps[name]}\n      kernel ${kernel.maps[name]}`);
    }
  }
  return d;
}

function firstDifference(a: readonly string[], b: readonly string[]): number {
  for (let i = 0; i < Math.max(a.length, b.length); i++) if (a[i] !== b[i]) return i;
  return -1;
}

/** The output packets' lengths and a window around the first differing byte. */
function hexDiff(vm: string, kernel: string): string {
  let i = 0;
  while (i < vm.length && vm[i] === kernel[i]) i++;
  const at = Math.floor(i / 2);
  const from = Math.max(0, at - 16) * 2;
  const show = (h: string) => h.slice(from, from + 96) || "(nothing)";
  return `packet out (${vm.length / 2} vs ${kernel.length / 2} bytes), first difference at byte ${at}:\n      vm     @${from / 2}: ${show(vm)}\n      kernel @${from / 2}: ${show(kernel)}`;
}

/** `o` without the maps named `names` (the ones stats add, which an uninstrumented run does not have). */
export function withoutMaps(o: Outcome, names: readonly string[]): Outcome {
  const maps = Object.fromEntries(Object.entries(o.maps).filter(([name]) => !names.includes(name)));
  return { ...o, maps };
}

/**
 * The XDP and tc programs of a spec that engines load by default (not `?` sections), which the
 * differential runs as entry points.
 */
export function xdpPrograms(spec: CollectionSpec): string[] {
  return Object.values(spec.programs)
    .filter((p) => (p.type === ProgType.xdp || p.type === ProgType.sched_cls) && p.autoload !== false)
    .map((p) => p.name);
}

/** Both engines loaded from one spec with the same wiring. */
export interface EnginePair {
  vm: LoadedCollection;
  kernel: LoadedCollection;
  close(): void;
}

/** Loads `spec` on both engines and applies `wiring` on each; throws the first engine's error. */
export async function loadPair(
  spec: CollectionSpec,
  wiring: readonly TailSlot[] = [],
  stats = false,
): Promise<EnginePair> {
  // Maps an object pins by name go to a directory of this run's own, removed with the pair, so
  // the harness leaves nothing in bpffs (and never reuses a pin left by something else).
  const pinDir = mkdtempSync("/sys/fs/bpf/tsbpf-diff-");
  const unpin = () => rmSync(pinDir, { recursive: true, force: true });
  let kernel: LoadedCollection;
  try {
    kernel = await Collection.load(spec, { backend: "kernel", pinDir, onWarning: () => {}, stats });
  } catch (e) {
    unpin();
    throw e;
  }
  let vm: LoadedCollection;
  try {
    vm = await Collection.load(spec, {
      backend: "vm",
      vm: { possibleCpus: possibleCpus(), cpu: pinnedCpu() ?? 0, budget: 1_000_000, tier: diffTier() },
      stats,
    });
    applyWiring(kernel, wiring);
    applyWiring(vm, wiring);
  } catch (e) {
    kernel.close();
    unpin();
    throw e;
  }
  return {
    vm,
    kernel,
    close() {
      vm.close();
      kernel.close();
      unpin();
    },
  };
}

/**
 * The VM's instruction trace of one run: the program is re-run from the same map state with an
 * instruction budget of 1, 2, 3... and the budget fault says where each step stopped. Slow, so
 * only for the few mismatches a report details.
 */
export async function vmInstructionTrace(
  spec: CollectionSpec,
  wiring: readonly TailSlot[],
  prog: string,
  data: Uint8Array,
  before: Record<string, [Uint8Array, Uint8Array][]>,
  limit = 300,
): Promise<string[]> {
  const steps: string[] = [];
  for (let k = 1; k <= limit; k++) {
    const vm = await Collection.load(spec, {
      backend: "vm",
      vm: { possibleCpus: possibleCpus(), cpu: pinnedCpu() ?? 0, budget: k },
    });
    try {
      applyWiring(vm, wiring);
      restoreMaps(vm, before);
      const r = await (vm.programs[prog] as NonNullable<(typeof vm.programs)[string]>).run(data);
      const f = r.fault as
        | (Error & { context?: { program?: string; insn?: number }; instruction?: string; code?: string })
        | undefined;
      if (f === undefined || f.code !== "budget") {
        steps.push(`(end: ${f === undefined ? `r0=${r.retval}` : f.message})`);
        break;
      }
      steps.push(`${f.context?.program ?? "?"}:${f.context?.insn ?? "?"}  ${f.instruction ?? ""}`);
    } finally {
      vm.close();
    }
  }
  return steps;
}

/** Raw entries of the comparable maps, for {@link vmInstructionTrace}. */
export function rawMaps(c: LoadedCollection): Record<string, [Uint8Array, Uint8Array][]> {
  const out: Record<string, [Uint8Array, Uint8Array][]> = {};
  for (const [name, m] of Object.entries(c.maps)) {
    if (OPAQUE.has(m.spec.type) || PERCPU.has(m.spec.type)) continue;
    try {
      out[name] = [...m.entries()].map(([k, v]) => [k.slice(), v.slice()]);
    } catch {
      // Not iterable: left as loaded.
    }
  }
  return out;
}

function restoreMaps(c: LoadedCollection, raw: Record<string, [Uint8Array, Uint8Array][]>): void {
  for (const [name, rows] of Object.entries(raw)) {
    const m = c.maps[name];
    if (m === undefined) continue;
    for (const [k, v] of rows) {
      try {
        m.update(k, v);
      } catch {
        // Frozen .rodata and the like already hold these bytes.
      }
    }
  }
}
