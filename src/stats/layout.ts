import { verdictNameFor } from "../abi/tc.js";

/**
 * Where each counter lives in the value of the stats map. The map is a per-CPU array with one
 * entry (key 0) whose value is a row of u64 counters: per program its runs and verdicts, per
 * tail-call site a (calls, misses) pair per key bucket. The layout is a pure function of the
 * object, so a reader that knows the object knows where every count is.
 */

/** The name of the counters map instrumentation adds to a collection. */
export const STATS_MAP = ".tsbpf_stats";
/**
 * A one-entry array whose value (4 zero bytes) is the key the counting code looks the stats map
 * up with: read through a direct map-value address, it needs no stack.
 */
export const ZERO_MAP = ".tsbpf_zero";
/** Keys 0..KEY_BUCKETS-1 are counted one by one; every other key shares the last ("other") bucket. */
export const KEY_BUCKETS = 16;
/** Verdict buckets: return values 0..4 (the XDP actions), then everything else. */
export const VERDICT_BUCKETS = 6;
/** Bytes of one program's counters: runs, then the verdict buckets. */
export const PROGRAM_BYTES = 8 * (1 + VERDICT_BUCKETS);
/** Bytes of one site's counters: a (calls, misses) pair of u64 per key bucket. */
export const SITE_BYTES = 16 * (KEY_BUCKETS + 1);

/** One program's counters in the value. */
export interface ProgramCounters {
  name: string;
  /** `BPF_PROG_TYPE_*`: names its verdicts. */
  type: number;
  /** Byte offset of `runs`; the verdict buckets follow. */
  offset: number;
}

/** One tail-call site's counters in the value. */
export interface SiteCounters {
  program: string;
  /** The prog array, when the object says which. */
  map: string | undefined;
  /** The call's instruction index in the object's (uninstrumented) program, as `inspect` prints it. */
  insn: number;
  /** The call's C source, from BTF line info. */
  file: string | undefined;
  line: number | undefined;
  /** Byte offset of key 0's `calls`; `misses` follows each `calls`. */
  offset: number;
}

/** Where every counter of an instrumented collection is. */
export interface StatsLayout {
  map: string;
  valueSize: number;
  programs: ProgramCounters[];
  sites: SiteCounters[];
}

/** A verdict bucket's name for a program type: `XDP_PASS`, `TC_ACT_SHOT`, or the number, or `other`. */
export function verdictName(type: number, bucket: number): string {
  if (bucket >= VERDICT_BUCKETS - 1) return "other";
  return verdictNameFor(type, bucket) ?? String(bucket);
}
