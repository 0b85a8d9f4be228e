import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { test } from "node:test";
import { encodeInstructions } from "../../src/asm/instruction.js";
import { CALL, LDDW, PseudoCall, PseudoLd } from "../../src/asm/opcodes.js";
import { parseElf, SymbolType } from "../../src/elf/index.js";
import { isParseError, isTsbpfError } from "../../src/errors.js";
import { type CollectionSpec, loadCollectionSpec } from "../../src/object/index.js";
import { MapFlag, MapType, ProgType } from "../../src/abi/index.js";
import { fixtureObjects, hasTool } from "../elf/fixture-objects.js";
import { type DumpFunction, objdumpFunctions, slotCount } from "./objdump.js";

const haveObjdump = hasTool("llvm-objdump");
const load = (f: string): CollectionSpec => loadCollectionSpec(readFileSync(f), { file: f });

test("the seed: three xdp programs in one section, a prog array, GPL", () => {
  const spec = load("examples/tail-call/tail_call.bpf.o");
  assert.equal(spec.license, "GPL");
  assert.equal(spec.byteOrder, "little");
  assert.deepEqual(Object.keys(spec.programs).sort(), ["main_prog", "port22_prog", "port8080_prog"]);
  for (const p of Object.values(spec.programs)) {
    assert.equal(p.section, "xdp");
    assert.equal(p.typeName, "xdp");
    assert.equal(p.type, ProgType.xdp);
    assert.equal(p.license, "GPL");
    assert.equal(p.functions.length, 1);
    assert.equal(p.funcInfo[0]?.name, p.name);
  }
  const pa = spec.maps["prog_array"];
  assert.ok(pa);
  assert.equal(pa.type, MapType.prog_array);
  assert.equal(pa.typeName, "prog_array");
  assert.deepEqual([pa.keySize, pa.valueSize, pa.maxEntries, pa.origin], [4, 4, 2, "btf"]);
  const main = spec.programs["main_prog"];
  assert.ok(main);
  assert.equal(main.sectionOffset, 0);
  assert.equal(spec.programs["port8080_prog"]?.sectionOffset, 0x140);
  const ref = main.references.find((r) => r.map === "prog_array");
  assert.ok(ref);
  assert.equal(main.instructions[ref.insn]?.opcode, LDDW);
  assert.equal(main.instructions[ref.insn]?.src, PseudoLd.MAP_FD);
  assert.ok(main.tailCalls.length >= 1);
  assert.ok(main.tailCalls.every((t) => t.map === "prog_array"));
  // The printk format strings live in .rodata, one per target program.
  const ro = spec.maps[".rodata"];
  assert.ok(ro?.initialData);
  const fmt = (name: string) => {
    const r = spec.programs[name]?.references[0];
    assert.ok(r && r.kind === "map_value" && r.map === ".rodata");
    const end = ro.initialData!.indexOf(0, r.offset);
    return new TextDecoder().decode(ro.initialData!.subarray(r.offset, end));
  };
  assert.equal(fmt("port8080_prog"), "Packet to port 8080 processed");
  assert.equal(fmt("port22_prog"), "Packet to port 22 processed");
  // Static variables only (the formats): read-only to programs, not mmap()able.
  assert.equal(ro.flags, MapFlag.RDONLY_PROG);
  assert.ok(spec.skippedSections.some((s) => s.name === ".debug_info"));
  assert.ok((spec.btf?.btf.types.length ?? 0) > 1);
});

test("the linking fixture: subprograms, callbacks, global data, static .values", () => {
  const spec = load("test/bpf/object/linking.bpf.o");
  assert.equal(spec.license, "Dual MIT/GPL");
  const a = spec.programs["stage_a"];
  const b = spec.programs["stage_b"];
  const c = spec.programs["classify"];
  assert.ok(a && b && c);
  assert.equal(c.typeName, "sched_cls");
  // .text functions are subprograms, never programs of their own.
  assert.equal(spec.programs["bump"], undefined);
  assert.deepEqual(
    a.functions.map((f) => f.name),
    ["stage_a", "bump", "add_limit"],
  );
  assert.deepEqual(
    b.functions.map((f) => f.name),
    ["stage_b", "loop_cb", "global_helper", "add_limit"],
  );
  assert.deepEqual(
    c.functions.map((f) => f.name),
    ["classify", "bump", "add_limit"],
  );
  assert.deepEqual(
    b.funcInfo.map((f) => [f.insn, f.name]),
    b.functions.map((f) => [f.start, f.name]),
  );
  // The bpf_loop callback is passed as a BPF_PSEUDO_FUNC lddw pointing at loop_cb.
  const cbAt = b.instructions.findIndex((i) => i.opcode === LDDW && i.src === PseudoLd.FUNC);
  assert.ok(cbAt >= 0);
  assert.equal(cbAt + (b.instructions[cbAt]?.imm ?? 0) + 1, b.functions[1]?.start);

  const outer = spec.maps["outer"];
  assert.ok(outer?.innerMap);
  assert.equal(outer.type, MapType.hash_of_maps);
  assert.deepEqual(outer.contents, [
    { key: 2, value: "inner_a" },
    { key: 5, value: "inner_b" },
  ]);
  assert.deepEqual(
    [outer.innerMap.type, outer.innerMap.keySize, outer.innerMap.valueSize, outer.innerMap.maxEntries],
    [MapType.array, 4, 8, 4],
  );
  assert.deepEqual(spec.maps["jump"]?.contents, [
    { key: 1, value: "stage_a" },
    { key: 3, value: "stage_b" },
  ]);
  const stats = spec.maps["tsbpf_objstats"];
  assert.ok(stats);
  assert.deepEqual(
    [stats.type, stats.keySize, stats.valueSize, stats.maxEntries, stats.flags, stats.pinning],
    [MapType.lru_hash, 4, 24, 128, 2, "by_name"],
  );

  const ro = spec.maps[".rodata"];
  assert.ok(ro);
  assert.equal(ro.readOnly, true);
  assert.deepEqual(
    ro.variables.map((v) => [v.name, v.offset, v.size, v.linkage]),
    [
      ["limit", 0, 4, "global"],
      ["banner", 4, 22, "global"],
      ["stage_a.____fmt", 26, 11, "static"],
    ],
  );
  assert.equal(new DataView(ro.initialData!.buffer, ro.initialData!.byteOffset).getUint32(0, true), 7);
  const bss = spec.maps[".bss"];
  assert.ok(bss?.initialData);
  assert.ok(bss.initialData.every((x) => x === 0));
  assert.deepEqual(
    bss.variables.map((v) => v.name),
    ["seen", "tag_ptr", "scratch"],
  );
  assert.equal(spec.maps[".data"]?.variables[0]?.name, "hits");
  assert.equal(spec.maps[".data.tagged"]?.initialData?.[0], 9);
  const str = spec.maps[".rodata.str1.1"];
  assert.ok(str?.initialData);
  assert.equal(new TextDecoder().decode(str.initialData), "literal %d\n\0");
  // A reference to a variable resolves to its map and the variable's offset.
  const scratch = bss.variables.find((v) => v.name === "scratch");
  assert.ok(
    a.references.some((r) => r.map === ".bss" && r.kind === "map_value" && r.offset === scratch?.offset),
  );
  assert.ok(
    c.references.some((r) => r.map === ".rodata" && r.offset === 4),
    "banner",
  );
  assert.ok(b.references.some((r) => r.map === ".rodata.str1.1" && r.offset === 0));
  // mmap()able exactly where libbpf makes it so: a BTF section with a global variable.
  assert.deepEqual(
    Object.values(spec.maps)
      .filter((m) => m.origin === "global-data")
      .map((m) => [m.name, m.flags]),
    [
      [".rodata", MapFlag.MMAPABLE | MapFlag.RDONLY_PROG],
      [".data", MapFlag.MMAPABLE],
      [".data.tagged", MapFlag.MMAPABLE],
      [".bss", MapFlag.MMAPABLE],
      [".rodata.str1.1", MapFlag.RDONLY_PROG],
    ],
  );
});

test("a big-endian object gives the same spec, with big-endian data", () => {
  const le = load("test/bpf/object/linking.bpf.o");
  const be = load("test/bpf/object/linking-be.bpf.o");
  assert.equal(be.byteOrder, "big");
  for (const [name, p] of Object.entries(le.programs)) {
    const q = be.programs[name];
    assert.ok(q, name);
    assert.deepEqual(q.instructions, p.instructions, name);
    assert.deepEqual(q.references, p.references, name);
    assert.deepEqual(q.functions, p.functions, name);
  }
  for (const [name, m] of Object.entries(le.maps)) {
    const n = be.maps[name];
    assert.ok(n, name);
    assert.deepEqual({ ...n, initialData: undefined }, { ...m, initialData: undefined }, name);
  }
  assert.equal(
    new DataView(
      be.maps[".rodata"]!.initialData!.buffer,
      be.maps[".rodata"]!.initialData!.byteOffset,
    ).getUint32(0, false),
    7,
  );
});

test("legacy maps and the version section", () => {
  const spec = load("test/bpf/object/legacy.bpf.o");
  assert.equal(spec.kernelVersion, 0x050a00);
  assert.equal(spec.programs["count_packets"]?.typeName, "socket_filter");
  const t = spec.maps["table"];
  assert.ok(t);
  assert.deepEqual(
    [t.origin, t.type, t.keySize, t.valueSize, t.maxEntries, t.flags],
    ["legacy", MapType.hash, 8, 4, 1024, 1],
  );
  assert.deepEqual(
    spec.programs["count_packets"]?.references.map((r) => [r.kind, r.map]),
    [
      ["map", "counts"],
      ["map", "table"],
    ],
  );
});

/** The function called at `slot` of `f`, computed from llvm-objdump's output alone. */
function calleeOf(
  all: DumpFunction[],
  f: DumpFunction,
  slot: number,
  imm: number,
  reloc: DumpFunction["insns"][number]["reloc"],
) {
  let section = f.section;
  let target = slot + imm + 1;
  if (reloc !== undefined) {
    const sym = all.find((g) => g.name === reloc.symbol);
    if (sym) {
      section = sym.section;
      target = sym.start + imm + 1;
    } else {
      section = reloc.symbol; // a section symbol
      target = imm + 1;
    }
  }
  return all.find((g) => g.section === section && g.start === target)?.name;
}

for (const obj of fixtureObjects()) {
  test(`linked programs agree with llvm-objdump: ${obj}`, (t) => {
    if (!haveObjdump) return t.skip("llvm-objdump not installed");
    const spec = load(obj);
    const le = spec.byteOrder === "little";
    const dump = objdumpFunctions(obj);
    const elf = parseElf(readFileSync(obj));
    const globals = new Set(
      elf.symbols.filter((s) => s.type === SymbolType.FUNC && s.binding !== 0).map((s) => s.name),
    );
    const expected = dump.filter((f) => f.section !== ".text" && globals.has(f.name)).map((f) => f.name);
    assert.deepEqual(Object.keys(spec.programs).sort(), expected.sort());
    for (const p of Object.values(spec.programs)) {
      for (const span of p.functions) {
        const f = dump.find((g) => g.name === span.name && g.section === span.section);
        assert.ok(f, `${p.name}: ${span.name}`);
        assert.equal(span.end - span.start, slotCount(f), `${p.name}: size of ${span.name}`);
        const bytes = encodeInstructions(p.instructions.slice(span.start, span.end), le);
        let j = span.start;
        for (const d of f.insns) {
          const at = `${p.name}: ${span.name} slot ${d.index}`;
          const mine = Array.from(
            bytes.subarray((j - span.start) * 8, (j - span.start) * 8 + d.bytes.length),
          );
          const insn = p.instructions[j];
          assert.ok(insn, at);
          const dv = new DataView(new Uint8Array(d.bytes).buffer);
          const imm = dv.getInt32(4, le);
          if (insn.opcode === CALL && insn.src === PseudoCall.CALL) {
            const want = calleeOf(dump, f, d.index, imm, d.reloc);
            const got = p.functions.find((s) => s.start === j + insn.imm + 1)?.name;
            assert.equal(got, want, `${at}: call target`);
            assert.deepEqual(mine.slice(0, 4), d.bytes.slice(0, 4), at);
          } else if (d.reloc !== undefined && insn.opcode === LDDW) {
            const ref = p.references.find((r) => r.insn === j);
            if (insn.src === PseudoLd.FUNC) {
              assert.equal(ref, undefined, at);
            } else {
              assert.ok(ref, `${at}: reference for ${d.reloc.symbol}`);
              const named = spec.maps[d.reloc.symbol];
              if (named !== undefined && named.origin !== "global-data") {
                assert.deepEqual([ref.kind, ref.map], ["map", d.reloc.symbol], at);
              } else if (named !== undefined) {
                assert.deepEqual([ref.kind, ref.map, ref.offset], ["map_value", d.reloc.symbol, imm], at);
              } else {
                const m = Object.values(spec.maps).find((x) =>
                  x.variables.some((v) => v.name === d.reloc?.symbol),
                );
                const v = m?.variables.find((x) => x.name === d.reloc?.symbol);
                assert.ok(m && v, `${at}: variable ${d.reloc.symbol}`);
                assert.deepEqual([ref.kind, ref.map, ref.offset], ["map_value", m.name, v.offset + imm], at);
              }
            }
            assert.equal(mine[0], d.bytes[0], at);
          } else {
            assert.deepEqual(mine, d.bytes, at);
          }
          j += d.bytes.length / 8;
        }
      }
    }
  });
}

function patched(f: string, edit: (b: Uint8Array, dv: DataView) => void): Uint8Array {
  const b = new Uint8Array(readFileSync(f));
  edit(b, new DataView(b.buffer));
  return b;
}

test("a relocation that points at nothing is a ParseError naming file, section and offset", () => {
  const f = "examples/tail-call/tail_call.bpf.o";
  const elf = parseElf(readFileSync(f));
  const rel = elf.sections.find((s) => s.name === ".relxdp");
  assert.ok(rel);
  const bytes = patched(f, (_b, dv) => dv.setBigUint64(rel.offset, 0x1000n, true)); // past the code
  assert.throws(
    () => loadCollectionSpec(bytes, { file: "bad.o" }),
    (e: unknown) =>
      isParseError(e) &&
      e.context.file === "bad.o" &&
      e.context.section === "xdp" &&
      e.context.offset === 0x1000,
  );
  // Or at the middle of an instruction.
  const odd = patched(f, (_b, dv) => dv.setBigUint64(rel.offset, 0x11cn, true));
  assert.throws(() => loadCollectionSpec(odd, { file: "bad.o" }), /does not point at an instruction/);
});

test("a call to a missing function is a ParseError naming the program and instruction", () => {
  const f = "test/bpf/object/linking.bpf.o";
  const spec = load(f);
  const elf = parseElf(readFileSync(f));
  // stage_b calls global_helper through a relocation-free or relocated call; retarget the first
  // call in .text (bump -> add_limit, relative) into the middle of a function.
  const text = elf.sections.find((s) => s.name === ".text");
  assert.ok(text);
  const bump = elf.symbols.find((s) => s.name === "bump");
  assert.ok(bump);
  let callOff = -1;
  for (let o = bump.value; o < bump.value + bump.size; o += 8) {
    if (text.data[o] === CALL && text.data[o + 1]! >> 4 === 1) callOff = o;
  }
  assert.ok(callOff >= 0);
  const bytes = patched(f, (_b, dv) => dv.setInt32(text.offset + callOff + 4, 1, true));
  assert.ok(spec.programs["stage_a"]);
  assert.throws(
    () => loadCollectionSpec(bytes, { file: "bad.o" }),
    (e: unknown) =>
      isParseError(e) &&
      /call to a missing function/.test(e.message) &&
      e.context.file === "bad.o" &&
      e.context.program !== undefined &&
      e.context.insn !== undefined,
  );
});

test("a non-BPF ELF is refused by loadCollectionSpec with a typed error", () => {
  const b = patched("examples/tail-call/tail_call.bpf.o", (_b, dv) => dv.setUint16(18, 183, true));
  assert.throws(
    () => loadCollectionSpec(b, { file: "arm.o" }),
    (e: unknown) => isTsbpfError(e) && /not a BPF object/.test(e.message),
  );
});

test("an object without BTF takes variables and maps from ELF symbols", () => {
  const spec = load("test/bpf/object/nobtf.bpf.o");
  assert.equal(spec.btf, undefined);
  assert.deepEqual(spec.maps[".data"]?.variables, [
    { name: "threshold", offset: 0, size: 4, typeId: undefined, linkage: "global" },
  ]);
  assert.deepEqual(
    spec.maps[".bss"]?.variables.map((v) => v.name),
    ["total"],
  );
  assert.equal(spec.maps["hits"]?.type, MapType.percpu_array);
  // No BTF section to say what a skeleton would expose: not mmap()able, as libbpf has it.
  assert.equal(spec.maps[".data"]?.flags, 0);
  const p = spec.programs["count"];
  assert.ok(p);
  assert.deepEqual(p.funcInfo, []);
  assert.deepEqual(
    p.references.map((r) => r.map),
    ["hits", ".bss", ".data"],
  );
});

test("a .maps section without BTF is refused with a hint", () => {
  // Drop the .BTF section by renaming it: the BTF-defined map can then not be described.
  const f = "examples/tail-call/tail_call.bpf.o";
  const elf = parseElf(readFileSync(f));
  const btf = elf.sections.find((s) => s.name === ".BTF");
  const strtab = elf.sections[1];
  assert.ok(btf && strtab);
  const b = patched(f, (bytes) => {
    const at = bytes.indexOf(0x2e, strtab.offset); // find ".BTF\0" in the section name table
    const needle = new TextEncoder().encode(".BTF\0");
    for (let o = at; o < strtab.offset + strtab.size; o++) {
      if (needle.every((c, k) => bytes[o + k] === c)) {
        bytes[o + 1] = 0x58; // ".XTF"
        break;
      }
    }
  });
  assert.throws(
    () => loadCollectionSpec(b, { file: "nobtf.o" }),
    (e: unknown) => isParseError(e) && /no BTF/.test(e.message) && e.hint !== undefined,
  );
});
