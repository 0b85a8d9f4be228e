/**
 * Facts about the running host that the kernel backend reads from procfs and sysfs.
 * They are plain files, so this needs no native code.
 */
import { readFileSync } from "node:fs";
import { parseCapEff } from "./errno.js";

/** This process's effective capability mask, or `undefined` when /proc is unreadable. */
export function readEffectiveCaps(): bigint | undefined {
  try {
    return parseCapEff(readFileSync("/proc/self/status", "utf8"));
  } catch {
    return undefined;
  }
}

/** Parses a CPU list such as `0-3,8,10-11` into a count. */
export function parseCpuList(text: string): number {
  let n = 0;
  for (const part of text.trim().split(",")) {
    if (part === "") continue;
    const [a, b] = part.split("-");
    const lo = Number(a);
    const hi = b === undefined ? lo : Number(b);
    if (!Number.isInteger(lo) || !Number.isInteger(hi) || hi < lo) continue;
    n += hi - lo + 1;
  }
  return n;
}

let possible: number | undefined;

/**
 * Number of possible CPUs: per-CPU map values hold one slot for each, whether online or not,
 * so a lookup buffer must be `roundUp8(valueSize) * possibleCpus()` bytes.
 */
export function possibleCpus(): number {
  if (possible === undefined) {
    try {
      possible = Math.max(1, parseCpuList(readFileSync("/sys/devices/system/cpu/possible", "utf8")));
    } catch {
      possible = 1;
    }
  }
  return possible;
}
