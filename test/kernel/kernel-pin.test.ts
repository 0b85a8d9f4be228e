/** Pinning a map in bpffs and opening it again by path and by id. */
import assert from "node:assert/strict";
import { existsSync, rmSync } from "node:fs";
import { test } from "node:test";
import { isLoadError } from "../../src/errors.js";
import { MapType } from "../../src/abi/index.js";
import { Errno } from "../../src/abi/index.js";
import { createMap, lookupElem, updateElem } from "../../src/kernel/map-ops.js";
import { getMapInfo, getPinned, mapFdById, pinObject } from "../../src/kernel/object-ops.js";
import { defaultSys } from "../../src/kernel/sys.js";
import { ensureBpffs, kernelSkipReason } from "./support.js";

const skip =
  kernelSkipReason() ??
  (ensureBpffs() ? undefined : "needs a bpffs at /sys/fs/bpf and it could not be mounted");

test("a pinned map outlives its fd and is the same map when reopened", { skip }, () => {
  const sys = defaultSys();
  const path = `/sys/fs/bpf/tsbpf-k-${process.pid}-map`;
  try {
    const m = createMap(sys, {
      type: MapType.hash,
      keySize: 4,
      valueSize: 4,
      maxEntries: 4,
      name: "t_pinned",
    });
    const id = getMapInfo(sys, m.value).id;
    updateElem(sys, m.value, new Uint8Array([1, 0, 0, 0]), new Uint8Array([42, 0, 0, 0]));
    pinObject(sys, m.value, path);
    assert.ok(existsSync(path));
    let again: unknown;
    try {
      pinObject(sys, m.value, path);
    } catch (e) {
      again = e;
    }
    assert.ok(isLoadError(again) && again.errno === Errno.EEXIST, "pinning twice at one path is EEXIST");
    m.close();

    const p = getPinned(sys, path);
    try {
      const info = getMapInfo(sys, p.value);
      assert.deepEqual([info.id, info.name], [id, "t_pinned"]);
      assert.deepEqual(
        lookupElem(sys, p.value, new Uint8Array([1, 0, 0, 0]), 4),
        new Uint8Array([42, 0, 0, 0]),
      );
    } finally {
      p.close();
    }
    const byId = mapFdById(sys, id);
    assert.equal(getMapInfo(sys, byId.value).id, id);
    byId.close();
  } finally {
    rmSync(path, { force: true });
  }
  let missing: unknown;
  try {
    getPinned(sys, path).close();
  } catch (e) {
    missing = e;
  }
  assert.ok(isLoadError(missing) && missing.errno === Errno.ENOENT, "a removed pin is ENOENT");
});
