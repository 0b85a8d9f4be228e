/**
 * Facts about the running host that the kernel backend reads from procfs and sysfs.
 * They are plain files, so this needs no native code.
 */
import { readFileSync } from "node:fs";
import { parseCapEff } from "./errno-hint.js";

/** This process's effective capability mask, or `undefined` when /proc is unreadable. */
export function readEffectiveCaps(): bigint | undefined {
  try {
    return parseCapEff(readFileSync("/proc/self/status", "utf8"));
  } catch {
    return undefined;
  }
}
