/**
 * The load path's shortcuts for cold code (issue 14) must give what the code they replace gave:
 * sorts skipped for lists in order, section-table rows skipped by first character, BTF strings
 * found by a native search when marshalling, and ELF sizes and offsets kept small integers (V8
 * rebuilt the shapes of every section and symbol when they were heap numbers).
 */
import assert from "node:assert/strict";
import { execFileSync } from "node:child_process";
import { readFileSync } from "node:fs";
import { test } from "node:test";
import { type Btf, type BtfType, marshalBtf, parseBtf } from "../../src/btf/index.js";
import { sortedInPlace } from "../../src/internal/sorted.js";
import { StringTable } from "../../src/internal/string-table.js";
import { loadCollectionSpec } from "../../src/object/load-collection-spec.js";
import { matchSection } from "../../src/object/sec-table.js";
import { fixtureObjects } from "../elf/fixture-objects.js";

function rng(seed: number): () => number {
  let s = seed >>> 0;
  return () => {
    s = (s * 1103515245 + 12345) >>> 0;
    return s;
  };
}

test("sortedInPlace gives Array.prototype.sort's (stable) order, and leaves a list in order unsorted", () => {
  const rnd = rng(7);
  for (let n = 0; n < 40; n++) {
    const a = Array.from({ length: n }, (_, i) => ({ k: rnd() % 5, i }));
    const expected = [...a].sort((x, y) => x.k - y.k);
    const got = sortedInPlace(a, (x, y) => x.k - y.k);
    assert.equal(got, a, "sorted in place, as sort does");
    assert.deepEqual(got, expected);
  }
  const inOrder = [1, 2, 2, 3];
  inOrder.sort = () => {
    throw new Error("sort called on a list already in order");
  };
  assert.equal(
    sortedInPlace(inOrder, (x, y) => x - y),
    inOrder,
  );
  const outOfOrder = [2, 1];
  let sorted = false;
  const realSort = outOfOrder.sort.bind(outOfOrder);
  outOfOrder.sort = (cmp) => {
    sorted = true;
    return realSort(cmp);
  };
  assert.equal(
    sortedInPlace(outOfOrder, (x, y) => x - y),
    outOfOrder,
  );
  assert.deepEqual([...outOfOrder], [1, 2]);
  assert.ok(sorted);
});

test("matchSection: names that no row's first character fits match nothing; the first fitting row wins", () => {
  for (const name of ["", "Xdp", "?xdp", "/xdp", ".text", "1kprobe/x", "zzz"])
    assert.equal(matchSection(name), undefined, name);
  assert.equal(matchSection("xdp")?.typeName, "xdp");
  assert.equal(matchSection("xdp.frags")?.typeName, "xdp");
  assert.equal(matchSection("xdp/devmap")?.expectedAttachType !== undefined, true);
  assert.equal(matchSection("kprobe/do_unlinkat")?.attachTo, "do_unlinkat");
  assert.equal(matchSection("kprobe.multi/x")?.typeName, "kprobe");
  assert.equal(matchSection("socket")?.typeName, "socket_filter");
  assert.equal(matchSection("netfilter")?.typeName, "netfilter");
  assert.equal(matchSection("sk_lookup")?.typeName, "sk_lookup");
  assert.equal(matchSection("cgroup/dev")?.typeName, "cgroup_device");
});

/**
 * What marshalBtf's string table promises: a name already in the original section as a whole
 * NUL-terminated string gets the offset of its first such occurrence; any other is appended.
 */
function checkNameOffsets(btf: Btf, out: Uint8Array): void {
  const v = new DataView(out.buffer, out.byteOffset, out.byteLength);
  const le = btf.littleEndian;
  const hdr = v.getUint32(4, le);
  const typeOff = v.getUint32(8, le);
  const strOff = v.getUint32(16, le);
  const strs = out.subarray(hdr + strOff);
  const base = btf.strings;
  const firstWhole = (s: string): number => {
    const bytes = new TextEncoder().encode(s);
    let start = 0;
    for (let i = 0; i <= base.length; i++) {
      if (i < base.length && base[i] !== 0) continue;
      if (i === base.length) break;
      const entry = base.subarray(start, i);
      if (entry.length === bytes.length && entry.every((b, k) => b === bytes[k])) return start;
      start = i + 1;
    }
    return -1;
  };
  // The first word of each record is its name offset (the types are all INTs here).
  for (let id = 1; id < btf.types.length; id++) {
    const t = btf.types[id] as BtfType;
    const off = v.getUint32(hdr + typeOff + (id - 1) * 16, le);
    const end = strs.indexOf(0, off);
    assert.equal(new TextDecoder().decode(strs.subarray(off, end)), t.name, `name of type ${id}`);
    const first = firstWhole(t.name);
    if (first >= 0) assert.equal(off, first, `${JSON.stringify(t.name)} reuses its first occurrence`);
    else assert.ok(off >= base.length, `${JSON.stringify(t.name)} is appended`);
  }
}

function intType(name: string): BtfType {
  return { kind: "INT", name, kindFlag: false, size: 4, encoding: 0, bitsOffset: 0, bits: 32 };
}

test("marshalBtf reuses the first whole occurrence of a name in the original strings, else appends it", () => {
  const enc = (s: string) => new TextEncoder().encode(s);
  const bases = [
    "\0int\0unsigned int\0int\0x\0\0tail",
    "\0a\0ab\0b\0",
    "head\0int\0",
    "",
    "\0é\0int\0",
    "\0int",
  ];
  const names = ["int", "unsigned int", "x", "", "tail", "a", "b", "ab", "head", "nt", "é", "new", "in"];
  for (const b of bases) {
    const btf: Btf = {
      littleEndian: true,
      types: [{ kind: "VOID", name: "", kindFlag: false }],
      strings: enc(b),
    };
    for (const n of names) btf.types.push(intType(n));
    btf.types.push(intType("int"));
    checkNameOffsets(btf, marshalBtf(btf));
  }
});

test("marshalBtf of every fixture's BTF reads back as the same types", () => {
  for (const file of fixtureObjects()) {
    const spec = loadCollectionSpec(new Uint8Array(readFileSync(file)), { file });
    const btf = spec.btf?.btf;
    if (btf === undefined) continue;
    const back = parseBtf(marshalBtf(btf).subarray(0), { littleEndian: btf.littleEndian });
    assert.deepEqual(back.types, btf.types, file);
  }
});

test("parsing an object leaves every section and symbol of one shape (sizes and offsets are small integers)", (t) => {
  // V8's own view, in a child with natives syntax: a field that held small integers and then
  // got a heap number makes V8 deprecate the shape, so objects made before and after differ.
  const script = `
    const { readFileSync } = require("node:fs");
    import(${JSON.stringify(new URL("../../src/elf/parse-elf.js", import.meta.url).href)}).then(({ parseElf }) => {
      const elf = parseElf(new Uint8Array(readFileSync("examples/tail-call/tail_call.bpf.o")));
      const same = (xs) => xs.every((x) => %HaveSameMap(x, xs[0]));
      const ints = (xs, keys) => xs.every((x) => keys.every((k) => %IsSmi(x[k])));
      console.log(JSON.stringify({
        sections: same(elf.sections), symbols: same(elf.symbols),
        sectionInts: ints(elf.sections, ["offset", "size", "addralign", "entsize"]),
        symbolInts: ints(elf.symbols, ["value", "size"]),
      }));
    });`;
  let out: string;
  try {
    out = execFileSync(process.execPath, ["--allow-natives-syntax", "-e", script], { encoding: "utf8" });
  } catch (e) {
    t.skip(`node --allow-natives-syntax unavailable: ${(e as Error).message.split("\n")[0]}`);
    return;
  }
  assert.deepEqual(JSON.parse(out), { sections: true, symbols: true, sectionInts: true, symbolInts: true });
});

test("StringTable.tryAt gives at()'s string where it can, undefined where at() decodes or raises", () => {
  const enc = (s: string) => new TextEncoder().encode(s);
  for (const text of ["\0abc\0de\0", "x\0y", "\0é\0a\0", ""]) {
    const t = new StringTable(enc(text), {}, 0);
    for (let off = -1; off <= text.length + 2; off++) {
      const fast = t.tryAt(off);
      let slow: string | undefined;
      try {
        slow = t.at(off, "name");
      } catch {
        slow = undefined;
      }
      if (fast !== undefined) assert.equal(fast, slow, `${JSON.stringify(text)} at ${off}`);
      else if (/^[\x00-\x7f]*$/.test(text) && slow !== undefined)
        assert.fail(
          `${JSON.stringify(text)} at ${off}: at() read ${JSON.stringify(slow)} where tryAt gave up`,
        );
    }
  }
  assert.equal(new StringTable(enc("\0é\0"), {}, 0).tryAt(1), undefined, "non-ASCII tables take at()");
});
