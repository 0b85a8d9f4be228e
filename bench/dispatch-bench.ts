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
import { arpPacket, qinqUdp6, tcpTo, udpPacket, vlanTcp4 } from "./packets.js";

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
  /** The VM's wasm tier (src/vm/wasm/): exec ns per packet. */
  wasmExecNs?: number;
  /** Whether the wasm tier ran the interpreter's chain, action and instruction count. */
  wasmSame?: boolean;
  /** Kernel test_run ns per packet with stats instrumentation (`--stats`), timed in the same run. */
  kernelStatsNs?: number;
  /** (kernelStatsNs - kernelNs) / stages entered (the chain's length): the cost of stats per stage. */
  statsNsPerStage?: number;
}

const SEED = "examples/tail-call/tail_call.bpf.o";
const COUNTER = "test/bpf/bench/dispatch_counter.bpf.o";
const PARSER = "test/bpf/bench/parser.bpf.o";
const KERNEL_REPEAT = 1_000_000;

/** How an object is wired and entered. */
interface ObjectSetup {
  entry: string;
  /** Prog array and the programs of its slots, as the object's loader fills them. */
  progArray: string;
  slots: string[];
}

const OBJECTS: Record<string, ObjectSetup> = {
  [SEED]: { entry: "main_prog", progArray: "prog_array", slots: ["port8080_prog", "port22_prog"] },
  [COUNTER]: { entry: "main_prog", progArray: "prog_array", slots: ["port8080_prog", "port22_prog"] },
  [PARSER]: { entry: "parse", progArray: "stages", slots: ["tcp_stage", "udp_stage"] },
};

interface Case {
  object: string;
  packet: string;
  bytes: Uint8Array;
  /** A per-CPU u64 counter the tail-called stage bumps once per run (map, key). */
  counter?: { map: string; key: number };
}

const CASES: Case[] = [
  { object: SEED, packet: "TCP to 443 (no tail call)", bytes: tcpTo(443) },
  { object: SEED, packet: "UDP (no tail call)", bytes: udpPacket(16) },
  { object: SEED, packet: "ARP (no tail call)", bytes: arpPacket() },
  {
    object: COUNTER,
    packet: "TCP to 8080 → slot 0 (counter)",
    bytes: tcpTo(8080),
    counter: { map: "hits", key: 0 },
  },
  {
    object: COUNTER,
    packet: "TCP to 22 → slot 1 (counter)",
    bytes: tcpTo(22),
    counter: { map: "hits", key: 1 },
  },
  {
    object: PARSER,
    packet: "VLAN IPv4 TCP to 443 → tcp_stage",
    bytes: vlanTcp4(443),
    counter: { map: "port_count", key: 443 % 64 },
  },
  {
    object: PARSER,
    packet: "QinQ IPv6 UDP to 53 → udp_stage",
    bytes: qinqUdp6(53),
    counter: { map: "port_count", key: 64 + (53 % 64) },
  },
  {
    object: PARSER,
    packet: "IPv4 TCP to 23 → tcp_stage, dropped",
    bytes: tcpTo(23),
    counter: { map: "port_count", key: 23 },
  },
  { object: PARSER, packet: "ARP (no tail call)", bytes: arpPacket() },
];

/** Fills the object's prog array, as its loader does. */
function wire(coll: LoadedCollection, object: string): void {
  const setup = OBJECTS[object] as ObjectSetup;
  const pa = coll.maps[setup.progArray];
  if (pa === undefined) throw new Error(`no ${setup.progArray}`);
  setup.slots.forEach((name, slot) => {
    pa.set(slot, programOf(coll, name));
  });
}

/** Sum over CPUs of the first u64 of the per-CPU value at `key` of `map`. */
function counter(coll: LoadedCollection, map: string, key: number): bigint {
  const m = coll.maps[map];
  const v = m?.get(key);
  if (m === undefined || v === undefined) return -1n;
  const dv = new DataView(v.buffer, v.byteOffset, v.byteLength);
  const stride = Math.ceil(m.spec.valueSize / 8) * 8;
  let sum = 0n;
  for (let o = 0; o + 8 <= v.byteLength; o += stride) sum += dv.getBigUint64(o, true);
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
    {
      vm: VmCollection;
      jit: VmCollection;
      wasm: VmCollection;
      kern?: LoadedCollection;
      kernStats?: LoadedCollection;
    }
  >();
  const rows: DispatchRow[] = [];
  try {
    for (const object of [SEED, COUNTER, PARSER]) {
      const spec = readSpec(object);
      const vm = loadVm(spec);
      wire(vm, object);
      // The JS tier, and the default compiled engine (the wasm tier).
      const jit = loadVm(spec, "js");
      wire(jit, object);
      const wasm = loadVm(spec, "compiled");
      wire(wasm, object);
      const entry: {
        vm: VmCollection;
        jit: VmCollection;
        wasm: VmCollection;
        kern?: LoadedCollection;
        kernStats?: LoadedCollection;
      } = { vm, jit, wasm };
      if (opts.kernel) {
        entry.kern = await loadKernel(spec);
        wire(entry.kern, object);
        entry.kernStats = await loadKernel(instrumentCollection(spec).spec);
        wire(entry.kernStats, object);
      }
      loaded.set(object, entry);
    }
    for (const c of CASES) {
      const { vm, jit, wasm, kern, kernStats } = loaded.get(c.object) as {
        vm: VmCollection;
        jit: VmCollection;
        wasm: VmCollection;
        kern?: LoadedCollection;
        kernStats?: LoadedCollection;
      };
      const entry = (OBJECTS[c.object] as ObjectSetup).entry;
      const vt = await timeVm(programOf(vm, entry), c.bytes, {
        warmMs: 200,
        trialMs: opts.trialMs,
        trials: opts.trials,
      });
      if (vt.last.fault !== undefined) throw vt.last.fault;
      await programOf(vm, entry).run(c.bytes);
      const row: DispatchRow = {
        object: c.object,
        packet: c.packet,
        chain: vt.last.chain ?? [],
        insns: vm.interpreter.executed,
        vmExecNs: vt.execNs,
        vmWallNs: vt.wallNs,
        vmRepeat: vt.repeat,
      };
      const jt = await timeVm(programOf(jit, entry), c.bytes, {
        // V8 takes 100-200 ms to optimise a large program's translated code (and again after a new
        // packet path deoptimises it): warm long enough that the trials time the optimised code.
        warmMs: 600,
        trialMs: opts.trialMs,
        trials: opts.trials,
      });
      if (jt.last.fault !== undefined) throw jt.last.fault;
      await programOf(jit, entry).run(c.bytes);
      row.compiledExecNs = jt.execNs;
      row.compiledWallNs = jt.wallNs;
      row.compiledSame =
        jt.last.retval === vt.last.retval &&
        (jt.last.chain ?? []).join() === row.chain.join() &&
        jit.interpreter.executed === row.insns;
      const wt = await timeVm(programOf(wasm, entry), c.bytes, {
        // V8 compiles wasm with its baseline compiler first and tiers hot functions up.
        warmMs: 400,
        trialMs: opts.trialMs,
        trials: opts.trials,
      });
      if (wt.last.fault !== undefined) throw wt.last.fault;
      await programOf(wasm, entry).run(c.bytes);
      row.wasmExecNs = wt.execNs;
      row.wasmSame =
        wt.last.retval === vt.last.retval &&
        (wt.last.chain ?? []).join() === row.chain.join() &&
        wasm.interpreter.executed === row.insns;
      if (kern !== undefined) {
        const before = c.counter === undefined ? 0n : counter(kern, c.counter.map, c.counter.key);
        const kt = await timeKernel(programOf(kern, entry), c.bytes, {
          repeat: KERNEL_REPEAT,
          trials: opts.trials,
        });
        row.kernelNs = kt.ns;
        row.kernelRepeat = KERNEL_REPEAT;
        row.ratio = vt.execNs / kt.ns;
        row.wallRatio = vt.wallNs / kt.ns;
        if (c.counter !== undefined) {
          // timeKernel makes one warm-up call of 1000 runs, then `trials` calls of `repeat`.
          const expected = BigInt(1000 + KERNEL_REPEAT * opts.trials);
          row.counterChecked = counter(kern, c.counter.map, c.counter.key) - before === expected;
        }
      }
      if (kernStats !== undefined && row.kernelNs !== undefined) {
        const st = await timeKernel(programOf(kernStats, entry), c.bytes, {
          repeat: KERNEL_REPEAT,
          trials: opts.trials,
        });
        row.kernelStatsNs = st.ns;
        row.statsNsPerStage = (st.ns - row.kernelNs) / Math.max(1, row.chain.length);
      }
      rows.push(row);
    }
  } finally {
    for (const { vm, jit, wasm, kern, kernStats } of loaded.values()) {
      kern?.close();
      kernStats?.close();
      vm.close();
      jit.close();
      wasm.close();
    }
  }
  return rows;
}
