import { verdictNameFor } from "../abi/tc.js";
import type { RunResult } from "../backend/types.js";
import { toHex } from "../internal/bytes.js";

/**
 * `XDP_PASS (2)` for an XDP program, `TC_ACT_SHOT (2)` for a tc one; the bare number for values
 * that name nothing for the program's type.
 */
export function verdictName(retval: number, progType: number): string {
  const n = verdictNameFor(progType, retval);
  return n === undefined ? String(retval) : `${n} (${retval})`;
}

/** The JSON shape of one packet's result (`tsbpf run --json`), the same for both backends. */
export interface RunJson {
  packet: number;
  retval: number;
  verdict: string;
  dataOut: string;
  durationNs: number;
  /** VM, first packet: the one-off preparation before the run, not in `durationNs`. */
  prepareNs?: number;
  trace: string[];
  chain?: string[];
  redirect?: object;
  fault?: FaultJson;
  /** VM: the tier the run ran on. */
  tier?: string;
}

/** A VM fault in `--json` output: where it happened, as text and as numbers. */
export interface FaultJson {
  message: string;
  program?: string;
  insn?: number;
  instruction?: string;
  sourceLine?: string;
}

/** The fault's location and the instruction and C line that caused it (VM only). */
export function faultJson(e: Error): FaultJson {
  const f = e as Error & {
    detail?: string;
    context?: { program?: string; insn?: number };
    instruction?: string;
    sourceLine?: string;
  };
  const out: FaultJson = { message: f.detail ?? f.message };
  if (f.context?.program !== undefined) out.program = f.context.program;
  if (f.context?.insn !== undefined) out.insn = f.context.insn;
  if (f.instruction !== undefined) out.instruction = f.instruction;
  if (f.sourceLine !== undefined) out.sourceLine = f.sourceLine;
  return out;
}

/** Converts a run result into the JSON line `tsbpf run --json` prints. */
export function runJson(index: number, r: RunResult, progType: number): RunJson {
  const out: RunJson = {
    packet: index,
    retval: r.retval,
    verdict: verdictNameFor(progType, r.retval) ?? String(r.retval),
    dataOut: toHex(r.dataOut),
    durationNs: r.durationNs,
    ...(r.prepareNs === undefined ? {} : { prepareNs: r.prepareNs }),
    trace: r.trace,
  };
  if (r.chain !== undefined) out.chain = r.chain;
  if (r.redirect !== undefined) out.redirect = { ...r.redirect, flags: r.redirect.flags.toString() };
  if (r.fault !== undefined) out.fault = faultJson(r.fault);
  if (r.tier !== undefined) out.tier = r.tier;
  return out;
}

/** A message the way a trace_pipe line shows it: a trailing newline of the format is not a line. */
export function traceText(m: string): string {
  return m.endsWith("\n") ? m.slice(0, -1) : m;
}
