import assert from "node:assert/strict";
import { test } from "node:test";
import type { BpfProgram } from "../../src/backend/types.js";
import { isMapError, isUsageError, type MapError, type UsageError } from "../../src/errors.js";
import type { MapSpec, ProgramSpec } from "../../src/object/types.js";
import { Errno, MapFlag, MapType, ProgType } from "../../src/abi/index.js";
import {
  type ArrayMap,
  type ArrayOfMaps,
  createVmMap,
  markVmObject,
  type HashMap,
  type HashOfMaps,
  type ProgArrayMap,
  type VmMapBase,
} from "../../src/vm/maps/index.js";
import { mapSpec as spec } from "../support/specs.js";

const LE = { possibleCpus: 2, littleEndian: true };
const make = (s: MapSpec, o = LE): VmMapBase => createVmMap(s, o);

/** Runs `fn` and returns the MapError it throws. */
/** The error `fn` throws, checked to be the kind `is` accepts. */
function errOf<E>(is: (e: unknown) => e is E, what: string, fn: () => unknown): E {
  try {
    fn();
  } catch (e) {
    assert.ok(is(e), `expected a ${what}, got ${String(e)}`);
    return e;
  }
  assert.fail(`expected a ${what}`);
}

const mapErr = (fn: () => unknown): MapError => errOf(isMapError, "MapError", fn);
const usageErr = (fn: () => unknown): UsageError => errOf(isUsageError, "UsageError", fn);

const u32 = (n: number) => Uint8Array.of(n & 0xff, (n >>> 8) & 0xff, (n >>> 16) & 0xff, n >>> 24);

test("errors name the map, the operation, the errno and why", () => {
  const m = make(spec("counters", MapType.array, 4, 8, 4));
  const e = mapErr(() => m.set(7, 1));
  assert.equal(e.message, "map counters: update key 7: E2BIG (map counters)");
  assert.equal(e.hint, "index past max_entries 4");
  assert.equal(e.errno, Errno.E2BIG);
  assert.equal(e.code, "E2BIG");
  assert.equal(mapErr(() => m.set(1, 1, 1n)).code, "EEXIST");
  assert.equal(mapErr(() => m.remove(1)).code, "EINVAL");
  assert.equal(mapErr(() => m.set(1, 1, 3n)).code, "EINVAL");
  assert.equal(mapErr(() => m.set(1, 1, 4n)).code, "EINVAL"); // BPF_F_LOCK without a spin lock
  // Wrong sizes never reach the engine: the map front refuses them, the same on both engines.
  assert.equal(
    usageErr(() => m.update(new Uint8Array(3), new Uint8Array(8))).message,
    "map counters: key is 3 bytes, the map needs 4 bytes (map counters)",
  );
  assert.equal(
    usageErr(() => m.update(u32(0), new Uint8Array(7))).message,
    "map counters: update key 0: value is 7 bytes, the map needs 8 bytes (map counters)",
  );
  assert.equal(m.get(4), undefined);
});

test("bad friendly input is a UsageError naming the map and the value, never a RangeError", () => {
  const m = make(spec("small", MapType.hash, 1, 2, 4));
  assert.match(usageErr(() => m.set(256, 1)).message, /^map small: key 256 does not fit in 1 byte/);
  assert.match(usageErr(() => m.set(1, 70000)).message, /^map small: value 70000 does not fit in 2 bytes/);
  assert.match(usageErr(() => m.set(1.5, 1)).message, /^map small: key 1.5 is not an integer/);
  assert.match(usageErr(() => m.set(1, Number.NaN)).message, /^map small: value NaN is not an integer/);
  assert.match(usageErr(() => m.set("7" as unknown as number, 1)).message, /^map small: key is a string/);
  assert.match(
    usageErr(() => m.update([1] as unknown as Uint8Array, Uint8Array.of(1, 2))).message,
    /^map small: key is an array/,
  );
  assert.equal(m.updateFromProgram(Uint8Array.of(1, 2), Uint8Array.of(1, 2), 0n), -Errno.EINVAL);
  m.set(-1, -2);
  assert.deepEqual(m.get(255), Uint8Array.of(0xfe, 0xff));
});

test("integers are encoded in the object's byte order", () => {
  const be = make(spec("be", MapType.hash, 4, 8, 4), { possibleCpus: 1, littleEndian: false });
  be.set(0x01020304, 0x1122334455667788n);
  const [[k, v]] = [...be.entries()] as [[Uint8Array, Uint8Array]];
  assert.deepEqual(k, Uint8Array.of(1, 2, 3, 4));
  assert.deepEqual(v, Uint8Array.of(0x11, 0x22, 0x33, 0x44, 0x55, 0x66, 0x77, 0x88));
  const arr = make(spec("be_arr", MapType.array, 4, 4, 300), { possibleCpus: 1, littleEndian: false });
  arr.set(258, 7);
  assert.deepEqual(arr.get(Uint8Array.of(0, 0, 1, 2)), Uint8Array.of(0, 0, 0, 7));
  assert.deepEqual([...arr.keys()][1], Uint8Array.of(0, 0, 0, 1));
});

test("array: zeroed elements, index-order keys, in-place program pointers", () => {
  const m = make(spec("a", MapType.array, 4, 6, 3)) as ArrayMap;
  assert.deepEqual(m.get(2), new Uint8Array(6));
  assert.deepEqual(
    [...m.keys()].map((k) => k[0]),
    [0, 1, 2],
  );
  const ref = m.lookupForProgram(u32(1));
  assert.ok(ref);
  assert.equal(ref.size, 6);
  assert.equal(ref.offset, 8, "elements are 8-byte aligned as in the kernel");
  ref.view[0] = 42; // a program stores through the pointer
  assert.equal(m.get(1)?.[0], 42);
  m.set(1, Uint8Array.of(9, 9, 9, 9, 9, 9));
  assert.equal(ref.view[0], 9, "the pointer sees later updates");
  assert.equal(m.lookupForProgram(u32(1))?.bytes, ref.bytes, "storage never moves");
  assert.equal(m.lookupForProgram(u32(3)), undefined);
  assert.equal(m.updateFromProgram(u32(3), new Uint8Array(6), 0n), -Errno.E2BIG);
  assert.equal(m.updateFromProgram(u32(0), new Uint8Array(6), 1n), -Errno.EEXIST);
  assert.equal(m.updateFromProgram(u32(0), Uint8Array.of(1, 2, 3, 4, 5, 6), 2n), 0);
  assert.deepEqual(m.get(0), Uint8Array.of(1, 2, 3, 4, 5, 6));
  assert.equal(m.deleteFromProgram(u32(0)), -Errno.EINVAL);
  assert.deepEqual(m.getNextKey(u32(99)), u32(0));
  assert.equal(mapErr(() => m.getNextKey(u32(2))).code, "ENOENT");
});

test("percpu_array: user space sees every CPU at an 8-byte stride; programs see their CPU", () => {
  const m = make(spec("pa", MapType.percpu_array, 4, 4, 2), { possibleCpus: 3, littleEndian: true });
  assert.equal(m.valueBufferSize, 24);
  m.set(0, 5); // one value: every CPU
  assert.deepEqual(m.lookupPerCpu(0), [u32(5), u32(5), u32(5)]);
  const cpu2 = m.lookupForProgram(u32(0), 2);
  assert.ok(cpu2);
  cpu2.view[0] = 7;
  assert.equal(m.updateFromProgram(u32(0), u32(9), 0n, 1), 0);
  assert.deepEqual(m.lookupPerCpu(0), [u32(5), u32(9), u32(7)]);
  const raw = m.get(0);
  assert.deepEqual(raw?.subarray(4, 8), new Uint8Array(4), "padding between CPU slots is zero");
  assert.throws(
    () => m.lookupForProgram(u32(0), 3),
    (e) => isMapError(e) && e.code === "EINVAL",
  );
});

test("hash: flags, E2BIG when full, delete, insertion-order iteration", () => {
  const m = make(spec("h", MapType.hash, 4, 4, 2)) as HashMap;
  m.set(1, 10);
  assert.equal(mapErr(() => m.set(1, 11, 1n)).code, "EEXIST");
  assert.equal(mapErr(() => m.set(2, 11, 2n)).code, "ENOENT");
  m.set(2, 20, 1n);
  const e = mapErr(() => m.set(3, 30));
  assert.equal(e.code, "E2BIG");
  assert.equal(e.message, "map h: update key 3: E2BIG (map h)");
  assert.equal(e.hint, "map is full (max_entries 2)");
  m.set(2, 21, 2n); // replacing works in a full map
  assert.deepEqual(
    [...m.entries()].map(([k, v]) => [k[0], v[0]]),
    [
      [1, 10],
      [2, 21],
    ],
  );
  assert.equal(mapErr(() => m.remove(3)).code, "ENOENT");
  assert.deepEqual(m.getNextKey(u32(77)), u32(1), "a missing key restarts at the first");
  assert.deepEqual(m.getNextKey(u32(1)), u32(2));
  assert.equal(mapErr(() => m.getNextKey(u32(2))).code, "ENOENT");
  // Program side: the pointer stays valid and in place while the entry lives.
  const ref = m.lookupForProgram(u32(1));
  assert.ok(ref);
  ref.view[0] = 99;
  assert.equal(m.get(1)?.[0], 99);
  assert.equal(m.updateFromProgram(u32(1), u32(5), 2n), 0);
  assert.equal(ref.view[0], 5);
  assert.equal(m.updateFromProgram(u32(9), u32(5), 0n), -Errno.E2BIG);
  assert.equal(m.deleteFromProgram(u32(1)), 0);
  assert.equal(m.deleteFromProgram(u32(1)), -Errno.ENOENT);
  assert.equal(m.lookupForProgram(u32(1)), undefined);
  assert.equal(m.size, 1);
});

test("percpu_hash: a program's new element has only its CPU set", () => {
  const m = make(spec("ph", MapType.percpu_hash, 4, 8, 4), { possibleCpus: 2, littleEndian: true });
  assert.equal(m.updateFromProgram(u32(1), Uint8Array.of(1, 0, 0, 0, 0, 0, 0, 0), 0n, 1), 0);
  assert.deepEqual(
    m.lookupPerCpu(1)?.map((v) => v[0]),
    [0, 1],
  );
  assert.equal(m.updateFromProgram(u32(1), Uint8Array.of(3, 0, 0, 0, 0, 0, 0, 0), 2n, 0), 0);
  assert.deepEqual(
    m.lookupPerCpu(1)?.map((v) => v[0]),
    [3, 1],
  );
  const ref = m.lookupForProgram(u32(1), 1);
  assert.equal(ref?.offset, 8);
  assert.equal(ref?.view[0], 1);
});

test("lru_hash: evicts the oldest element, but a program lookup gives a second chance", () => {
  const m = make(spec("lru", MapType.lru_hash, 4, 4, 3)) as HashMap;
  for (const k of [1, 2, 3]) m.set(k, k);
  m.set(4, 4);
  assert.deepEqual(
    [...m.keys()].map((k) => k[0]),
    [2, 3, 4],
  );
  assert.ok(m.lookupForProgram(u32(2)));
  m.set(5, 5); // 2 is referenced, so 3 goes
  assert.deepEqual([...m.keys()].map((k) => k[0]).sort(), [2, 4, 5]);
  m.get(4); // a syscall lookup does not mark the element (the kernel's lookup_elem_sys)
  m.set(6, 6);
  assert.deepEqual([...m.keys()].map((k) => k[0]).sort(), [2, 5, 6]);
  // Like the kernel, a full plain LRU hash evicts before it checks the flags.
  assert.equal(mapErr(() => m.set(99, 1, 2n)).code, "ENOENT");
  assert.equal(m.size, 2);
  assert.equal(m.updateFromProgram(u32(7), u32(7), 0n), 0);
});

test("BPF_NO_COMMON_LRU rounds the capacity to a multiple of the CPUs", () => {
  const m = make(spec("l", MapType.lru_hash, 4, 4, 5, { flags: MapFlag.NO_COMMON_LRU }), {
    possibleCpus: 4,
    littleEndian: true,
  }) as HashMap;
  assert.equal(m.capacity, 8);
});

test("BPF_F_LOCK updates a value with a spin lock but leaves the lock word alone", () => {
  const s = spec("locked", MapType.hash, 4, 8, 2);
  const m = createVmMap(s, { possibleCpus: 1, littleEndian: true, spinLockOffset: 0 });
  m.set(1, Uint8Array.of(0, 0, 0, 0, 1, 2, 3, 4));
  const ref = m.lookupForProgram(u32(1));
  assert.ok(ref);
  ref.view[0] = 1; // the program holds the lock
  m.set(1, Uint8Array.of(9, 9, 9, 9, 5, 6, 7, 8), 4n);
  assert.deepEqual(m.get(1), Uint8Array.of(1, 0, 0, 0, 5, 6, 7, 8));
  assert.equal(mapErr(() => m.set(1, 0n, 5n)).code, "EEXIST");
});

test("global data: initial bytes, .rodata read-only for programs, writable until frozen", () => {
  const init = Uint8Array.of(1, 2, 3, 4, 5);
  const ro = make(
    spec(".rodata", MapType.array, 4, 5, 1, {
      origin: "global-data",
      section: ".rodata",
      initialData: init,
      readOnly: true,
      flags: MapFlag.RDONLY_PROG,
    }),
  );
  assert.deepEqual(ro.get(0), init);
  assert.equal(ro.readOnlyForProgram, true);
  assert.equal(ro.updateFromProgram(u32(0), new Uint8Array(5), 0n), -Errno.EPERM);
  ro.set(0, Uint8Array.of(5, 4, 3, 2, 1)); // the loader rewrites constants before freezing
  ro.freeze();
  assert.equal(ro.frozen, true);
  assert.equal(mapErr(() => ro.set(0, Uint8Array.of(0, 0, 0, 0, 0))).code, "EPERM");
  assert.deepEqual(ro.lookupForProgram(u32(0))?.view, Uint8Array.of(5, 4, 3, 2, 1));
  assert.equal(mapErr(() => ro.freeze()).code, "EPERM");
  const bss = make(spec(".bss", MapType.array, 4, 16, 1, { origin: "global-data", section: ".bss" }));
  assert.equal(bss.readOnlyForProgram, false);
  assert.deepEqual(bss.get(0), new Uint8Array(16));
  const user = make(spec("user_ro", MapType.hash, 4, 4, 1, { flags: MapFlag.RDONLY }));
  assert.equal(mapErr(() => user.set(1, 1)).code, "EPERM");
  const wo = make(spec("user_wo", MapType.hash, 4, 4, 1, { flags: MapFlag.WRONLY }));
  wo.set(1, 1);
  assert.equal(mapErr(() => wo.get(1)).code, "EPERM");
  assert.equal(mapErr(() => [...wo.keys()]).code, "EPERM");
  assert.ok(wo.lookupForProgram(u32(1)), "programs are not affected");
});

function fakeProgram(name: string, progType: number): BpfProgram {
  const p: BpfProgram = {
    name,
    spec: { name, type: progType } as unknown as ProgramSpec,
    run: () => Promise.reject(new Error("no")),
  };
  markVmObject(p); // stands in for a program the VM loaded
  return p;
}

test("prog_array: programs in slots, owner type, handles as fds, ids on lookup", () => {
  const m = make(spec("jmp", MapType.prog_array, 4, 4, 4)) as ProgArrayMap;
  const a = fakeProgram("a", ProgType.xdp);
  const b = fakeProgram("b", ProgType.xdp);
  const c = fakeProgram("c", ProgType.sched_cls);
  m.set(0, a);
  assert.equal(m.ownerType, ProgType.xdp);
  assert.equal(mapErr(() => m.set(1, c)).code, "EINVAL");
  assert.equal(mapErr(() => m.set(1, a, 1n)).code, "EINVAL");
  assert.equal(mapErr(() => m.set(4, a)).code, "E2BIG");
  assert.equal(m.programAt(0), a);
  assert.equal(m.programAt(1), undefined);
  assert.equal(m.programAt(-1), undefined);
  // Raw update with the VM handle of a program, the way a loader passes an fd.
  const idOfA = m.get(0);
  assert.ok(idOfA);
  m.update(u32(2), idOfA);
  assert.equal(m.programAt(2), a);
  assert.equal(mapErr(() => m.update(u32(3), u32(m.handle))).code, "EINVAL", "a map handle is not a program");
  assert.equal(mapErr(() => m.update(u32(3), u32(0x7ffffff0))).code, "EBADF");
  m.set(3, b);
  assert.deepEqual(m.filledIndices(), [0, 2, 3]);
  assert.equal(mapErr(() => m.remove(1)).code, "ENOENT");
  assert.equal(mapErr(() => m.remove(8)).code, "E2BIG");
  m.remove(2);
  assert.deepEqual(
    [...m.entries()].map(([k]) => k[0]),
    [0, 3],
  );
  assert.equal([...m.keys()].length, 4, "GET_NEXT_KEY walks every index");
  assert.equal(m.lookupForProgram(u32(0)), undefined);
  assert.equal(m.claimOwner(c), false);
  m.clear();
  assert.deepEqual(m.filledIndices(), []);
  assert.throws(() => m.set(0, Uint8Array.of(1)), isUsageError);
});

test("array_of_maps and hash_of_maps hold maps that match the inner template", () => {
  const innerSpec = spec("inner", MapType.hash, 4, 4, 8);
  const outer = make(spec("aom", MapType.array_of_maps, 4, 4, 2, { innerMap: innerSpec })) as ArrayOfMaps;
  const good = make(innerSpec);
  const bigger = make({ ...innerSpec, name: "bigger", maxEntries: 16 });
  outer.set(0, good as never);
  assert.equal(outer.lookupMapForProgram(u32(0)), good);
  assert.equal(mapErr(() => outer.set(1, bigger as never)).code, "EINVAL");
  assert.equal(mapErr(() => outer.set(1, good as never, 2n)).code, "EINVAL");
  assert.equal(mapErr(() => outer.set(1, outer as never)).code, "EINVAL", "no map-in-map nesting");
  assert.equal(new DataView(outer.get(0)!.buffer).getUint32(0, true), good.handle);

  // BPF_F_INNER_MAP in the template lifts the max_entries check.
  const flexible = spec("flex", MapType.hash, 4, 4, 8, { flags: MapFlag.INNER_MAP });
  const hom = make(spec("hom", MapType.hash_of_maps, 4, 4, 1, { innerMap: flexible })) as HashOfMaps;
  const f16 = make({ ...flexible, name: "f16", maxEntries: 16 });
  hom.set(7, f16 as never);
  assert.equal(mapErr(() => hom.set(8, f16 as never)).code, "E2BIG");
  assert.equal(mapErr(() => hom.set(7, f16 as never, 1n)).code, "EEXIST");
  assert.equal(mapErr(() => hom.update(u32(7), u32(0x7ffffff1))).code, "EBADF");
  assert.equal(hom.lookupMapForProgram(u32(7)), f16);
  hom.remove(7);
  assert.equal(hom.lookupMapForProgram(u32(7)), undefined);
  assert.equal(hom.size, 0);
});

test("createVmMap refuses what BPF_MAP_CREATE refuses", () => {
  assert.equal(mapErr(() => make(spec("a", MapType.array, 8, 4, 1))).code, "EINVAL");
  assert.equal(mapErr(() => make(spec("a", MapType.array, 4, 0, 1))).code, "EINVAL");
  assert.equal(mapErr(() => make(spec("a", MapType.array, 4, 4, 0))).code, "EINVAL");
  assert.equal(mapErr(() => make(spec("p", MapType.prog_array, 4, 8, 1))).code, "EINVAL");
  assert.equal(mapErr(() => make(spec("h", MapType.hash, 0, 4, 1))).code, "EINVAL");
  assert.equal(make(spec("h", MapType.hash, 600, 4, 1)).spec.keySize, 600, "6.18 has no hash key limit");
  assert.equal(mapErr(() => make(spec("r", MapType.ringbuf, 0, 0, 4096 * 3))).code, "EINVAL");
  assert.equal(mapErr(() => make(spec("r", MapType.ringbuf, 4, 0, 4096))).code, "EINVAL");
  assert.equal(
    mapErr(() => make(spec("h", MapType.hash, 4, 4, 1), { possibleCpus: 0, littleEndian: true })).code,
    "EINVAL",
  );
  assert.throws(
    () => make(spec("t", MapType.lpm_trie, 8, 4, 1)),
    (e: unknown) => e instanceof Error && e.name === "NotSupportedError",
  );
});
