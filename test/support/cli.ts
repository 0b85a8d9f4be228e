import { spawnSync } from "node:child_process";
import { main } from "../../src/cli/main.js";

/** Output of one CLI invocation. */
export interface CliRun {
  code: number;
  stdout: string;
  stderr: string;
}

/** Runs the CLI in-process with captured output. */
export async function runCli(args: string[], stdin = ""): Promise<CliRun> {
  let stdout = "";
  let stderr = "";
  const code = await main(args, {
    stdout: (t) => {
      stdout += t;
    },
    stderr: (t) => {
      stderr += t;
    },
    readStdin: async () => stdin,
    cwd: process.cwd(),
  });
  return { code, stdout, stderr };
}

/** Runs `bin/tsbpf.js` as a real process (exit codes, stray stack traces, hangs). */
export function spawnCli(args: string[], opts: { input?: string; timeoutMs?: number } = {}): CliRun {
  const r = spawnSync(process.execPath, ["bin/tsbpf.js", ...args], {
    encoding: "utf8",
    input: opts.input ?? "",
    timeout: opts.timeoutMs ?? 30_000,
  });
  return { code: r.status ?? -1, stdout: r.stdout, stderr: r.stderr };
}
