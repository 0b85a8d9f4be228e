/** Map creation and element operations on the running kernel, errnos included. */
import assert from "node:assert/strict";
import { execFileSync } from "node:child_process";
import { test } from "node:test";
import { isLoadError, isMapError } from "../../src/errors.js";
import { MapType, perCpuValueStride, ProgType, UpdateFlag } from "../../src/abi/index.js";
import { Errno } from "../../src/abi/index.js";
import type { Fd } from "../../src/kernel/fd.js";
import { hostPossibleCpus as possibleCpus } from "../../src/backend/possible-cpus.js";
import {
  createMap,
  deleteElem,
  freezeMap,
  lookupElem,
  mapKeys,
  updateElem,
} from "../../src/kernel/map-ops.js";
import { getMapInfo, getProgramInfo } from "../../src/kernel/object-ops.js";
import { loadProgram } from "../../src/kernel/program-ops.js";
import { defaultSys } from "../../src/kernel/sys.js";
import { asm, kernelSkipReason, program } from "./support.js";

const skip = kernelSkipReason();
const le32 = (n: number): Uint8Array => {
  const b = new Uint8Array(4);
  new DataView(b.buffer).setUint32(0, n, true);
  return b;
};
const le64 = (n: bigint): Uint8Array => {
  const b = new Uint8Array(8);
  new DataView(b.buffer).setBigUint64(0, n, true);
  return b;
};
const errnoOf = (f: () => unknown): number | undefined => {
  try {
    f();
  } catch (e) {
    if (isMapError(e) || isLoadError(e)) return e.errno;
    throw e;
  }
  return undefined;
};

/** Runs `body` with maps that are closed afterwards whatever happens. */
function withFds(body: (own: (fd: Fd) => Fd) => void): void {
  const fds: Fd[] = [];
  try {
    body((fd) => {
      fds.push(fd);
      return fd;
    });
  } finally {
    for (const fd of fds.reverse()) fd.close();
  }
}

test("hash-like maps: update flags, lookup, delete, iteration and their errnos", { skip }, () => {
  const sys = defaultSys();
  for (const [name, type] of [
    ["hash", MapType.hash],
    ["lru_hash", MapType.lru_hash],
  ] as const) {
    withFds((own) => {
      const m = own(createMap(sys, { type, keySize: 4, valueSize: 8, maxEntries: 8, name: `t_${name}` }));
      const info = getMapInfo(sys, m.value);
      assert.deepEqual(
        [info.type, info.keySize, info.valueSize, info.maxEntries, info.name],
        [type, 4, 8, 8, `t_${name}`],
      );
      assert.equal(lookupElem(sys, m.value, le32(1), 8), undefined, "absent key looks up as undefined");
      assert.equal(
        errnoOf(() => updateElem(sys, m.value, le32(1), le64(5n), UpdateFlag.EXIST)),
        Errno.ENOENT,
      );
      updateElem(sys, m.value, le32(1), le64(5n), UpdateFlag.NOEXIST);
      assert.equal(
        errnoOf(() => updateElem(sys, m.value, le32(1), le64(6n), UpdateFlag.NOEXIST)),
        Errno.EEXIST,
      );
      updateElem(sys, m.value, le32(1), le64(7n), UpdateFlag.EXIST);
      updateElem(sys, m.value, le32(2), le64(8n), UpdateFlag.ANY);
      assert.deepEqual(lookupElem(sys, m.value, le32(1), 8), le64(7n));
      const keys = [...mapKeys(sys, m.value, 4)].map((k) => new DataView(k.buffer).getUint32(0, true)).sort();
      assert.deepEqual(keys, [1, 2]);
      deleteElem(sys, m.value, le32(1));
      assert.equal(
        errnoOf(() => deleteElem(sys, m.value, le32(1))),
        Errno.ENOENT,
      );
      assert.equal(
        errnoOf(() => updateElem(sys, m.value, le32(1), le64(1n), 99n)),
        Errno.EINVAL,
        "unknown flags",
      );
    });
  }
  withFds((own) => {
    // A preallocated hash map that is full refuses new keys with E2BIG.
    const m = own(
      createMap(sys, { type: MapType.hash, keySize: 4, valueSize: 4, maxEntries: 2, name: "t_full" }),
    );
    updateElem(sys, m.value, le32(1), le32(1));
    updateElem(sys, m.value, le32(2), le32(2));
    assert.equal(
      errnoOf(() => updateElem(sys, m.value, le32(3), le32(3))),
      Errno.E2BIG,
    );
  });
});

test("array maps: fixed keys, E2BIG past the end, EINVAL on delete, EEXIST with NOEXIST; freeze", {
  skip,
}, () => {
  const sys = defaultSys();
  withFds((own) => {
    const m = own(
      createMap(sys, { type: MapType.array, keySize: 4, valueSize: 4, maxEntries: 4, name: "t_array" }),
    );
    assert.deepEqual(lookupElem(sys, m.value, le32(3), 4), le32(0), "arrays are zero-filled");
    updateElem(sys, m.value, le32(3), le32(0xdeadbeef));
    assert.deepEqual(lookupElem(sys, m.value, le32(3), 4), le32(0xdeadbeef));
    assert.equal(lookupElem(sys, m.value, le32(4), 4), undefined, "lookup past the end is ENOENT");
    assert.equal(
      errnoOf(() => updateElem(sys, m.value, le32(4), le32(1))),
      Errno.E2BIG,
    );
    assert.equal(
      errnoOf(() => updateElem(sys, m.value, le32(0), le32(1), UpdateFlag.NOEXIST)),
      Errno.EEXIST,
    );
    assert.equal(
      errnoOf(() => deleteElem(sys, m.value, le32(0))),
      Errno.EINVAL,
    );
    assert.equal([...mapKeys(sys, m.value, 4)].length, 4);
    freezeMap(sys, m.value);
    assert.equal(
      errnoOf(() => updateElem(sys, m.value, le32(0), le32(1))),
      Errno.EPERM,
      "a frozen map refuses user-space writes",
    );
  });
  assert.equal(
    errnoOf(() =>
      createMap(sys, { type: MapType.array, keySize: 8, valueSize: 4, maxEntries: 4, name: "t_badkey" }),
    ),
    Errno.EINVAL,
    "array keys must be 4 bytes",
  );
});

test("per-CPU maps store one value per possible CPU", { skip }, () => {
  const sys = defaultSys();
  const cpus = possibleCpus();
  const nproc = Number(execFileSync("getconf", ["_NPROCESSORS_CONF"], { encoding: "utf8" }).trim());
  assert.ok(cpus >= nproc, `possible CPUs (${cpus}) cover configured CPUs (${nproc})`);
  for (const type of [MapType.percpu_array, MapType.percpu_hash, MapType.lru_percpu_hash]) {
    withFds((own) => {
      const m = own(createMap(sys, { type, keySize: 4, valueSize: 4, maxEntries: 4, name: "t_percpu" }));
      const size = perCpuValueStride(4) * cpus;
      assert.equal(size, 8 * cpus);
      const v = new Uint8Array(size);
      for (let c = 0; c < cpus; c++) new DataView(v.buffer).setUint32(c * 8, 100 + c, true);
      updateElem(sys, m.value, le32(1), v);
      const got = lookupElem(sys, m.value, le32(1), size) as Uint8Array;
      for (let c = 0; c < cpus; c++) assert.equal(new DataView(got.buffer).getUint32(c * 8, true), 100 + c);
    });
  }
});

test("ring buffer: created with a page-multiple size; element ops are not supported", { skip }, () => {
  const sys = defaultSys();
  withFds((own) => {
    const m = own(
      createMap(sys, {
        type: MapType.ringbuf,
        keySize: 0,
        valueSize: 0,
        maxEntries: 4096,
        name: "t_ringbuf",
      }),
    );
    assert.equal(getMapInfo(sys, m.value).type, MapType.ringbuf);
    const e = errnoOf(() => lookupElem(sys, m.value, new Uint8Array(0), 0));
    assert.ok(
      e === Errno.ENOTSUPP || e === Errno.EOPNOTSUPP,
      `lookup on a ringbuf is not supported (errno ${e})`,
    );
  });
  assert.equal(
    errnoOf(() =>
      createMap(sys, { type: MapType.ringbuf, keySize: 0, valueSize: 0, maxEntries: 1000, name: "t_rb_bad" }),
    ),
    Errno.EINVAL,
    "size must be a power-of-two multiple of the page size",
  );
});

test("prog array: holds program fds, reads back program ids", { skip }, () => {
  const sys = defaultSys();
  withFds((own) => {
    const pa = own(
      createMap(sys, { type: MapType.prog_array, keySize: 4, valueSize: 4, maxEntries: 4, name: "t_progs" }),
    );
    const p = own(
      loadProgram(sys, {
        type: ProgType.xdp,
        insns: program(asm.movImm(0, 2), asm.exit()),
        license: "GPL",
        name: "t_pass",
      }).fd,
    );
    updateElem(sys, pa.value, le32(1), le32(p.value));
    const id = lookupElem(sys, pa.value, le32(1), 4);
    assert.ok(id !== undefined);
    assert.equal(new DataView(id.buffer).getUint32(0, true), getProgramInfo(sys, p.value).id);
    assert.equal(lookupElem(sys, pa.value, le32(0), 4), undefined, "empty slot");
    assert.equal(
      errnoOf(() => updateElem(sys, pa.value, le32(0), le32(pa.value))),
      Errno.EINVAL,
      "a map fd is not a program",
    );
    deleteElem(sys, pa.value, le32(1));
    assert.equal(
      errnoOf(() => deleteElem(sys, pa.value, le32(1))),
      Errno.ENOENT,
    );
  });
});

test("maps of maps: inner map template, values are map fds in and map ids out", { skip }, () => {
  const sys = defaultSys();
  for (const type of [MapType.array_of_maps, MapType.hash_of_maps]) {
    withFds((own) => {
      const inner = own(
        createMap(sys, { type: MapType.array, keySize: 4, valueSize: 8, maxEntries: 2, name: "t_inner" }),
      );
      const outer = own(
        createMap(sys, {
          type,
          keySize: 4,
          valueSize: 4,
          maxEntries: 4,
          name: "t_outer",
          innerMapFd: inner.value,
        }),
      );
      updateElem(sys, outer.value, le32(2), le32(inner.value));
      const id = lookupElem(sys, outer.value, le32(2), 4) as Uint8Array;
      assert.equal(new DataView(id.buffer).getUint32(0, true), getMapInfo(sys, inner.value).id);
      const other = own(
        createMap(sys, { type: MapType.array, keySize: 4, valueSize: 16, maxEntries: 2, name: "t_other" }),
      );
      assert.equal(
        errnoOf(() => updateElem(sys, outer.value, le32(3), le32(other.value))),
        Errno.EINVAL,
        "inner map shape must match",
      );
    });
    // inner_map_fd 0 is stdin (EINVAL: not a map) or closed (EBADF), depending on how we were started.
    const e = errnoOf(() =>
      createMap(sys, { type, keySize: 4, valueSize: 4, maxEntries: 4, name: "t_noinner" }),
    );
    assert.ok(e === Errno.EINVAL || e === Errno.EBADF, `an outer map needs an inner map fd (errno ${e})`);
  }
});
