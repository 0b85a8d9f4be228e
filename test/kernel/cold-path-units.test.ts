/**
 * The kernel load path's shortcuts for cold code (issue 14) must give what the code they replace
 * gave: C strings without a TextEncoder for ASCII, kernel map names without a regular expression,
 * and the host's possible CPUs read only when a map needs them.
 */
import assert from "node:assert/strict";
import { test } from "node:test";
import { MapType } from "../../src/abi/index.js";
import { MapFront } from "../../src/backend/map-front.js";
import type { BpfMap, BpfProgram } from "../../src/backend/types.js";
import { isUsageError } from "../../src/errors.js";
import { cString } from "../../src/kernel/attr.js";
import { kernelMapName } from "../../src/kernel/kernel-map.js";
import { emptyMapSpec } from "../../src/object/btf-maps.js";
import { sizePerfEventArrays } from "../../src/object/size-perf-event-arrays.js";
import type { CollectionSpec, MapSpec } from "../../src/object/types.js";

test("cString: ASCII copied byte for byte, anything else UTF-8 encoded, NUL refused", () => {
  for (const s of ["", "GPL", "Dual BSD/GPL", "/sys/fs/bpf/x", "\u007f", "é", "a😀b", "日本"]) {
    const enc = new TextEncoder().encode(s);
    const want = new Uint8Array(enc.length + 1);
    want.set(enc);
    assert.deepEqual(cString(s), want, JSON.stringify(s));
  }
  for (const s of ["a\0b", "\0", "é\0"]) assert.throws(() => cString(s), isUsageError, JSON.stringify(s));
});

test("kernelMapName of global data takes libbpf's object name from any path", () => {
  const cases: [string | undefined, string, string][] = [
    [undefined, ".rodata", ".rodata"],
    ["", ".rodata", ".rodata"],
    ["tail_call.bpf.o", ".rodata", "tail_cal.rodata"],
    ["examples/tail-call/tail_call.bpf.o", ".bss", "tail_cal.bss"],
    ["./x.bpf.o", ".data", "x.data"],
    ["dir.d/noext", ".rodata", "noext.rodata"],
    [".hidden", ".rodata", ".rodata"],
    ["a b.o", ".data", "a_b.data"],
    ["tail_call.bpf.o", ".data.foo", ".data.foo"],
    ["tail_call.bpf.o", ".rodata.str1.1", ".rodata.str1.1"],
    ["tail_call.bpf.o", ".kconfig", "tail_ca.kconfig"],
    ["tail_call.bpf.o", "counters", "counters"],
  ];
  for (const [file, name, want] of cases) {
    const m = emptyMapSpec(name, name.startsWith(".") ? "global-data" : "btf");
    assert.equal(kernelMapName(m, file), want, `${name} ${JSON.stringify(file)}`);
  }
});

/** The smallest engine: enough to construct a MapFront and read its sizes. */
class TestMap extends MapFront {
  protected rawLookup(): Uint8Array | undefined {
    return undefined;
  }
  protected rawUpdate(): void {}
  protected rawDelete(): void {}
  protected rawNextKey(): Uint8Array | undefined {
    return undefined;
  }
  protected slotValue(_obj: BpfProgram | BpfMap): Uint8Array | undefined {
    return undefined;
  }
}

function spec(type: number, valueSize = 4): MapSpec {
  const m = emptyMapSpec("m", "btf");
  m.type = type;
  m.keySize = 4;
  m.valueSize = valueSize;
  m.maxEntries = 4;
  return m;
}

test("a map reads the possible CPUs when first needed: at once when per-CPU, else on first read", () => {
  let calls = 0;
  const cpus = () => {
    calls++;
    return 3;
  };
  const plain = new TestMap(spec(MapType.array, 6), { byteOrder: "little", possibleCpus: cpus });
  assert.equal(calls, 0, "an array never asks until read");
  assert.equal(plain.valueBufferSize, 6);
  assert.equal(plain.possibleCpus, 3);
  assert.equal(plain.possibleCpus, 3);
  assert.equal(calls, 1, "asked once");
  const perCpu = new TestMap(spec(MapType.percpu_array, 6), { byteOrder: "little", possibleCpus: cpus });
  assert.equal(calls, 2);
  assert.equal(perCpu.valueBufferSize, 8 * 3);
  assert.equal(perCpu.possibleCpus, 3);
  assert.equal(calls, 2);
  // A bad count is refused as before: at construction for a number or a per-CPU map, on read otherwise.
  assert.throws(
    () => new TestMap(spec(MapType.array), { byteOrder: "little", possibleCpus: 0 }),
    isUsageError,
  );
  assert.throws(
    () => new TestMap(spec(MapType.percpu_hash), { byteOrder: "little", possibleCpus: () => 1.5 }),
    isUsageError,
  );
  const lazyBad = new TestMap(spec(MapType.hash), { byteOrder: "little", possibleCpus: () => 0 });
  assert.throws(() => lazyBad.possibleCpus, isUsageError);
});

test("sizePerfEventArrays asks for the CPU count only when an array lacks max_entries", () => {
  const perf = spec(MapType.perf_event_array);
  perf.name = "events";
  perf.maxEntries = 0;
  const arr = spec(MapType.array);
  const coll = (maps: MapSpec[]): CollectionSpec =>
    ({
      byteOrder: "little",
      license: "GPL",
      programs: {},
      maps: Object.fromEntries(maps.map((m) => [m.name, m])),
      skippedSections: [],
    }) as unknown as CollectionSpec;
  let calls = 0;
  const cpus = () => {
    calls++;
    return 5;
  };
  const plain = coll([arr]);
  assert.equal(sizePerfEventArrays(plain, cpus), plain);
  assert.equal(calls, 0);
  const sized = sizePerfEventArrays(coll([arr, perf]), cpus);
  assert.equal(sized.maps.events?.maxEntries, 5);
  assert.equal(calls, 1);
  assert.equal(sizePerfEventArrays(coll([perf]), 7).maps.events?.maxEntries, 7);
});
