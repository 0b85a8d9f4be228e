import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { test } from "node:test";
import { findSection, parseElf, SectionType, SymbolType } from "../../src/elf/index.js";
import { isParseError } from "../../src/errors.js";
import { fixtureObjects, hasTool, run } from "./fixture-objects.js";

const haveReadelf = hasTool("llvm-readelf");
const objects = fixtureObjects();

test("fixture objects exist", () => {
  assert.ok(objects.includes("examples/tail-call/tail_call.bpf.o"));
  assert.ok(objects.some((o) => o.includes("linking-be")));
});

for (const obj of objects) {
  test(`sections, symbols and relocations match llvm-readelf: ${obj}`, (t) => {
    if (!haveReadelf) return t.skip("llvm-readelf not installed");
    const elf = parseElf(readFileSync(obj), { file: obj });
    const text = run("llvm-readelf", ["--sections", "--symbols", "--relocations", "--wide", obj]);

    const secRe = /^\s*\[\s*(\d+)\]\s+(\S+)\s+(\S+)\s+[0-9a-f]+\s+([0-9a-f]+)\s+([0-9a-f]+)\s/;
    let nsec = 0;
    for (const line of text.split("\n")) {
      const m = secRe.exec(line);
      if (!m || m[1] === "0") continue;
      const s = elf.sections[Number(m[1])];
      assert.ok(s, `section ${m[1]}`);
      assert.equal(s.name, m[2]);
      assert.equal(s.offset, Number.parseInt(m[4] as string, 16), `offset of ${s.name}`);
      assert.equal(s.size, Number.parseInt(m[5] as string, 16), `size of ${s.name}`);
      nsec++;
    }
    assert.equal(nsec, elf.sections.length - 1);

    const symRe = /^\s+(\d+): ([0-9a-f]{16})\s+(\d+)\s+(\w+)\s+(\w+)\s+\w+\s+(\w+)\s*(\S*)$/;
    let nsym = 0;
    for (const line of text.split("\n")) {
      const m = symRe.exec(line);
      if (!m) continue;
      const y = elf.symbols[Number(m[1])];
      assert.ok(y, `symbol ${m[1]}`);
      assert.equal(y.value, Number.parseInt(m[2] as string, 16));
      assert.equal(y.size, Number(m[3]));
      // llvm-readelf shows a section symbol under its section's name.
      const shown = y.type === SymbolType.SECTION ? elf.sections[y.section]?.name : y.name;
      assert.equal(shown, m[7] ?? "");
      const ndx = m[6] === "UND" ? 0 : m[6] === "ABS" ? 0xfff1 : Number(m[6]);
      assert.equal(y.section, ndx, `section of ${y.name}`);
      nsym++;
    }
    assert.equal(nsym, elf.symbols.length);

    // Relocation tables: "Relocation section '.relxdp' at offset ... contains N entries:".
    const blocks = text.split(/Relocation section '/).slice(1);
    for (const b of blocks) {
      const name = b.slice(0, b.indexOf("'"));
      const rel = findSection(elf, name);
      assert.ok(rel && rel.type === SectionType.REL, name);
      const got = elf.relocations.get(rel.info) ?? [];
      const rows = [...b.matchAll(/^([0-9a-f]{16})\s+([0-9a-f]{16})\s/gm)];
      assert.equal(got.length, rows.length, `entries of ${name}`);
      rows.forEach((r, i) => {
        const info = BigInt(`0x${r[2]}`);
        const g = got[i];
        assert.ok(g);
        assert.equal(g.offset, Number.parseInt(r[1] as string, 16));
        assert.equal(g.symbol, Number(info >> 32n));
        assert.equal(g.type, Number(info & 0xffffffffn));
      });
    }
  });
}

test("big-endian objects are read in their own byte order", () => {
  const le = parseElf(readFileSync("test/bpf/object/linking.bpf.o"));
  const be = parseElf(readFileSync("test/bpf/object/linking-be.bpf.o"));
  assert.equal(le.littleEndian, true);
  assert.equal(be.littleEndian, false);
  // Same source, so the same symbols, except the FILE symbol that names the source file.
  const shape = (e: typeof le) =>
    e.symbols.filter((s) => s.type !== SymbolType.FILE).map((s) => [s.name, s.value, s.size]);
  assert.deepEqual(shape(be), shape(le));
});

function expectParseError(bytes: Uint8Array, re: RegExp, file = "x.o"): void {
  assert.throws(
    () => parseElf(bytes, { file }),
    (e: unknown) => isParseError(e) && re.test(e.message) && e.context.file === file,
  );
}

test("non-ELF and non-BPF inputs are parse errors that say so", () => {
  expectParseError(new Uint8Array(0), /not an ELF file/);
  expectParseError(new TextEncoder().encode("hello world, not an object"), /not an ELF file/);
  const bpf = readFileSync("examples/tail-call/tail_call.bpf.o");
  const x86 = new Uint8Array(bpf);
  new DataView(x86.buffer).setUint16(18, 62, true); // EM_X86_64
  expectParseError(x86, /not a BPF object: e_machine is 62/);
  const elf32 = new Uint8Array(bpf);
  elf32[4] = 1;
  expectParseError(elf32, /not ELF64/);
});

test("truncated files report the section and offset", () => {
  const bpf = readFileSync("examples/tail-call/tail_call.bpf.o");
  expectParseError(bpf.subarray(0, 40), /ELF header/);
  // Cut inside the .symtab contents, which the section headers still claim.
  const elf = parseElf(bpf);
  const symtab = elf.sections.find((s) => s.type === SectionType.SYMTAB);
  assert.ok(symtab);
  const cut = new Uint8Array(bpf);
  const dv = new DataView(cut.buffer);
  // Move the symbol table's offset to past the end of the file.
  dv.setBigUint64(Number(dv.getBigUint64(40, true)) + symtab.index * 64 + 24, BigInt(bpf.length - 8), true);
  assert.throws(
    () => parseElf(cut, { file: "cut.o" }),
    (e: unknown) => isParseError(e) && e.context.section === ".symtab" && e.context.offset === bpf.length - 8,
  );
});

test("an absurd section count is refused before any allocation", () => {
  const bpf = new Uint8Array(readFileSync("examples/tail-call/tail_call.bpf.o"));
  new DataView(bpf.buffer).setUint16(60, 60000, true);
  expectParseError(bpf, /section header table/);
  assert.throws(
    () => parseElf(readFileSync("examples/tail-call/tail_call.bpf.o"), { maxSections: 4 }),
    /limit of 4/,
  );
});

test("an extended section count (e_shnum 0) is read from section 0 and still limited", () => {
  const bpf = new Uint8Array(readFileSync("examples/tail-call/tail_call.bpf.o"));
  const dv = new DataView(bpf.buffer);
  const real = dv.getUint16(60, true);
  const shoff = Number(dv.getBigUint64(40, true));
  dv.setUint16(60, 0, true);
  dv.setBigUint64(shoff + 32, BigInt(real), true);
  assert.equal(parseElf(bpf).sections.length, real);
  dv.setBigUint64(shoff + 32, 1n << 40n, true);
  expectParseError(bpf, /more than the limit/);
});
