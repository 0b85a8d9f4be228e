import assert from "node:assert/strict";
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { dirname, join } from "node:path";
import { test } from "node:test";
import {
  type Btf,
  btfSizeof,
  findBtfTypes,
  formatBtfRaw,
  marshalBtf,
  marshalFuncInfo,
  marshalLineInfo,
  parseBtf,
  parseBtfExt,
  resolveBtfType,
} from "../../src/btf/index.js";
import { type ElfSymbol, findSection, parseElf, SymbolType } from "../../src/elf/index.js";
import { isParseError } from "../../src/errors.js";
import { fixtureObjects, hasTool, run } from "../elf/fixture-objects.js";

const haveBpftool = hasTool("bpftool", ["version"]);

function objectBtf(obj: string) {
  const elf = parseElf(readFileSync(obj), { file: obj });
  const sec = findSection(elf, ".BTF");
  return { elf, sec, btf: sec && parseBtf(sec.data, { file: obj, littleEndian: elf.littleEndian }) };
}

const withBtf = fixtureObjects().filter((o) => objectBtf(o).sec !== undefined);

test("fixtures with BTF include both byte orders", () => {
  assert.ok(withBtf.includes("examples/tail-call/tail_call.bpf.o"));
  assert.ok(withBtf.includes("test/bpf/object/linking-be.bpf.o"));
});

for (const obj of withBtf) {
  test(`formatBtfRaw equals 'bpftool btf dump file': ${obj}`, (t) => {
    if (!haveBpftool) return t.skip("bpftool not installed");
    const { btf } = objectBtf(obj);
    assert.ok(btf);
    assert.equal(formatBtfRaw(btf), run("bpftool", ["btf", "dump", "file", obj]));
  });

  test(`marshal round-trips: ${obj}`, () => {
    const { btf, sec } = objectBtf(obj);
    assert.ok(btf && sec);
    const bytes = marshalBtf(btf);
    const again = parseBtf(bytes, { littleEndian: btf.littleEndian });
    assert.deepEqual(again, btf);
    // clang lays BTF out the way marshal does (types then strings), so the bytes agree too.
    assert.deepEqual(bytes, new Uint8Array(sec.data));
  });

  test(`BTF.ext func_info lands on function symbols, line_info on source lines: ${obj}`, () => {
    const { btf, elf } = objectBtf(obj);
    const extSec = findSection(elf, ".BTF.ext");
    if (!btf || !extSec) return;
    const ext = parseBtfExt(extSec.data, btf.strings, { littleEndian: elf.littleEndian });
    let checked = 0;
    for (const [secName, infos] of ext.funcInfo) {
      const sec = findSection(elf, secName);
      assert.ok(sec, secName);
      for (const fi of infos) {
        const sym: ElfSymbol | undefined = elf.symbols.find(
          (y) => y.section === sec.index && y.type === SymbolType.FUNC && y.value === fi.insnOff,
        );
        assert.ok(sym, `a function symbol at ${secName}+${fi.insnOff}`);
        assert.equal(btf.types[fi.typeId]?.name, sym.name);
        checked++;
      }
    }
    assert.ok(checked > 0);
    // Each line record names its file (a fixture may #include another); its text must be that line.
    const sources = new Map<string, string[]>();
    const dec = new TextDecoder();
    const at = (off: number): string => dec.decode(btf.strings.subarray(off, btf.strings.indexOf(0, off)));
    let lines = 0;
    for (const infos of ext.lineInfo.values()) {
      for (const li of infos) {
        if (li.lineNumber === 0) continue; // compiler-generated code has no source line
        const name = at(li.fileNameOff);
        // build-bpf.sh maps the build directory (the repo root) to "." in debug info.
        const path = name.startsWith("/")
          ? name
          : name.startsWith("./")
            ? join(process.cwd(), name)
            : join(dirname(obj), name);
        let text = sources.get(path);
        if (text === undefined) {
          text = readFileSync(path, "utf8").split("\n");
          sources.set(path, text);
        }
        assert.equal(at(li.lineOff), text[li.lineNumber - 1], `${path}:${li.lineNumber}`);
        lines++;
      }
    }
    assert.ok(lines > 0);
  });
}

test("every kind, including ones clang 14 does not emit, matches bpftool through a raw BTF file", (t) => {
  const btf: Btf = {
    littleEndian: true,
    strings: new Uint8Array([0]),
    types: [
      { kind: "VOID", name: "", kindFlag: false },
      { kind: "INT", name: "int", kindFlag: false, size: 4, encoding: 1, bitsOffset: 0, bits: 32 },
      {
        kind: "ENUM64",
        name: "big",
        kindFlag: false,
        size: 8,
        values: [{ name: "HUGE", value: 0xffffffff00000001n }],
      },
      {
        kind: "ENUM64",
        name: "sbig",
        kindFlag: true,
        size: 8,
        values: [{ name: "NEG", value: 0xfffffffffffffffen }],
      },
      { kind: "FLOAT", name: "double", kindFlag: false, size: 8 },
      { kind: "FWD", name: "opaque", kindFlag: true },
      { kind: "TYPE_TAG", name: "user", kindFlag: false, type: 1 },
      { kind: "PTR", name: "", kindFlag: false, type: 6 },
      {
        kind: "STRUCT",
        name: "bits",
        kindFlag: true,
        size: 8,
        members: [
          { name: "a", type: 1, bitOffset: 0, bitfieldSize: 3 },
          { name: "f", type: 4, bitOffset: 32, bitfieldSize: 0 },
        ],
      },
      { kind: "DECL_TAG", name: "tagged", kindFlag: false, type: 8, componentIdx: 1 },
      { kind: "ENUM", name: "e", kindFlag: true, size: 4, values: [{ name: "M", value: -5 }] },
      { kind: "VOLATILE", name: "", kindFlag: false, type: 1 },
      { kind: "RESTRICT", name: "", kindFlag: false, type: 7 },
      {
        kind: "UNION",
        name: "u",
        kindFlag: false,
        size: 8,
        members: [{ name: "x", type: 4, bitOffset: 0, bitfieldSize: 0 }],
      },
    ],
  };
  const bytes = marshalBtf(btf);
  assert.deepEqual(parseBtf(bytes).types, btf.types);
  assert.equal(btfSizeof(btf, 8), 8);
  if (!haveBpftool) return t.skip("bpftool not installed");
  const dir = mkdtempSync(join(tmpdir(), "tsbpf-btf-"));
  try {
    const f = join(dir, "raw.btf");
    writeFileSync(f, bytes);
    assert.equal(formatBtfRaw(parseBtf(bytes)), run("bpftool", ["btf", "dump", "file", f]));
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test("type helpers resolve modifiers and sizes", () => {
  const { btf } = objectBtf("test/bpf/object/linking.bpf.o");
  assert.ok(btf);
  const [counters] = findBtfTypes(btf, "counters", "STRUCT");
  assert.ok(counters !== undefined);
  assert.equal(btfSizeof(btf, counters), 24);
  const [u32] = findBtfTypes(btf, "__u32", "TYPEDEF");
  assert.ok(u32 !== undefined);
  assert.equal(resolveBtfType(btf, u32).kind, "INT");
  assert.equal(btfSizeof(btf, u32), 4);
});

test("corrupt BTF is a ParseError naming .BTF", () => {
  const { sec } = objectBtf("examples/tail-call/tail_call.bpf.o");
  assert.ok(sec);
  for (const len of [0, 10, 24, 100, sec.data.length - 1]) {
    assert.throws(
      () => parseBtf(sec.data.subarray(0, len), { littleEndian: true, file: "t.o" }),
      (e: unknown) => isParseError(e) && e.context.section === ".BTF" && e.context.file === "t.o",
      `length ${len}`,
    );
  }
  const bad = new Uint8Array(sec.data);
  bad[24 + 7] = 0x7f; // kind 31 in the first type's info
  assert.throws(() => parseBtf(bad, { littleEndian: true }), /unknown kind 31/);
});

test("func_info and line_info marshal to the records .BTF.ext holds, with insn indices", () => {
  const obj = "examples/tail-call/tail_call.bpf.o";
  const { btf, elf } = objectBtf(obj);
  const extSec = findSection(elf, ".BTF.ext");
  assert.ok(btf && extSec);
  const ext = parseBtfExt(extSec.data, btf.strings, { littleEndian: true });
  const lines = ext.lineInfo.get("xdp") ?? [];
  const funcs = ext.funcInfo.get("xdp") ?? [];
  // Re-encode the section's records in the object's own layout (byte offsets) and compare with
  // the bytes clang wrote: records sit after rec_size, then (name offset, count) per section.
  const asInsn = lines.map((l) => ({ ...l, insn: l.insnOff }));
  const enc = marshalLineInfo(asInsn);
  const dv = new DataView(extSec.data.buffer, extSec.data.byteOffset, extSec.data.byteLength);
  const hdr = dv.getUint32(4, true);
  const lineStart = hdr + dv.getUint32(16, true) + 4 + 8;
  assert.deepEqual(enc, new Uint8Array(extSec.data.subarray(lineStart, lineStart + enc.length)));
  const fenc = marshalFuncInfo(funcs.map((f) => ({ insn: f.insnOff, typeId: f.typeId })));
  const funcStart = hdr + dv.getUint32(8, true) + 4 + 8;
  assert.deepEqual(fenc, new Uint8Array(extSec.data.subarray(funcStart, funcStart + fenc.length)));
});
