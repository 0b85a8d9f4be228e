import type { RunResult } from "../backend/types.js";
import { toHex } from "../internal/bytes.js";

/** XDP action names by value (include/uapi/linux/bpf.h `enum xdp_action`). */
export const XDP_ACTIONS = ["XDP_ABORTED", "XDP_DROP", "XDP_PASS", "XDP_TX", "XDP_REDIRECT"] as const;

/** `XDP_PASS (2)`, or the bare number for values that are not XDP actions. */
export function verdictName(retval: number): string {
  const n = XDP_ACTIONS[retval];
  return n === undefined ? String(retval) : `${n} (${retval})`;
}

/** The JSON shape of one packet's result (`tsbpf run --json`), the same for both backends. */
export interface RunJson {
  packet: number;
  retval: number;
  verdict: string;
  dataOut: string;
  durationNs: number;
  trace: string[];
  chain?: string[];
  redirect?: object;
  fault?: string;
}

/** Converts a run result into the JSON line `tsbpf run --json` prints. */
export function runJson(index: number, r: RunResult): RunJson {
  const out: RunJson = {
    packet: index,
    retval: r.retval,
    verdict: XDP_ACTIONS[r.retval] ?? String(r.retval),
    dataOut: toHex(r.dataOut),
    durationNs: r.durationNs,
    trace: r.trace,
  };
  if (r.chain !== undefined) out.chain = r.chain;
  if (r.redirect !== undefined) out.redirect = { ...r.redirect, flags: r.redirect.flags.toString() };
  if (r.fault !== undefined) out.fault = r.fault.message;
  return out;
}

/** A message the way a trace_pipe line shows it: a trailing newline of the format is not a line. */
export function traceText(m: string): string {
  return m.endsWith("\n") ? m.slice(0, -1) : m;
}
