/**
 * Part 1: the interpreter's cost per executed instruction on loop-heavy programs
 * (test/bpf/bench/loops.bpf.c), next to the kernel's JIT running the same object on the same
 * packet. The instruction count is the interpreter's own `executed` for one run; the kernel's
 * cost per instruction uses the same count (the JIT runs the same instructions, more or less
 * what the verifier rewrote).
 */
import { execFileSync } from "node:child_process";
import type { LoadedCollection } from "../src/backend/types.js";
import type { VmCollection } from "../src/vm/vm-collection.js";
import { loadKernel, loadVm, programOf, readSpec, timeKernel, timeVm, kernelRepeatFor } from "./engines.js";
import { udpPacket } from "./packets.js";

/** One row of part 1. */
export interface InterpRow {
  program: string;
  what: string;
  /** Instructions the interpreter executed for one run. */
  insns: number;
  vmNsPerRun: number;
  vmNsPerInsn: number;
  vmWallNsPerRun: number;
  vmRepeat: number;
  kernelNsPerRun?: number;
  kernelNsPerInsn?: number;
  kernelRepeat?: number;
  /** VM ns per run / kernel ns per run. */
  ratio?: number;
  /** Whether both engines returned the same XDP action. */
  sameRetval?: boolean;
  /** The VM's compiled tier (src/vm/compiler.ts): ns per run and per instruction. */
  compiledNsPerRun?: number;
  compiledNsPerInsn?: number;
  /** Whether the compiled tier returned the interpreter's action after the interpreter's count of instructions. */
  compiledSame?: boolean;
  /** The VM's wasm tier (src/vm/wasm/): ns per run and per instruction. */
  wasmNsPerRun?: number;
  wasmNsPerInsn?: number;
  /** Whether the wasm tier returned the interpreter's action after the interpreter's count of instructions. */
  wasmSame?: boolean;
}

const OBJECT = "test/bpf/bench/loops.bpf.o";
const CASES = [
  { program: "sum_bytes", what: "sum 1024 packet bytes, bounds-checked loads" },
  { program: "alu_mix", what: "1000 rounds of 64/32-bit ALU (xorshift, mul)" },
  { program: "map_lookups", what: "256 array-map lookups (helper call)" },
];

/** Fills the 64-entry `table` map with values so lookups find something. */
function fillTable(coll: LoadedCollection): void {
  const t = coll.maps.table;
  if (t === undefined) throw new Error(`${OBJECT} has no map table`);
  for (let i = 0; i < 64; i++) t.set(i, BigInt(i * 3 + 1));
}

/**
 * Times the reference interpreter on `program` (300 ms of warm-up, then the trials, their median)
 * and runs it once more for the instruction count of exactly one run.
 */
async function timeInterpreter(
  vm: VmCollection,
  program: string,
  packet: Uint8Array,
  opts: { trialMs: number; trials: number },
): Promise<{ timed: Awaited<ReturnType<typeof timeVm>>; insns: number }> {
  const timed = await timeVm(programOf(vm, program), packet, { warmMs: 300, ...opts });
  if (timed.last.fault !== undefined) throw timed.last.fault;
  await programOf(vm, program).run(packet);
  return { timed, insns: vm.interpreter.executed };
}

/** Runs part 1; `kernel` false runs the VM only. */
export async function benchInterpreter(opts: {
  kernel: boolean;
  trialMs: number;
  trials: number;
}): Promise<InterpRow[]> {
  const spec = readSpec(OBJECT);
  const packet = udpPacket(1100);
  const vm = loadVm(spec) as VmCollection;
  fillTable(vm);
  // The JS tier, and the default compiled engine (the wasm tier).
  const jit = loadVm(spec, "js");
  fillTable(jit);
  const wasm = loadVm(spec, "compiled");
  fillTable(wasm);
  let kern: LoadedCollection | undefined;
  if (opts.kernel) {
    kern = await loadKernel(spec);
    fillTable(kern);
  }
  const rows: InterpRow[] = [];
  try {
    for (const c of CASES) {
      const { timed: vt, insns } = await timeInterpreter(vm, c.program, packet, opts);
      const row: InterpRow = {
        program: c.program,
        what: c.what,
        insns,
        vmNsPerRun: vt.execNs,
        vmNsPerInsn: vt.execNs / insns,
        vmWallNsPerRun: vt.wallNs,
        vmRepeat: vt.repeat,
      };
      const jt = await timeVm(programOf(jit, c.program), packet, {
        warmMs: 300,
        trialMs: opts.trialMs,
        trials: opts.trials,
      });
      if (jt.last.fault !== undefined) throw jt.last.fault;
      await programOf(jit, c.program).run(packet);
      row.compiledNsPerRun = jt.execNs;
      row.compiledNsPerInsn = jt.execNs / insns;
      row.compiledSame = jt.last.retval === vt.last.retval && jit.interpreter.executed === insns;
      const wt = await timeVm(programOf(wasm, c.program), packet, {
        warmMs: 300,
        trialMs: opts.trialMs,
        trials: opts.trials,
      });
      if (wt.last.fault !== undefined) throw wt.last.fault;
      await programOf(wasm, c.program).run(packet);
      row.wasmNsPerRun = wt.execNs;
      row.wasmNsPerInsn = wt.execNs / insns;
      row.wasmSame = wt.last.retval === vt.last.retval && wasm.interpreter.executed === insns;
      if (kern !== undefined) {
        const kp = programOf(kern, c.program);
        const repeat = await kernelRepeatFor(kp, packet, 50);
        const kt = await timeKernel(kp, packet, { repeat, trials: opts.trials });
        row.kernelNsPerRun = kt.ns;
        row.kernelNsPerInsn = kt.ns / insns;
        row.kernelRepeat = repeat;
        row.ratio = vt.execNs / kt.ns;
        row.sameRetval = kt.last.retval === vt.last.retval;
      }
      rows.push(row);
    }
  } finally {
    kern?.close();
    vm.close();
    jit.close();
    wasm.close();
  }
  return rows;
}

/** The programs whose interpreter figure is an aim of issue 14 (map_lookups is not). */
export const INTERPRETER_AIM_PROGRAMS = ["sum_bytes", "alu_mix"] as const;

/**
 * The interpreter's ns per instruction on `programs`, timed in this process as part 1 times it
 * (300 ms of warm-up, then `trials` trials, their median): what bench/interp-process.ts prints.
 */
export async function interpreterNsPerInsn(
  programs: readonly string[],
  opts: { trialMs: number; trials: number },
): Promise<Record<string, number>> {
  const vm = loadVm(readSpec(OBJECT)) as VmCollection;
  fillTable(vm);
  const packet = udpPacket(1100);
  const out: Record<string, number> = {};
  try {
    for (const program of programs) {
      const { timed, insns } = await timeInterpreter(vm, program, packet, opts);
      out[program] = timed.execNs / insns;
    }
  } finally {
    vm.close();
  }
  return out;
}

/**
 * The same figures from a fresh Node process (bench/interp-process.ts). On this kind of machine a
 * whole process runs the interpreter at one of two speeds, about 3.7 or about 6.4 ns/insn, with
 * the same code, layout and optimisations (docs/benchmarks.md): the aim takes the best of the
 * processes a run makes, spread over the run, so that one slow spell of the host does not decide it.
 */
export function interpreterInFreshProcess(opts: { trialMs: number; trials: number }): Record<string, number> {
  const out = execFileSync(
    process.execPath,
    ["dist/bench/interp-process.js", String(opts.trialMs), String(opts.trials), ...INTERPRETER_AIM_PROGRAMS],
    { encoding: "utf8" },
  );
  return JSON.parse(out.trim().split("\n").pop() ?? "{}") as Record<string, number>;
}
