import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { test } from "node:test";
import { Collection } from "../../src/collection.js";
import { isLoadError } from "../../src/errors.js";
import { loadCollectionSpec } from "../../src/object/load-collection-spec.js";
import { kernelSkipReason } from "./support.js";

const OBJ = "test/bpf/kernel/unknown_section.bpf.o";

test("a program in an unknown section is listed as unspec and refused by the kernel backend by name", async (t) => {
  const spec = loadCollectionSpec(new Uint8Array(readFileSync(OBJ)), { file: "unknown_section.bpf.o" });
  assert.equal(spec.programs.odd?.typeName, "unspec");
  assert.equal(spec.programs.known?.typeName, "xdp");
  // The VM loads it (run() would refuse it), so the known program still runs there.
  const vm = await Collection.load(spec, { backend: "vm" });
  assert.equal((await vm.programs.known?.run(new Uint8Array(14)))?.retval, 2);
  vm.close();
  const why = kernelSkipReason();
  if (why !== undefined) return t.skip(why);
  await assert.rejects(
    Collection.load(spec, { backend: "kernel", onWarning: () => {} }),
    (e: unknown) =>
      isLoadError(e) &&
      /program odd: section 'weird\/thing' names no program type/.test((e as Error).message) &&
      /SEC\("xdp"\)/.test((e as { hint?: string }).hint ?? ""),
  );
});
