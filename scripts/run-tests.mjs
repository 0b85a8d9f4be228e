// Runs the test suite from dist/, one file at a time: kernel tests share global state (trace_pipe,
// interface names, bpffs) and must never run at once. Arguments filter files by substring.
import { spawnSync } from "node:child_process";
import { readdirSync, statSync } from "node:fs";
import { join } from "node:path";

function find(dir, out = []) {
  let entries = [];
  try {
    entries = readdirSync(dir);
  } catch {
    return out;
  }
  for (const e of entries) {
    const p = join(dir, e);
    if (statSync(p).isDirectory()) find(p, out);
    else if (p.endsWith(".test.js")) out.push(p);
  }
  return out.sort();
}

const filter = process.argv.slice(2);
const files = find("dist/test").filter((f) => filter.length === 0 || filter.some((s) => f.includes(s)));
if (files.length === 0) {
  console.error("run-tests: no test files found under dist/test (did the build run?)");
  process.exit(1);
}
// Leftovers of killed runs (namespaces, veths, pins named after a pid that no longer runs) go
// first; those of live processes (other worktrees' runs) stay. Root only: nobody else made any.
if (process.getuid?.() === 0) {
  try {
    const { sweepLeftovers } = await import("../dist/test/kernel/leftovers.js");
    const gone = sweepLeftovers();
    const all = [...gone.netns, ...gone.veths, ...gone.pins];
    if (all.length > 0) console.error(`run-tests: removed leftovers of killed runs: ${all.join(", ")}`);
  } catch (e) {
    console.error(`run-tests: warning: the sweep of leftovers failed: ${e instanceof Error ? e.message : e}`);
  }
}
// The tests import dist/src's modules and the committed skeletons, which import "tsbpf": the
// package entry must give them the same module graph (one instance of each class), not the
// bundle. Tests of the bundled entry (test/api/package-entry.test.ts) clear it in their children.
const r = spawnSync(process.execPath, ["--test", "--test-concurrency=1", ...files], {
  stdio: "inherit",
  env: { ...process.env, TSBPF_BUNDLE: process.env.TSBPF_BUNDLE ?? "0" },
});
process.exit(r.status ?? 1);
