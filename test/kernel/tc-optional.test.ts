/**
 * libbpf's `?` section prefix (test/bpf/tc/tc_optional.bpf.c): the programs are in the object
 * (autoload false, shown by inspect) but neither engine loads them unless asked. `rejected`
 * would fail the kernel's verifier, so the kernel loading the object at all proves it was left
 * out; asked for, `optional` loads and runs on both engines, and `run --prog` asks for it.
 */
import assert from "node:assert/strict";
import { test } from "node:test";
import type { BackendName } from "../../src/backend/types.js";
import { Collection } from "../../src/collection.js";
import { runCli } from "../support/cli.js";
import { loadSpec } from "./both-engines.js";
import { kernelSkipReason } from "./support.js";

const FILE = "test/bpf/tc/tc_optional.bpf.o";
const PKT = new Uint8Array(60);

test("? sections: in the object, autoload off, shown by inspect", async () => {
  const spec = loadSpec(FILE);
  assert.equal(spec.programs.always?.autoload, undefined);
  assert.equal(spec.programs.optional?.autoload, false);
  assert.equal(spec.programs.optional?.typeName, "sched_cls");
  assert.equal(spec.programs.optional?.section, "?tc");
  const r = await runCli(["inspect", FILE, "--json"]);
  const j = JSON.parse(r.stdout) as { programs: { name: string; autoload: boolean; type: string }[] };
  assert.deepEqual(
    j.programs.map((p) => [p.name, p.type, p.autoload]),
    [
      ["always", "sched_cls", true],
      ["optional", "sched_cls", false],
      ["rejected", "sched_cls", false],
    ],
  );
  const t = await runCli(["inspect", FILE]);
  assert.match(t.stdout, /optional +\?tc +sched_cls \(not loaded unless asked: \?\)/);
});

for (const backend of ["vm", "kernel"] as BackendName[]) {
  const skip = backend === "kernel" ? kernelSkipReason() : false;
  test(`? sections are not loaded unless asked (${backend})`, { skip }, async () => {
    const c = await Collection.load(loadSpec(FILE), { backend });
    try {
      assert.deepEqual(Object.keys(c.programs), ["always"]);
      assert.equal((await c.programs.always?.run(PKT))?.retval, 1);
    } finally {
      c.close();
    }
    const spec = loadSpec(FILE);
    (spec.programs.optional as { autoload?: boolean }).autoload = true;
    const d = await Collection.load(spec, { backend });
    try {
      assert.deepEqual(Object.keys(d.programs).sort(), ["always", "optional"]);
      assert.equal((await d.programs.optional?.run(PKT))?.retval, 2);
    } finally {
      d.close();
    }
    if (backend === "kernel") {
      // What was left out: asked for, `rejected` fails the verifier.
      const bad = loadSpec(FILE);
      (bad.programs.rejected as { autoload?: boolean }).autoload = true;
      await assert.rejects(Collection.load(bad, { backend }), /rejected/);
    }
  });

  test(`run --prog names a ? program and so loads it (${backend})`, { skip }, async () => {
    const dir = await import("node:fs").then((fs) => fs.mkdtempSync("/tmp/tsbpf-optional-"));
    try {
      const f = `${dir}/p.bin`;
      (await import("node:fs")).writeFileSync(f, PKT);
      const r = await runCli([
        "run",
        FILE,
        "--prog",
        "optional",
        "--data-in",
        f,
        "--backend",
        backend,
        "--json",
      ]);
      assert.equal(r.code, 0, r.stderr);
      assert.equal((JSON.parse(r.stdout) as { retval: number }).retval, 2);
    } finally {
      (await import("node:fs")).rmSync(dir, { recursive: true, force: true });
    }
  });
}
