/**
 * The kernel engine's pure parts and the bytes it sends, with a fake Sys: map reference
 * patching, func_info/line_info records, names, the BTF fallback, BTF sanitising and the
 * trace-message filter.
 */
import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { test } from "node:test";
import { marshalBtf } from "../../src/btf/marshal-btf.js";
import { parseBtf } from "../../src/btf/parse-btf.js";
import { sanitizeBtf } from "../../src/btf/btf-sanitize.js";
import { BpfCmd } from "../../src/abi/index.js";
import { kernelProgramName, loadKernelCollection } from "../../src/kernel/kernel-collection.js";
import { encodeScalar } from "../../src/backend/scalar.js";
import { kernelMapName } from "../../src/kernel/kernel-map.js";
import { pinName } from "../../src/kernel/pinning.js";
import { formatPattern, ownMessageFilter, printkFormatsOf } from "../../src/kernel/printk-formats.js";
import { loadCollectionSpec } from "../../src/object/load-collection-spec.js";
import type { MapSpec } from "../../src/object/types.js";
import { fakeSys, type RecordedCall, u32 } from "./support.js";

const seed = () =>
  loadCollectionSpec(new Uint8Array(readFileSync("examples/tail-call/tail_call.bpf.o")), {
    file: "tail_call.bpf.o",
  });

/** A fake kernel: every create/load returns a new fd; BTF_LOAD answers `btfErrno` when given. */
function fakeKernel(btfErrno?: number) {
  let next = 100;
  return fakeSys((cmd) => {
    if (cmd === BpfCmd.BTF_LOAD && btfErrno !== undefined) return { errno: btfErrno };
    if (cmd === BpfCmd.MAP_LOOKUP_ELEM) return { errno: 2 };
    if (cmd === BpfCmd.MAP_CREATE || cmd === BpfCmd.PROG_LOAD || cmd === BpfCmd.BTF_LOAD) return next++;
    return 0;
  });
}

const ptr = (c: RecordedCall, off: number): Uint8Array | undefined =>
  c.ptrs.find((p) => p.offset === off)?.bytes;

test("programs are loaded with patched map references, func_info and line_info", async () => {
  const spec = seed();
  const { sys, calls, closed } = fakeKernel();
  const coll = await loadKernelCollection(spec, { sys });
  const creates = calls.filter((c) => c.cmd === BpfCmd.MAP_CREATE);
  assert.equal(creates.length, 2);
  const fdOf = (name: string) =>
    101 + creates.findIndex((c) => new TextDecoder().decode(c.attr.subarray(28, 44)).startsWith(name));
  const btfFd = 100;
  const loads = calls.filter((c) => c.cmd === BpfCmd.PROG_LOAD);
  assert.equal(loads.length, 3);
  for (const [i, name] of ["main_prog", "port8080_prog", "port22_prog"].entries()) {
    const c = loads[i] as RecordedCall;
    const p = spec.programs[name];
    assert.ok(p);
    assert.equal(u32(c.attr, 0), 6, "BPF_PROG_TYPE_XDP");
    assert.equal(u32(c.attr, 68), 37, "expected attach type BPF_XDP");
    assert.equal(u32(c.attr, 72), btfFd);
    assert.equal(new TextDecoder().decode(c.attr.subarray(48, 48 + name.length)), name);
    const insns = ptr(c, 8);
    assert.ok(insns);
    const v = new DataView(insns.buffer, insns.byteOffset);
    for (const r of p.references) {
      assert.equal(v.getUint8(r.insn * 8), 0x18);
      assert.equal(
        v.getUint8(r.insn * 8 + 1) >> 4,
        r.kind === "map" ? 1 : 2,
        "src register: PSEUDO_MAP_FD / _VALUE",
      );
      assert.equal(v.getInt32(r.insn * 8 + 4, true), fdOf(r.map === ".rodata" ? "tail_cal.rodata" : r.map));
      assert.equal(v.getInt32(r.insn * 8 + 12, true), r.offset);
    }
    const fi = ptr(c, 80);
    assert.ok(fi);
    assert.equal(u32(c.attr, 76), 8);
    assert.equal(u32(c.attr, 88), p.funcInfo.length);
    assert.equal(u32(fi, 0), 0);
    assert.equal(u32(fi, 4), p.funcInfo[0]?.typeId);
    const li = ptr(c, 96);
    assert.ok(li);
    assert.equal(u32(c.attr, 92), 16);
    assert.equal(u32(c.attr, 104), p.lineInfo.length);
    p.lineInfo.forEach((l, k) => {
      assert.equal(u32(li, 16 * k), l.insn);
      assert.equal(u32(li, 16 * k + 4), l.fileNameOff);
      assert.equal(u32(li, 16 * k + 8), l.lineOff);
      assert.equal(u32(li, 16 * k + 12) >>> 10, l.lineNumber);
      assert.equal(u32(li, 16 * k + 12) & 0x3ff, l.column);
    });
  }
  // .rodata: filled then frozen, in that order.
  const rodataFd = fdOf("tail_cal.rodata");
  const upd = calls.findIndex((c) => c.cmd === BpfCmd.MAP_UPDATE_ELEM && u32(c.attr, 0) === rodataFd);
  const frz = calls.findIndex((c) => c.cmd === BpfCmd.MAP_FREEZE && u32(c.attr, 0) === rodataFd);
  assert.ok(upd >= 0 && frz > upd);
  coll.close();
  assert.deepEqual([...closed].sort(), [100, 101, 102, 103, 104, 105]);
});

test("when the kernel refuses the BTF, the collection loads without it and says so", async () => {
  const { sys, calls } = fakeKernel(22);
  const warnings: string[] = [];
  const coll = await loadKernelCollection(seed(), { sys, onWarning: (m) => warnings.push(m) });
  assert.equal(coll.btfStatus, "dropped");
  assert.equal(warnings.length, 1);
  assert.match(warnings[0] ?? "", /refused this object's BTF.*loading without BTF/);
  assert.equal(
    calls.filter((c) => c.cmd === BpfCmd.BTF_LOAD).length >= 2,
    true,
    "tried plain and legacy-sanitised BTF",
  );
  for (const c of calls.filter((x) => x.cmd === BpfCmd.PROG_LOAD)) {
    assert.equal(u32(c.attr, 72), 0, "no btf fd");
    assert.equal(ptr(c, 80), undefined, "no func_info");
  }
  coll.close();
});

test("EPERM while loading BTF is the privilege error, not a BTF fallback", async () => {
  const { sys } = fakeKernel(1);
  await assert.rejects(loadKernelCollection(seed(), { sys }), { name: "LoadError", errno: 1 });
});

test("kernel names follow libbpf: 15 characters, object prefix for global data", () => {
  const m = (name: string, origin: MapSpec["origin"]) => ({ name, origin }) as MapSpec;
  assert.equal(kernelMapName(m(".rodata", "global-data"), "tail_call.bpf.o"), "tail_cal.rodata");
  assert.equal(kernelMapName(m(".rodata.str1.1", "global-data"), "globals.bpf.o"), ".rodata.str1.1");
  assert.equal(kernelMapName(m(".data.custom", "global-data"), "globals.bpf.o"), ".data.custom");
  assert.equal(kernelMapName(m(".kconfig", "global-data"), "tail_call.bpf.o"), "tail_ca.kconfig");
  assert.equal(kernelMapName(m(".rodata", "global-data"), "./examples/tail_call.bpf.o"), "tail_cal.rodata");
  assert.equal(kernelMapName(m(".rodata", "global-data"), "dir.v2/my-prog.o"), "my_prog.rodata");
  assert.equal(kernelMapName(m(".bss", "global-data"), undefined), ".bss");
  assert.equal(kernelMapName(m("a-very-long-map-name", "btf"), "x.o"), "a_very_long_map");
  assert.equal(kernelProgramName("port8080_prog_with_long_name"), "port8080_prog_w");
  assert.equal(pinName(".rodata"), "rodata");
  assert.equal(pinName("a.b/c"), "a_b_c");
  assert.deepEqual([...encodeScalar(0x0102, 4, false, "k")], [0, 0, 1, 2]);
  assert.deepEqual([...encodeScalar(-1, 2, true, "k")], [0xff, 0xff]);
  assert.throws(() => encodeScalar(256, 1, true, "key"), { name: "UsageError" });
});

test("BTF sanitising keeps ids and fixes what the kernel refuses", () => {
  const objBtf = seed().btf;
  assert.ok(objBtf, "the seed has BTF");
  const plain = sanitizeBtf(objBtf.btf, "load");
  assert.equal(plain.btf.types.length, objBtf.btf.types.length);
  assert.deepEqual(plain.changes, [], "clang's output for the seed needs no rewriting on load");
  const legacy = sanitizeBtf(objBtf.btf, "legacy");
  assert.equal(legacy.btf.types.length, objBtf.btf.types.length);
  assert.ok(legacy.btf.types.every((t) => t.kind !== "DATASEC" && t.kind !== "VAR"));
  assert.ok(
    objBtf.btf.types.some((t) => t.kind === "DATASEC"),
    "input untouched",
  );
  // An extern variable and an empty section, as clang writes for __kconfig.
  const b = structuredClone(objBtf.btf);
  b.types.push({ kind: "VAR", name: "CONFIG_X", kindFlag: false, type: 1, linkage: 2 });
  b.types.push({
    kind: "DATASEC",
    name: ".kconfig",
    kindFlag: false,
    size: 0,
    vars: [{ type: b.types.length - 1, offset: 0, size: 4 }],
  });
  const fixed = sanitizeBtf(b, "load");
  const n = fixed.btf.types.length;
  assert.deepEqual(fixed.btf.types[n - 2], {
    kind: "VAR",
    name: "CONFIG_X",
    kindFlag: false,
    type: 1,
    linkage: 1,
  });
  assert.equal(fixed.btf.types[n - 1]?.kind, "STRUCT");
  assert.equal(fixed.changes.length, 2);
  // Copied on write: the input keeps its records, unchanged ones are shared.
  assert.deepEqual(b.types[n - 2], { kind: "VAR", name: "CONFIG_X", kindFlag: false, type: 1, linkage: 2 });
  assert.equal(b.types[n - 1]?.kind, "DATASEC");
  assert.equal(fixed.btf.types[1], b.types[1]);
  // Round trip: the sanitised BTF marshals and parses back to the same records.
  assert.deepEqual(parseBtf(marshalBtf(fixed.btf)).types, fixed.btf.types);
});

test("printk formats are found statically and filter trace messages", () => {
  const spec = seed();
  assert.deepEqual(
    printkFormatsOf(spec, spec.programs.port8080_prog as NonNullable<typeof spec.programs.x>),
    ["Packet to port 8080 processed"],
  );
  assert.deepEqual(printkFormatsOf(spec, spec.programs.main_prog as NonNullable<typeof spec.programs.x>), []);
  const own = ownMessageFilter(spec);
  assert.ok(own);
  assert.equal(own("Packet to port 8080 processed"), true);
  assert.equal(own("Packet to port 22 processed"), true);
  assert.equal(own("Packet to port 9999 processed"), false);
  const re = formatPattern("n=%d s=%s %%ok %llx\n");
  assert.match("n=-3 s=abc %ok ff\n", re);
  assert.doesNotMatch("n=3 s=abc ok ff", re);
});
