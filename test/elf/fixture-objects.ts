import { execFileSync } from "node:child_process";
import { readdirSync, statSync } from "node:fs";
import { join } from "node:path";

/** Every compiled BPF object under examples/ and test/bpf/, relative to the repo root. */
export function fixtureObjects(): string[] {
  const out: string[] = [];
  const walk = (dir: string) => {
    let entries: string[] = [];
    try {
      entries = readdirSync(dir);
    } catch {
      return;
    }
    for (const e of entries.sort()) {
      const p = join(dir, e);
      if (statSync(p).isDirectory()) walk(p);
      else if (p.endsWith(".bpf.o")) out.push(p);
    }
  };
  walk("examples");
  walk("test/bpf");
  return out;
}

/** Whether `cmd` can be run (used to skip comparisons when a tool is missing). */
export function hasTool(cmd: string, args: string[] = ["--version"]): boolean {
  try {
    execFileSync(cmd, args, { stdio: "ignore" });
    return true;
  } catch {
    return false;
  }
}

/** Runs a tool and returns its stdout. */
export function run(cmd: string, args: string[]): string {
  return execFileSync(cmd, args, { encoding: "utf8", maxBuffer: 64 << 20 });
}
