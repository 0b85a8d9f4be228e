/**
 * Every map kind of test/bpf/fixtures/maps.bpf.o and the global data of globals.bpf.o, created by
 * the kernel engine and read back from the kernel (map info, bpftool, slot contents, pins).
 */
import assert from "node:assert/strict";
import { execFileSync } from "node:child_process";
import { existsSync, readdirSync, readFileSync, rmSync } from "node:fs";
import { test } from "node:test";
import { MapFlag, MapType } from "../../src/abi/index.js";
import { loadKernelCollection } from "../../src/kernel/kernel-collection.js";
import { createMap } from "../../src/kernel/map-ops.js";
import { getMapInfo, pinObject } from "../../src/kernel/object-ops.js";
import { defaultSys } from "../../src/kernel/sys.js";
import { loadCollectionSpec } from "../../src/object/load-collection-spec.js";
import type { CollectionSpec } from "../../src/object/types.js";
import { ensureBpffs, hasCommand, kernelSkipReason } from "./support.js";

const skip = kernelSkipReason() ?? (ensureBpffs() ? undefined : "needs a bpffs at /sys/fs/bpf");
const load = (f: string): CollectionSpec =>
  loadCollectionSpec(new Uint8Array(readFileSync(`test/bpf/fixtures/${f}`)), { file: f });
const u32 = (b: Uint8Array | undefined): number => {
  assert.ok(b);
  return new DataView(b.buffer, b.byteOffset).getUint32(0, true);
};

test("maps of every kind are created as declared, static slots filled", { skip }, async () => {
  const pinDir = `/sys/fs/bpf/tsbpf-maps-${process.pid}`;
  const spec = load("maps.bpf.o");
  const coll = await loadKernelCollection(spec, { pinDir });
  try {
    for (const m of Object.values(spec.maps)) {
      const km = coll.maps[m.name];
      assert.ok(km, m.name);
      const info = getMapInfo(coll.sys, km.fd);
      assert.equal(info.type, m.type, `${m.name}: type`);
      assert.equal(info.keySize, m.keySize, `${m.name}: key size`);
      assert.equal(info.valueSize, m.valueSize, `${m.name}: value size`);
      assert.equal(info.maxEntries, m.maxEntries, `${m.name}: max entries`);
      assert.equal(info.flags, m.flags, `${m.name}: flags`);
      assert.equal(info.name, m.name.slice(0, 15), `${m.name}: kernel name`);
      // Maps declared with __type carry their BTF into the kernel.
      if (m.keyTypeId !== undefined && m.valueTypeId !== undefined && m.type !== 3 && m.type < 12)
        assert.ok(info.btfId > 0, `${m.name}: BTF`);
    }
    const progs = coll.maps.prog_array_map;
    assert.ok(progs);
    assert.deepEqual(progs.filledSlots(), [0, 2]);
    assert.equal(u32(progs.get(0)), coll.programs.prog_a?.info().id);
    assert.equal(u32(progs.get(2)), coll.programs.prog_b?.info().id);
    const inner = (n: string) => getMapInfo(coll.sys, coll.maps[n]?.fd ?? -1).id;
    assert.equal(u32(coll.maps.array_of_maps?.get(0)), inner("inner_a"));
    assert.equal(u32(coll.maps.array_of_maps?.get(3)), inner("inner_b"));
    assert.equal(u32(coll.maps.hash_of_maps?.get(1)), inner("inner_b"));
    // The tail call into slot 2 reaches prog_b, which drops.
    const r = await coll.programs.use_maps?.run(new Uint8Array(64));
    assert.equal(r?.retval, 1);

    // Friendly API on hash and per-CPU maps.
    const h = coll.maps.hash_map;
    assert.ok(h);
    h.set(7, 0x1122334455667788n);
    assert.deepEqual([...(h.get(7) ?? [])], [0x88, 0x77, 0x66, 0x55, 0x44, 0x33, 0x22, 0x11]);
    assert.equal([...h.keys()].length, 1);
    h.remove(7);
    assert.equal(h.get(7), undefined);
    assert.throws(() => h.remove(7), { name: "MapError", code: "ENOENT" });
    const pc = coll.maps.percpu_array_map;
    assert.ok(pc);
    pc.set(1, 5n);
    const all = pc.get(1);
    assert.ok(all && all.byteLength === pc.valueBufferSize && all.byteLength % 8 === 0);
    for (let o = 0; o < all.byteLength; o += 8) assert.equal(all[o], 5);
    assert.throws(() => h.set(1n << 40n, 1), { name: "UsageError" });

    // by_name pinning: pinned under pinDir, and a second load reuses the same map.
    const pinned = coll.maps.pinned_map;
    assert.ok(pinned);
    assert.equal(pinned.pinnedAt, `${pinDir}/pinned_map`);
    assert.equal(pinned.reused, false);
    pinned.set(3, 33);
    const again = await loadKernelCollection(spec, { pinDir });
    try {
      assert.equal(again.maps.pinned_map?.reused, true);
      assert.equal(
        getMapInfo(again.sys, again.maps.pinned_map?.fd ?? -1).id,
        getMapInfo(coll.sys, pinned.fd).id,
      );
      assert.equal(u32(again.maps.pinned_map?.get(3)), 33);
    } finally {
      again.close();
    }
    if (hasCommand("bpftool")) {
      const shown = JSON.parse(
        execFileSync("bpftool", ["-j", "map", "show", "pinned", `${pinDir}/pinned_map`], {
          encoding: "utf8",
        }),
      );
      assert.equal(shown.name, "pinned_map");
    }
  } finally {
    coll.close();
    rmSync(pinDir, { recursive: true, force: true });
  }
});

test("global data pinned mmap()able (as tsbpf made every data section before) is reused by an object whose section is not", {
  skip,
}, async () => {
  const pinDir = `/sys/fs/bpf/tsbpf-pinmmap-${process.pid}`;
  const sys = defaultSys();
  execFileSync("mkdir", ["-p", pinDir]);
  const seed = loadCollectionSpec(new Uint8Array(readFileSync("examples/tail-call/tail_call.bpf.o")), {
    file: "tail_call.bpf.o",
  });
  const rodata = seed.maps[".rodata"];
  assert.ok(rodata);
  assert.equal(rodata.flags, MapFlag.RDONLY_PROG, "printk formats only: not mmap()able");
  const old = createMap(sys, {
    type: MapType.array,
    keySize: 4,
    valueSize: rodata.valueSize,
    maxEntries: 1,
    flags: MapFlag.RDONLY_PROG | MapFlag.MMAPABLE,
    name: "old_rodata",
  });
  const path = `${pinDir}/rodata`;
  try {
    pinObject(sys, old.value, path);
    const coll = await loadKernelCollection(seed, { reuseMaps: { ".rodata": path } });
    try {
      const m = coll.maps[".rodata"];
      assert.ok(m?.reused);
      assert.equal(getMapInfo(sys, m.fd).id, getMapInfo(sys, old.value).id);
    } finally {
      coll.close();
    }
  } finally {
    old.close();
    rmSync(pinDir, { recursive: true, force: true });
  }
});

test("a pinned map that does not match the object is refused, not reused", { skip }, async () => {
  const pinDir = `/sys/fs/bpf/tsbpf-pinbad-${process.pid}`;
  const sys = defaultSys();
  execFileSync("mkdir", ["-p", pinDir]);
  const wrong = createMap(sys, { type: 1, keySize: 4, valueSize: 8, maxEntries: 16, name: "pinned_map" });
  try {
    pinObject(sys, wrong.value, `${pinDir}/pinned_map`);
    await assert.rejects(
      loadKernelCollection(load("maps.bpf.o"), { pinDir }),
      (e: Error & { hint?: string }) => {
        assert.equal(e.name, "LoadError");
        assert.match(
          e.message,
          /map pinned_map: the map pinned at .*pinned_map is not compatible: value size 8 \(object wants 4\)/,
        );
        assert.match(e.hint ?? "", /rm .*pinned_map/);
        return true;
      },
    );
    assert.ok(existsSync(`${pinDir}/pinned_map`), "the foreign pin is left alone");
  } finally {
    wrong.close();
    rmSync(pinDir, { recursive: true, force: true });
  }
});

test("global data is filled from the object, and .rodata is frozen", { skip }, async () => {
  const spec = load("globals.bpf.o");
  const coll = await loadKernelCollection(spec);
  try {
    for (const m of Object.values(spec.maps)) {
      const km = coll.maps[m.name];
      assert.ok(km && m.initialData, m.name);
      assert.deepEqual(km.get(0), m.initialData, `${m.name}: contents`);
      // libbpf's prefix, except for sections with a dot of their own (see the bpftool test below).
      assert.match(km.kernelName, m.name.indexOf(".", 1) > 0 ? /^\.(data|rodata)\./ : /^globals\./);
      if (m.readOnly)
        assert.throws(() => km.set(0, new Uint8Array(m.valueSize)), { name: "MapError", code: "EPERM" });
      else km.set(0, new Uint8Array(m.valueSize));
    }
  } finally {
    coll.close();
  }
});

test("maps get the kernel names libbpf gives them (bpftool loads the same object)", {
  skip: skip ?? (hasCommand("bpftool") ? undefined : "needs bpftool (libbpf) to compare with"),
}, async () => {
  const progDir = `/sys/fs/bpf/tsbpf-mapnames-${process.pid}`;
  const mapDir = `${progDir}-maps`;
  try {
    // libbpf names global data in the kernel from the object file's base name, whatever directory
    // the file is in; bpftool pins each map of the object in mapDir.
    execFileSync("bpftool", [
      "prog",
      "loadall",
      "test/bpf/fixtures/globals.bpf.o",
      progDir,
      "pinmaps",
      mapDir,
    ]);
    const libbpf = readdirSync(mapDir).map(
      (f) =>
        (
          JSON.parse(
            execFileSync("bpftool", ["-j", "map", "show", "pinned", `${mapDir}/${f}`], { encoding: "utf8" }),
          ) as { name: string }
        ).name,
    );
    assert.ok(libbpf.includes(".rodata.str1.1") && libbpf.includes("globals.rodata"), libbpf.join(" "));
    for (const file of ["test/bpf/fixtures/globals.bpf.o", "./globals.bpf.o", "globals.bpf.o"]) {
      const spec = loadCollectionSpec(new Uint8Array(readFileSync("test/bpf/fixtures/globals.bpf.o")), {
        file,
      });
      const coll = await loadKernelCollection(spec);
      try {
        const ours = Object.values(coll.maps).map((m) => m.kernelName);
        assert.deepEqual(ours.sort(), libbpf.sort(), file);
      } finally {
        coll.close();
      }
    }
  } finally {
    rmSync(progDir, { recursive: true, force: true });
    rmSync(mapDir, { recursive: true, force: true });
  }
});
