/**
 * Part 2: the seed's tail-call dispatcher per packet, VM against the kernel's test_run. Packets
 * that do not tail-call run the seed object itself (examples/tail-call/tail_call.bpf.o); tail
 * calls run test/bpf/bench/dispatch_counter.bpf.o, whose targets bump a per-CPU counter instead
 * of calling bpf_printk (printk alone costs the kernel about 300 ns, and would measure tracing).
 */
import type { LoadedCollection } from "../src/backend/types.js";
import type { VmCollection } from "../src/vm/vm-collection.js";
import { instrumentCollection } from "../src/stats/instrument.js";
import { loadKernel, loadVm, programOf, readSpec, timeKernel, timeVm } from "./engines.js";
import { arpPacket, tcpTo, udpPacket } from "./packets.js";

/** One row of part 2. */
export interface DispatchRow {
  object: string;
  packet: string;
  /** Programs the VM ran for the packet (main_prog, then the tail-call target if any). */
  chain: string[];
  insns: number;
  vmExecNs: number;
  vmWallNs: number;
  vmRepeat: number;
  kernelNs?: number;
  kernelRepeat?: number;
  /** VM exec ns / kernel ns. */
  ratio?: number;
  /** VM wall ns / kernel ns. */
  wallRatio?: number;
  /** Kernel: whether the target's per-CPU counter moved by exactly the runs made. */
  counterChecked?: boolean;
  /** The VM's compiled tier (src/vm/compiler.ts): exec and wall ns per packet. */
  compiledExecNs?: number;
  compiledWallNs?: number;
  /** Whether the compiled tier ran the interpreter's chain, action and instruction count. */
  compiledSame?: boolean;
  /** Kernel test_run ns per packet with stats instrumentation (`--stats`), timed in the same run. */
  kernelStatsNs?: number;
  /** (kernelStatsNs - kernelNs) / stages entered (the chain's length): the cost of stats per stage. */
  statsNsPerStage?: number;
}

const SEED = "examples/tail-call/tail_call.bpf.o";
const COUNTER = "test/bpf/bench/dispatch_counter.bpf.o";
const KERNEL_REPEAT = 1_000_000;

interface Case {
  object: string;
  packet: string;
  bytes: Uint8Array;
  /** Slot whose counter a tail call bumps. */
  slot?: number;
}

const CASES: Case[] = [
  { object: SEED, packet: "TCP to 443 (no tail call)", bytes: tcpTo(443) },
  { object: SEED, packet: "UDP (no tail call)", bytes: udpPacket(16) },
  { object: SEED, packet: "ARP (no tail call)", bytes: arpPacket() },
  { object: COUNTER, packet: "TCP to 8080 → slot 0 (counter)", bytes: tcpTo(8080), slot: 0 },
  { object: COUNTER, packet: "TCP to 22 → slot 1 (counter)", bytes: tcpTo(22), slot: 1 },
];

/** Puts the port programs into the prog array, as the seed's loader does. */
function wire(coll: LoadedCollection): void {
  const pa = coll.maps.prog_array;
  if (pa === undefined) throw new Error("no prog_array");
  pa.set(0, programOf(coll, "port8080_prog"));
  pa.set(1, programOf(coll, "port22_prog"));
}

/** Sum over CPUs of the per-CPU u64 counter at `slot`. */
function counter(coll: LoadedCollection, slot: number): bigint {
  const v = coll.maps.hits?.get(slot);
  if (v === undefined) return -1n;
  const dv = new DataView(v.buffer, v.byteOffset, v.byteLength);
  let sum = 0n;
  for (let o = 0; o + 8 <= v.byteLength; o += 8) sum += dv.getBigUint64(o, true);
  return sum;
}

/** Runs part 2; `kernel` false runs the VM only. */
export async function benchDispatch(opts: {
  kernel: boolean;
  trialMs: number;
  trials: number;
}): Promise<DispatchRow[]> {
  const loaded = new Map<
    string,
    { vm: VmCollection; jit: VmCollection; kern?: LoadedCollection; kernStats?: LoadedCollection }
  >();
  const rows: DispatchRow[] = [];
  try {
    for (const object of [SEED, COUNTER]) {
      const spec = readSpec(object);
      const vm = loadVm(spec);
      wire(vm);
      const jit = loadVm(spec, "compiled");
      wire(jit);
      const entry: {
        vm: VmCollection;
        jit: VmCollection;
        kern?: LoadedCollection;
        kernStats?: LoadedCollection;
      } = { vm, jit };
      if (opts.kernel) {
        entry.kern = await loadKernel(spec);
        wire(entry.kern);
        entry.kernStats = await loadKernel(instrumentCollection(spec).spec);
        wire(entry.kernStats);
      }
      loaded.set(object, entry);
    }
    for (const c of CASES) {
      const { vm, jit, kern, kernStats } = loaded.get(c.object) as {
        vm: VmCollection;
        jit: VmCollection;
        kern?: LoadedCollection;
        kernStats?: LoadedCollection;
      };
      const vt = await timeVm(programOf(vm, "main_prog"), c.bytes, {
        warmMs: 200,
        trialMs: opts.trialMs,
        trials: opts.trials,
      });
      if (vt.last.fault !== undefined) throw vt.last.fault;
      await programOf(vm, "main_prog").run(c.bytes);
      const row: DispatchRow = {
        object: c.object,
        packet: c.packet,
        chain: vt.last.chain ?? [],
        insns: vm.interpreter.executed,
        vmExecNs: vt.execNs,
        vmWallNs: vt.wallNs,
        vmRepeat: vt.repeat,
      };
      const jt = await timeVm(programOf(jit, "main_prog"), c.bytes, {
        warmMs: 200,
        trialMs: opts.trialMs,
        trials: opts.trials,
      });
      if (jt.last.fault !== undefined) throw jt.last.fault;
      await programOf(jit, "main_prog").run(c.bytes);
      row.compiledExecNs = jt.execNs;
      row.compiledWallNs = jt.wallNs;
      row.compiledSame =
        jt.last.retval === vt.last.retval &&
        (jt.last.chain ?? []).join() === row.chain.join() &&
        jit.interpreter.executed === row.insns;
      if (kern !== undefined) {
        const before = c.slot === undefined ? 0n : counter(kern, c.slot);
        const kt = await timeKernel(programOf(kern, "main_prog"), c.bytes, {
          repeat: KERNEL_REPEAT,
          trials: opts.trials,
        });
        row.kernelNs = kt.ns;
        row.kernelRepeat = KERNEL_REPEAT;
        row.ratio = vt.execNs / kt.ns;
        row.wallRatio = vt.wallNs / kt.ns;
        if (c.slot !== undefined) {
          // timeKernel makes one warm-up call of 1000 runs, then `trials` calls of `repeat`.
          const expected = BigInt(1000 + KERNEL_REPEAT * opts.trials);
          row.counterChecked = counter(kern, c.slot) - before === expected;
        }
      }
      if (kernStats !== undefined && row.kernelNs !== undefined) {
        const st = await timeKernel(programOf(kernStats, "main_prog"), c.bytes, {
          repeat: KERNEL_REPEAT,
          trials: opts.trials,
        });
        row.kernelStatsNs = st.ns;
        row.statsNsPerStage = (st.ns - row.kernelNs) / Math.max(1, row.chain.length);
      }
      rows.push(row);
    }
  } finally {
    for (const { vm, jit, kern, kernStats } of loaded.values()) {
      kern?.close();
      kernStats?.close();
      vm.close();
      jit.close();
    }
  }
  return rows;
}
