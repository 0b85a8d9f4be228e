/**
 * The layering rules of .dependency-cruiser.cjs are in force: run on a small tree that breaks each
 * rule once (and also holds every import the layering allows), dependency-cruiser reports exactly
 * the breaking imports, each under its rule.
 */
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { dirname, join, resolve } from "node:path";
import { test } from "node:test";

/** Files of the tree: path under the tree → source. */
const TREE: Record<string, string> = {
  // Allowed: every arrow of docs/architecture.md, skipping layers where the code does.
  "src/index.ts": `export * from "./collection.js";\n`,
  "src/cli/main.ts": `import "../collection.js";\nimport "../kernel/engine.js";\nimport "../graph/dot.js";\nimport "../newdir/x.js";\nexport const main = 1;\n`,
  "src/graph/dot.ts": `import "../tailcall/wiring.js";\nimport "../errors.js";\n`,
  "src/collection.ts":
    `import type { K } from "./kernel/engine.js";\nimport "./vm/engine.js";\nimport "./kernel/sys.js";\n` +
    `export const load = async (): Promise<K> => (await import("./kernel/engine.js")).k;\n`,
  "src/pipeline/up.ts":
    `import type { K } from "../kernel/engine.js";\nimport "../collection.js";\n` +
    `export const up = async (): Promise<K> => (await import("../kernel/engine.js")).k;\n`,
  "src/kernel/engine.ts": `import { readFileSync } from "node:fs";\nimport "./sys.js";\nimport "../trace/pipe.js";\nexport type K = number;\nexport const k: K = readFileSync.length;\n`,
  "src/kernel/sys.ts": `import "koffi";\nimport "../errors.js";\n`,
  "src/vm/engine.ts": `import "../tailcall/wiring.js";\nimport "../trace/printk.js";\nimport "../net/build.js";\nimport "../abi/numbers.js";\n`,
  "src/tailcall/wiring.ts": `import "../backend/types.js";\n`,
  "src/trace/printk.ts": `import "../errors.js";\n`,
  "src/trace/trace-pipe.ts": `import "node:fs";\n`,
  "src/trace/pipe.ts": `import "./trace-pipe.js";\n`,
  "src/net/build.ts": `import "../internal/bytes.js";\n`,
  "src/backend/types.ts": `import "../object/types.js";\nimport "../btf/parse.js";\n`,
  "src/object/types.ts": `import "../btf/parse.js";\nimport "../elf/parse.js";\nimport "../asm/insn.js";\n`,
  "src/btf/parse.ts": `import "../internal/bytes.js";\nimport "../abi/numbers.js";\n`,
  "src/elf/parse.ts": `import "../internal/bytes.js";\n`,
  "src/asm/insn.ts": `import "../abi/numbers.js";\n`,
  "src/abi/numbers.ts": `import "../internal/bytes.js";\nimport "../errors.js";\n`,
  "src/internal/bytes.ts": `import "../errors.js";\n`,
  "src/errors.ts": `export const E = 1;\n`,
  "src/pipeline/run.ts": `import { readFileSync } from "node:fs";\nimport "../collection.js";\nexport const r = readFileSync;\n`,
  "src/skeleton/define.ts": `import type { K } from "../kernel/engine.js";\nimport "../collection.js";\nimport "../gen/model.js";\nexport type S = K;\n`,
  "src/gen/model.ts": `import "../object/types.js";\nimport "../btf/parse.js";\nimport "../abi/numbers.js";\n`,
  // Each of these breaks one rule.
  "src/asm/above-btf.ts": `import "../btf/parse.js";\n`,
  "src/object/above-backend.ts": `import "../backend/types.js";\n`,
  "src/tailcall/above-kernel.ts": `import "../kernel/engine.js";\n`,
  "src/backend/above-tailcall.ts": `import "../tailcall/wiring.js";\n`,
  "src/trace/above-vm.ts": `import "../vm/engine.js";\n`,
  "src/vm/sibling-kernel.ts": `import "../kernel/engine.js";\n`,
  "src/btf/sibling-elf.ts": `import "../elf/parse.js";\n`,
  "src/internal/above-abi.ts": `import "../abi/numbers.js";\n`,
  "src/skeleton/sibling-pipeline.ts": `import "../pipeline/run.js";\n`,
  "src/gen/above-collection.ts": `import "../collection.js";\n`,
  "src/gen/io.ts": `import "node:fs";\n`,
  "src/abi/above-asm.ts": `import "../asm/insn.js";\n`,
  "src/errors-user.ts": `import "./errors.js";\n`,
  "src/vm/cli-user.ts": `import "../cli/main.js";\n`,
  "src/net/io.ts": `import "node:fs";\n`,
  "src/graph/io.ts": `import "node:fs/promises";\n`,
  "src/graph/above-vm.ts": `import "../vm/engine.js";\n`,
  "src/tailcall/above-graph.ts": `import "../graph/dot.js";\n`,
  "src/vm/native.ts": `import "koffi";\n`,
  "src/pipeline/eager.ts": `import "../kernel/sys.js";\n`,
  "src/newdir/x.ts": `import "../errors.js";\n`,
};

/** The breaking imports and the rule each must be reported under. */
const EXPECTED = [
  "src/abi/above-asm.ts -> src/asm/insn.ts: layer-abi",
  "src/asm/above-btf.ts -> src/btf/parse.ts: layer-asm",
  "src/backend/above-tailcall.ts -> src/tailcall/wiring.ts: layer-backend",
  "src/btf/sibling-elf.ts -> src/elf/parse.ts: layer-btf",
  "src/cli/main.ts -> src/newdir/x.ts: every-import-in-a-layer",
  "src/collection.ts -> src/kernel/sys.ts: kernel-engine-loaded-lazily",
  "src/errors-user.ts -> src/errors.ts: every-module-in-a-layer",
  "src/gen/above-collection.ts -> src/collection.ts: layer-gen",
  "src/gen/io.ts -> fs: pure-layers-no-io",
  "src/graph/above-vm.ts -> src/vm/engine.ts: layer-graph",
  "src/graph/io.ts -> fs/promises: pure-layers-no-io",
  "src/internal/above-abi.ts -> src/abi/numbers.ts: layer-internal",
  "src/net/io.ts -> fs: pure-layers-no-io",
  "src/newdir/x.ts -> src/errors.ts: every-module-in-a-layer",
  "src/object/above-backend.ts -> src/backend/types.ts: layer-object",
  "src/pipeline/eager.ts -> src/kernel/sys.ts: kernel-engine-loaded-lazily",
  "src/skeleton/sibling-pipeline.ts -> src/pipeline/run.ts: layer-skeleton",
  "src/tailcall/above-graph.ts -> src/graph/dot.ts: layer-tailcall",
  "src/tailcall/above-kernel.ts -> src/kernel/engine.ts: layer-tailcall",
  "src/trace/above-vm.ts -> src/vm/engine.ts: layer-trace",
  "src/vm/cli-user.ts -> src/cli/main.ts: layer-vm",
  "src/vm/cli-user.ts -> src/cli/main.ts: nothing-imports-cli",
  "src/vm/native.ts -> koffi: one-syscall-chokepoint",
  "src/vm/sibling-kernel.ts -> src/kernel/engine.ts: layer-vm",
];

interface Violation {
  from: string;
  to: string;
  rule: { name: string };
}

test("dependency-cruiser reports exactly the imports that break the drawn layering, each under its rule", () => {
  const dir = mkdtempSync(join(tmpdir(), "tsbpf-layering-"));
  try {
    writeFileSync(
      join(dir, "tsconfig.json"),
      JSON.stringify({ compilerOptions: { module: "NodeNext", strict: true } }),
    );
    for (const [file, text] of Object.entries(TREE)) {
      mkdirSync(dirname(join(dir, file)), { recursive: true });
      writeFileSync(join(dir, file), text);
    }
    const r = spawnSync(
      process.execPath,
      [
        resolve("node_modules/dependency-cruiser/bin/dependency-cruise.mjs"),
        "--config",
        resolve(".dependency-cruiser.cjs"),
        "--output-type",
        "json",
        "src",
      ],
      { cwd: dir, encoding: "utf8" },
    );
    assert.ok(r.stdout.length > 0, `dependency-cruiser printed nothing: ${r.stderr}`);
    const violations = (JSON.parse(r.stdout) as { summary: { violations: Violation[] } }).summary.violations;
    const found = violations.map((v) => `${v.from} -> ${v.to.replace(/^node:/, "")}: ${v.rule.name}`).sort();
    assert.deepEqual(found, EXPECTED);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
