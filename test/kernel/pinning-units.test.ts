/**
 * `pinning: by_name` maps on every error path, with a fake Sys whose OBJ_PIN makes a real file:
 * no fd kept when the pinned object cannot be read, no pin left behind by a load that failed, and
 * global data in the map before anyone can reuse the pin.
 */
import assert from "node:assert/strict";
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { test } from "node:test";
import { BpfCmd } from "../../src/abi/index.js";
import { Errno } from "../../src/abi/index.js";
import { loadKernelCollection } from "../../src/kernel/kernel-collection.js";
import { openOrCreatePinnedMap } from "../../src/kernel/pinning.js";
import type { PtrArg } from "../../src/kernel/sys.js";
import { loadCollectionSpec } from "../../src/object/load-collection-spec.js";
import type { CollectionSpec, MapSpec } from "../../src/object/types.js";
import { fakeSys } from "./support.js";

const load = (path: string): CollectionSpec =>
  loadCollectionSpec(new Uint8Array(readFileSync(path)), { file: path });

const cString = (ptrs: readonly PtrArg[]): string => {
  const b = ptrs[0]?.buf ?? new Uint8Array();
  const end = b.indexOf(0);
  return new TextDecoder().decode(b.subarray(0, end < 0 ? b.length : end));
};

/** A fake kernel with nothing pinned yet: OBJ_PIN writes a file where bpffs would make a pin. */
function pinningKernel(progLoadErrno?: number) {
  let next = 100;
  return fakeSys((cmd, _attr, ptrs) => {
    if (cmd === BpfCmd.OBJ_GET) return { errno: Errno.ENOENT };
    if (cmd === BpfCmd.OBJ_PIN) {
      writeFileSync(cString(ptrs), "");
      return 0;
    }
    if (cmd === BpfCmd.PROG_LOAD && progLoadErrno !== undefined) return { errno: progLoadErrno };
    if (cmd === BpfCmd.MAP_LOOKUP_ELEM) return { errno: Errno.ENOENT };
    if (cmd === BpfCmd.MAP_CREATE || cmd === BpfCmd.PROG_LOAD || cmd === BpfCmd.BTF_LOAD) return next++;
    return 0;
  });
}

test("a pinned object whose info cannot be read is refused without keeping its fd", () => {
  const { sys, closed } = fakeSys((cmd) => {
    if (cmd === BpfCmd.OBJ_GET) return 42;
    if (cmd === BpfCmd.OBJ_GET_INFO_BY_FD) return { errno: Errno.EINVAL };
    return 0;
  });
  const spec = load("test/bpf/fixtures/maps.bpf.o").maps.pinned_map as MapSpec;
  assert.throws(
    () =>
      openOrCreatePinnedMap(sys, spec, "/nonexistent/pinned_map", () => {
        throw new Error("must not create");
      }),
    { name: "LoadError" },
  );
  assert.deepEqual(closed, [42]);
});

test("a load that fails after pinning a new by_name map removes that pin", async () => {
  const dir = mkdtempSync(join(tmpdir(), "tsbpf-pin-"));
  try {
    const { sys } = pinningKernel(Errno.EINVAL);
    await assert.rejects(loadKernelCollection(load("test/bpf/fixtures/maps.bpf.o"), { sys, pinDir: dir }));
    assert.equal(existsSync(join(dir, "pinned_map")), false, "the failed load's pin is gone");
    // Control: a load that succeeds keeps its pin.
    const ok = pinningKernel();
    const coll = await loadKernelCollection(load("test/bpf/fixtures/maps.bpf.o"), {
      sys: ok.sys,
      pinDir: dir,
    });
    coll.close();
    assert.equal(existsSync(join(dir, "pinned_map")), true);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test("a by_name global-data map is filled and frozen before it is pinned", async () => {
  const dir = mkdtempSync(join(tmpdir(), "tsbpf-pin-"));
  try {
    const spec = load("test/bpf/fixtures/globals.bpf.o");
    const rodata = Object.values(spec.maps).find((m) => m.initialData !== undefined && m.readOnly);
    assert.ok(rodata, "the fixture has read-only global data");
    (spec.maps as Record<string, MapSpec>)[rodata.name] = { ...rodata, pinning: "by_name" };
    const { sys, calls } = pinningKernel();
    const coll = await loadKernelCollection(spec, { sys, pinDir: dir });
    coll.close();
    const cmds = calls.map((c) => c.cmd);
    const pin = cmds.indexOf(BpfCmd.OBJ_PIN);
    assert.ok(pin >= 0, "the map was pinned");
    const update = cmds.indexOf(BpfCmd.MAP_UPDATE_ELEM);
    const freeze = cmds.indexOf(BpfCmd.MAP_FREEZE);
    assert.ok(update >= 0 && update < pin, `update (${update}) before pin (${pin})`);
    assert.ok(freeze >= 0 && freeze < pin, `freeze (${freeze}) before pin (${pin})`);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
