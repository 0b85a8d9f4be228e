/**
 * How many CPUs a per-CPU map holds values for. The kernel sizes per-CPU values by the *possible*
 * CPUs (online or not), so this is the default for both engines: on one machine the VM and the
 * kernel then lay out per-CPU values alike, which the differential tests compare.
 */
import { readFileSync } from "node:fs";
import { createRequire } from "node:module";

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
 * The host's possible CPUs (`/sys/devices/system/cpu/possible`); where that file does not exist
 * (not Linux), the CPUs Node can use. Read once per process.
 */
export function hostPossibleCpus(): number {
  if (possible === undefined) {
    try {
      possible = Math.max(1, parseCpuList(readFileSync("/sys/devices/system/cpu/possible", "utf8")));
    } catch {
      // node:os only here, off Linux: loading it cost every command's start-up about 0.8 ms.
      const os = createRequire(import.meta.url)("node:os") as typeof import("node:os");
      possible = Math.max(1, os.availableParallelism());
    }
  }
  return possible;
}
