/**
 * Loading one object on both engines and timing a program on each. The VM figure is the mean
 * `durationNs` of `program.run(packet, { repeat })` (interpreter time only), next to the wall
 * time of the same call divided by `repeat` (what a caller waits, with the runtime's per-run
 * set-up); the kernel figure is BPF_PROG_TEST_RUN's own mean over `repeat` runs.
 */
import { readFileSync } from "node:fs";
import type { BpfProgram, LoadedCollection, RunResult } from "../src/backend/types.js";
import { loadCollectionSpec } from "../src/object/load-collection-spec.js";
import type { CollectionSpec } from "../src/object/types.js";
import { loadVmCollection, type VmCollection, type VmTierOption } from "../src/vm/vm-collection.js";
import { median, nowNs } from "./stats.js";

/** Reads and parses a BPF object relative to the repository root. */
export function readSpec(path: string): CollectionSpec {
  return loadCollectionSpec(new Uint8Array(readFileSync(path)), { file: path });
}

/** Loads `spec` into the VM (one CPU: per-CPU maps need no more for a benchmark), on `tier`. */
export function loadVm(spec: CollectionSpec, tier: VmTierOption = "interpreter"): VmCollection {
  return loadVmCollection(spec, { possibleCpus: 1, tier });
}

/** Loads `spec` into the kernel. */
export async function loadKernel(spec: CollectionSpec): Promise<LoadedCollection> {
  const { loadKernelCollection } = await import("../src/kernel/kernel-collection.js");
  return loadKernelCollection(spec, { onWarning: () => {} });
}

/** A program from a collection, or a clear error naming what is missing. */
export function programOf(coll: LoadedCollection, name: string): BpfProgram {
  const p = coll.programs[name];
  if (p === undefined) throw new Error(`${coll.spec.file ?? "object"} has no program ${name}`);
  return p;
}

/** What timing a program on the VM gave. */
export interface VmTiming {
  /** Median over trials of the mean interpreter time per run (RunResult.durationNs). */
  execNs: number;
  /** Median over trials of wall time of `run(packet, {repeat})` divided by repeat. */
  wallNs: number;
  /** Runs per trial. */
  repeat: number;
  trials: number;
  /** The last run's result (retval, chain...). */
  last: RunResult;
}

/**
 * Times `prog` on the VM: warms V8 up for `warmMs`, picks a repeat count that makes one trial
 * last about `trialMs`, and takes the median of `trials` trials.
 */
export async function timeVm(
  prog: BpfProgram,
  packet: Uint8Array,
  opts: { warmMs: number; trialMs: number; trials: number },
): Promise<VmTiming> {
  let last = await prog.run(packet);
  // Warm-up doubles as calibration: how long does one run take once the code is optimised?
  let repeat = 16;
  let perRun = 0;
  const warmEnd = nowNs() + opts.warmMs * 1e6;
  while (nowNs() < warmEnd) {
    const t = nowNs();
    last = await prog.run(packet, { repeat });
    perRun = (nowNs() - t) / repeat;
    if (perRun * repeat < 5e6) repeat *= 2;
  }
  repeat = Math.max(1, Math.round((opts.trialMs * 1e6) / Math.max(perRun, 1)));
  const exec: number[] = [];
  const wall: number[] = [];
  for (let i = 0; i < opts.trials; i++) {
    const t = nowNs();
    last = await prog.run(packet, { repeat });
    wall.push((nowNs() - t) / repeat);
    exec.push(last.durationNs);
  }
  return { execNs: median(exec), wallNs: median(wall), repeat, trials: opts.trials, last };
}

/** What timing a program on the kernel gave. */
export interface KernelTiming {
  /** Median over trials of BPF_PROG_TEST_RUN's mean duration per run. */
  ns: number;
  repeat: number;
  trials: number;
  last: RunResult;
}

/** Times `prog` with BPF_PROG_TEST_RUN: `repeat` runs per call, median of `trials` calls. */
export async function timeKernel(
  prog: BpfProgram,
  packet: Uint8Array,
  opts: { repeat: number; trials: number },
): Promise<KernelTiming> {
  let last = await prog.run(packet, { repeat: Math.min(opts.repeat, 1000) });
  const ns: number[] = [];
  for (let i = 0; i < opts.trials; i++) {
    last = await prog.run(packet, { repeat: opts.repeat });
    ns.push(last.durationNs);
  }
  return { ns: median(ns), repeat: opts.repeat, trials: opts.trials, last };
}

/** A repeat count that makes one BPF_PROG_TEST_RUN call last about `ms`, within [1e3, 1e6]. */
export async function kernelRepeatFor(prog: BpfProgram, packet: Uint8Array, ms: number): Promise<number> {
  const probe = await prog.run(packet, { repeat: 1000 });
  const per = Math.max(probe.durationNs, 1);
  return Math.min(1_000_000, Math.max(1000, Math.round((ms * 1e6) / per)));
}
