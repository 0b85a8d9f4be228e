import { execFileSync } from "node:child_process";

/**
 * Whether `cmd arg` runs and exits 0: stricter than finding the command on PATH, since a tool
 * that is installed but broken (or too old to know the flag) must skip the test, not fail it.
 */
export function canRun(cmd: string, arg = "--version"): boolean {
  try {
    execFileSync(cmd, [arg], { stdio: "ignore" });
    return true;
  } catch {
    return false;
  }
}
