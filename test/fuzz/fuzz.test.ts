import { test } from "node:test";
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";

/**
 * Bounded fuzzing for CI. Each campaign runs in a child process with a capped heap, so an input
 * that exhausts memory or hangs is reported as a failure here instead of killing the test runner.
 * The same campaigns at length: `node dist/test/fuzz/run.js --iterations 100000 --seed N`.
 */
function campaign(
  only: "object" | "bytecode",
  iterations: number,
  seed: number,
): { out: string; status: number | null } {
  const r = spawnSync(
    process.execPath,
    [
      "--max-old-space-size=1024",
      "dist/test/fuzz/run.js",
      "--only",
      only,
      "--iterations",
      String(iterations),
      "--seed",
      String(seed),
    ],
    {
      encoding: "utf8",
      timeout: 60_000,
      maxBuffer: 16 << 20,
      env: { ...process.env, TSBPF_FUZZ_TRACE: "1" },
    },
  );
  const lastInput = (r.stderr ?? "")
    .trim()
    .split("\n")
    .filter((l) => l.startsWith("iteration"))
    .pop();
  const out = `${r.stdout ?? ""}${r.status === 0 ? "" : `\n(last input: ${lastInput ?? "none"}; signal ${r.signal})`}`;
  return { out, status: r.status };
}

test("ELF/BTF reader, disassembler and VM loader survive 3000 mutated real objects (seeded)", () => {
  const r = campaign("object", 3000, 20261125);
  assert.match(r.out, /object fuzzing: 3000 iterations, 0 findings/, r.out);
  // The mutations must get past the first check often enough to reach the VM.
  const reached = JSON.parse(/reached: (\{.*\})/.exec(r.out)?.[1] ?? "{}") as {
    parsed?: number;
    runs?: number;
  };
  assert.ok((reached.parsed ?? 0) > 300, `only ${reached.parsed} mutated objects parsed`);
  assert.ok((reached.runs ?? 0) > 300, `only ${reached.runs} programs ran`);
  assert.equal(r.status, 0, r.out);
});

test("the VM answers 8000 random bytecode programs with typed errors or clean runs (seeded)", () => {
  const r = campaign("bytecode", 8000, 20261125);
  assert.match(r.out, /bytecode fuzzing: 8000 iterations, 0 findings/, r.out);
  const reached = JSON.parse(/reached: (\{.*\})/.exec(r.out)?.[1] ?? "{}") as {
    vmLoaded?: number;
    faults?: number;
  };
  assert.ok((reached.vmLoaded ?? 0) > 800, `only ${reached.vmLoaded} random programs passed validation`);
  assert.ok((reached.faults ?? 0) > 100, "random programs never faulted: the run path is not exercised");
  assert.equal(r.status, 0, r.out);
});
