/**
 * The BTF value codec: hand-built BTF checked against bytes written independently with DataView,
 * real clang BTF (test/bpf/typed, built little- and big-endian) decoded to the C initialisers of
 * its globals and re-encoded to the very same bytes, strict encoding errors that name the member
 * path, and hostile BTF that must end in a typed error rather than a crash or a hang.
 */
import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { test } from "node:test";
import { type BtfValue, decodeBtfValue, encodeBtfValue } from "../../src/btf/codec.js";
import type { Btf, BtfMember, BtfType } from "../../src/btf/types.js";
import { isTsbpfError } from "../../src/errors.js";
import { loadCollectionSpec } from "../../src/object/load-collection-spec.js";

// ---------- a small BTF builder ----------

const common = { name: "", kindFlag: false };
const int = (name: string, size: number, signed = false, extra = 0): BtfType => ({
  ...common,
  name,
  kind: "INT",
  size,
  encoding: (signed ? 1 : 0) | extra,
  bitsOffset: 0,
  bits: size * 8,
});
const m = (name: string, type: number, bitOffset: number, bitfieldSize = 0): BtfMember => ({
  name,
  type,
  bitOffset,
  bitfieldSize,
});

/** Ids below are fixed by position; each comment gives the C declaration. */
function handBtf(): Btf {
  const types: BtfType[] = [
    { ...common, kind: "VOID" }, // 0
    int("unsigned char", 1), // 1 u8
    int("signed char", 1, true), // 2 s8
    int("unsigned short", 2), // 3 u16
    int("short", 2, true), // 4 s16
    int("unsigned int", 4), // 5 u32
    int("int", 4, true), // 6 s32
    int("unsigned long long", 8), // 7 u64
    int("long long", 8, true), // 8 s64
    int("_Bool", 1, false, 4), // 9 bool
    int("char", 1, true), // 10 char
    { ...common, kind: "TYPEDEF", name: "__u64", type: 7 }, // 11
    { ...common, kind: "CONST", type: 11 }, // 12 const __u64
    { ...common, kind: "ARRAY", type: 10, indexType: 5, nelems: 8 }, // 13 char[8]
    { ...common, kind: "ARRAY", type: 1, indexType: 5, nelems: 3 }, // 14 u8[3]
    {
      ...common,
      kind: "ENUM",
      name: "color",
      size: 4,
      values: [
        { name: "RED", value: 0 },
        { name: "BLUE", value: 7 },
      ],
    }, // 15
    { ...common, kind: "ENUM", name: "sgn", kindFlag: true, size: 1, values: [{ name: "NEG", value: -2 }] }, // 16
    { ...common, kind: "ENUM64", name: "big", size: 8, values: [{ name: "HUGE", value: 1n << 40n }] }, // 17
    { ...common, kind: "FLOAT", name: "float", size: 4 }, // 18
    { ...common, kind: "FLOAT", name: "double", size: 8 }, // 19
    { ...common, kind: "PTR", type: 20 }, // 20 (a pointer to itself is fine: pointers are not followed)
    // 21: struct inner { u32 bytes; u16 lo:4, hi:12; s16 neg:5; } (8 bytes)
    {
      ...common,
      kind: "STRUCT",
      name: "inner",
      kindFlag: true,
      size: 8,
      members: [m("bytes", 5, 0), m("lo", 3, 32, 4), m("hi", 3, 36, 12), m("neg", 4, 48, 5)],
    },
    // 22: union { u64 x; char s[8]; }
    { ...common, kind: "UNION", size: 8, members: [m("x", 7, 0), m("s", 13, 0)] },
    // 23: anonymous struct { u16 a; u16 b; }
    { ...common, kind: "STRUCT", size: 4, members: [m("a", 3, 0), m("b", 3, 16)] },
    // 24: u16[2][3]
    { ...common, kind: "ARRAY", type: 25, indexType: 5, nelems: 2 },
    { ...common, kind: "ARRAY", type: 3, indexType: 5, nelems: 3 }, // 25 u16[3]
    // 26: struct outer, 88 bytes
    {
      ...common,
      kind: "STRUCT",
      name: "outer",
      kindFlag: true,
      size: 88,
      members: [
        m("count", 12, 0), // const __u64 @0
        m("stats", 21, 64), // struct inner @8
        m("name", 13, 128), // char[8] @16
        m("mac", 14, 192), // u8[3] @24
        m("flag", 9, 216), // bool @27
        m("c", 15, 224), // enum color @28
        m("s", 16, 256), // enum sgn (1 byte) @32
        m("tiny", 2, 264), // s8 @33
        m("", 23, 272), // anonymous struct @34: a, b
        m("f", 18, 320), // float @40
        m("d", 19, 384), // double @48
        m("u", 22, 448), // union @56
        m("grid", 24, 512), // u16[2][3] @64
        m("neg64", 8, 640), // s64 @80
      ],
    },
    { ...common, kind: "PTR", type: 26 }, // 27
    { ...common, kind: "STRUCT", size: 16, members: [m("p", 27, 0), m("e", 17, 64)] }, // 28 { ptr; enum big }
  ];
  return { littleEndian: true, types, strings: new Uint8Array(1) };
}

const OUTER = 26;

/** The bytes of a known `struct outer`, written field by field with DataView. */
function outerBytes(le: boolean): Uint8Array {
  const b = new Uint8Array(88);
  const dv = new DataView(b.buffer);
  dv.setBigUint64(0, 0xfedcba9876543210n, le);
  dv.setUint32(8, 4000000000, le);
  // lo=9 in bits 32..35, hi=0xabc in bits 36..47, neg=-3 in bits 48..52 (of the struct).
  if (le) {
    dv.setUint16(12, 9 | (0xabc << 4), true);
    b[14] = -3 & 0x1f;
  } else {
    dv.setUint16(12, (9 << 12) | 0xabc, false);
    b[14] = (-3 & 0x1f) << 3;
  }
  b.set(new TextEncoder().encode("héllo"), 16); // 6 bytes + NUL padding
  b.set([1, 2, 255], 24);
  b[27] = 1;
  dv.setUint32(28, 7, le);
  b[32] = 0xfe; // NEG
  b[33] = 0x80; // -128
  dv.setUint16(34, 1, le);
  dv.setUint16(36, 65535, le);
  dv.setFloat32(40, 0.5, le);
  dv.setFloat64(48, -1.25e300, le);
  b.set([0x61, 0x62, 0, 0x63, 0x64, 0x65, 0x66, 0x67], 56); // "ab\0cdefg"
  [1, 2, 3, 4, 5, 6].forEach((v, i) => {
    dv.setUint16(64 + 2 * i, v, le);
  });
  dv.setBigInt64(80, -2n, le);
  return b;
}

function expectedOuter(le: boolean): BtfValue {
  const u = new DataView(new Uint8Array([0x61, 0x62, 0, 0x63, 0x64, 0x65, 0x66, 0x67]).buffer).getBigUint64(
    0,
    le,
  );
  return {
    count: 0xfedcba9876543210n,
    stats: { bytes: 4000000000, lo: 9, hi: 0xabc, neg: -3 },
    name: "héllo",
    mac: [1, 2, 255],
    flag: true,
    c: 7,
    s: -2,
    tiny: -128,
    a: 1,
    b: 65535,
    f: 0.5,
    d: -1.25e300,
    u: { x: u, s: "ab" },
    grid: [
      [1, 2, 3],
      [4, 5, 6],
    ],
    neg64: -2n,
  };
}

for (const le of [true, false]) {
  const order = le ? "little" : "big";
  test(`hand-built BTF decodes DataView-written bytes (${order}-endian)`, () => {
    const btf = handBtf();
    assert.deepEqual(decodeBtfValue(btf, OUTER, outerBytes(le), le), expectedOuter(le));
  });

  test(`hand-built BTF re-encodes decoded values to the same bytes (${order}-endian)`, () => {
    const btf = handBtf();
    const bytes = outerBytes(le);
    assert.deepEqual(encodeBtfValue(btf, OUTER, decodeBtfValue(btf, OUTER, bytes, le), le), bytes);
    // And from the literal: the union's string member is written before its wider u64.
    assert.deepEqual(encodeBtfValue(btf, OUTER, expectedOuter(le), le), bytes);
  });
}

test("pointers and 64-bit enums are bigints; enumerator names encode", () => {
  const btf = handBtf();
  const bytes = encodeBtfValue(btf, 28, { p: 0xffff_8000_0000_1000n, e: "HUGE" }, true);
  const dv = new DataView(bytes.buffer);
  assert.equal(dv.getBigUint64(0, true), 0xffff_8000_0000_1000n);
  assert.equal(dv.getBigUint64(8, true), 1n << 40n);
  assert.deepEqual(decodeBtfValue(btf, 28, bytes, true), { p: 0xffff_8000_0000_1000n, e: 1n << 40n });
  assert.deepEqual(encodeBtfValue(btf, 15, "BLUE", true), new Uint8Array([7, 0, 0, 0]));
});

test("encoding fills what is not given with zeros and takes raw bytes", () => {
  const btf = handBtf();
  const bytes = encodeBtfValue(btf, OUTER, { stats: { hi: 1 }, b: 2, name: "x" }, true);
  const expect = new Uint8Array(88);
  expect[12] = 0x10;
  expect[36] = 2;
  expect[16] = 0x78;
  assert.deepEqual(bytes, expect);
  const raw = outerBytes(true);
  assert.deepEqual(encodeBtfValue(btf, OUTER, raw, true), raw);
  assert.deepEqual(
    encodeBtfValue(btf, OUTER, { name: new Uint8Array([1, 2]), mac: [7] }, true).subarray(16, 27),
    new Uint8Array([1, 2, 0, 0, 0, 0, 0, 0, 7, 0, 0]),
  );
});

test("encoding errors name the member path", () => {
  const btf = handBtf();
  const enc = (v: BtfValue) => () => encodeBtfValue(btf, OUTER, v, true);
  const cases: [BtfValue, RegExp][] = [
    [{ stats: { bytes: 2n ** 64n } }, /^value\.stats\.bytes: 18446744073709551616 does not fit u32/],
    [{ stats: { bytes: -1 } }, /^value\.stats\.bytes: -1 does not fit u32/],
    [{ stats: { lo: 16 } }, /^value\.stats\.lo: 16 does not fit a 4-bit unsigned bitfield/],
    [{ stats: { neg: -17 } }, /^value\.stats\.neg: -17 does not fit a 5-bit signed bitfield/],
    [{ stats: { nope: 1 } }, /^value\.stats: struct inner has no member 'nope'/],
    [{ name: "123456789" }, /^value\.name: "123456789" is 9 bytes, char\[8\] holds 8/],
    [{ name: "a\0b" }, /^value\.name: the string contains a NUL/],
    [{ mac: [1, 2, 3, 4] }, /^value\.mac: 4 elements given/],
    [{ mac: [1, 256] }, /^value\.mac\[1\]: 256 does not fit u8/],
    [{ flag: 2 }, /^value\.flag: 2 is not a boolean/],
    [{ c: "GREEN" }, /^value\.c: enum color has no enumerator 'GREEN'/],
    [{ tiny: 1.5 }, /^value\.tiny: 1\.5 is not an integer/],
    [{ count: "12" }, /^value\.count: expected an integer for u64, got the string "12"/],
    [{ count: 2 ** 60 }, /^value\.count: .* lost precision/],
    [{ grid: [[1], 5] }, /^value\.grid\[1\]: expected an array/],
    [{ f: 1n }, /^value\.f: expected a number for float/],
    [[1, 2], /^value: expected an object for struct outer, got an array/],
    [new Uint8Array(87), /^value: 87 bytes given, struct outer is 88 bytes/],
  ];
  for (const [v, re] of cases) {
    assert.throws(enc(v), (e: unknown) => {
      assert.ok(isTsbpfError(e), `not a tsbpf error: ${String(e)}`);
      assert.equal(e.name, "UsageError");
      assert.match(e.message, re);
      return true;
    });
  }
  assert.throws(
    () => decodeBtfValue(btf, OUTER, new Uint8Array(89), true),
    /value: got 89 bytes, type struct outer is 88/,
  );
  assert.throws(() => encodeBtfValue(btf, 5, -1, true, { path: "key" }), /key: -1 does not fit u32/);
});

// ---------- hostile BTF ----------

function mutate(base: Btf, edit: (types: BtfType[]) => void): Btf {
  const types = structuredClone(base.types);
  edit(types);
  return { ...base, types };
}

test("hostile BTF ends in a ParseError, never a crash or a hang", () => {
  const base = handBtf();
  const hostile: [string, Btf, number, number][] = [
    // A struct that contains itself at offset 0 (sizes are declared, so nothing stops recursion but depth).
    [
      "self-containing struct",
      mutate(base, (t) => t.push({ ...common, kind: "STRUCT", size: 4, members: [m("me", 29, 0)] })),
      29,
      4,
    ],
    [
      "typedef cycle",
      mutate(base, (t) => t.push({ ...common, kind: "TYPEDEF", name: "loop", type: 29 })),
      29,
      4,
    ],
    [
      "array of itself",
      mutate(base, (t) => t.push({ ...common, kind: "ARRAY", type: 29, indexType: 5, nelems: 1 })),
      29,
      4,
    ],
    [
      "member outside its struct",
      mutate(base, (t) => t.push({ ...common, kind: "STRUCT", size: 4, members: [m("x", 7, 0)] })),
      29,
      4,
    ],
    [
      "billions of empty structs",
      mutate(base, (t) => {
        t.push({ ...common, kind: "STRUCT", size: 0, members: [] });
        t.push({ ...common, kind: "ARRAY", type: 29, indexType: 5, nelems: 2 ** 31 });
      }),
      30,
      0,
    ],
    [
      "dangling type id",
      mutate(base, (t) => t.push({ ...common, kind: "STRUCT", size: 4, members: [m("x", 999, 0)] })),
      29,
      4,
    ],
    [
      "int wider than its bytes",
      mutate(base, (t) => t.push({ ...(int("bad", 1) as BtfType & { kind: "INT" }), bits: 64 })),
      29,
      1,
    ],
    [
      "unaligned non-bitfield member",
      mutate(base, (t) => t.push({ ...common, kind: "STRUCT", size: 4, members: [m("x", 1, 3)] })),
      29,
      4,
    ],
  ];
  const parseError = (what: string) => (e: unknown) => {
    assert.ok(isTsbpfError(e), `${what}: ${String(e)}`);
    assert.equal(e.name, "ParseError", `${what}: ${String(e)}`);
    return true;
  };
  for (const [what, btf, id, size] of hostile) {
    assert.throws(() => decodeBtfValue(btf, id, new Uint8Array(size), true), parseError(what));
    // Encoding only walks what it is given: an empty value of a self-containing struct is fine.
    try {
      encodeBtfValue(btf, id, {}, true);
    } catch (e) {
      assert.ok(isTsbpfError(e), `${what}: ${String(e)}`);
    }
  }
  const selfish = hostile[0]?.[1] as Btf;
  let deep: BtfValue = {};
  for (let i = 0; i < 100; i++) deep = { me: deep };
  assert.throws(() => encodeBtfValue(selfish, 29, deep, true), parseError("deep value"));
  const huge = mutate(base, (t) => t.push({ ...common, kind: "STRUCT", size: 2 ** 31, members: [] }));
  assert.throws(() => encodeBtfValue(huge, 29, {}, true), parseError("2 GiB struct"));
  assert.throws(
    () => decodeBtfValue(base, 0, new Uint8Array(0), true),
    (e: unknown) => isTsbpfError(e) && /no size/.test(e.message),
  );
});

test("randomly corrupted BTF only ever raises tsbpf errors", () => {
  let seed = 12345;
  const rnd = (n: number) => {
    seed = (seed * 1103515245 + 12345) & 0x7fffffff;
    return seed % n;
  };
  const base = handBtf();
  const picks = [0, 1, 2, 8, 31, 64, 255, 4096, 2 ** 31 - 1, -1, 26, 21, 24];
  for (let i = 0; i < 3000; i++) {
    const btf = mutate(base, (types) => {
      for (let k = 0; k < 1 + rnd(3); k++) {
        const t = types[1 + rnd(types.length - 1)] as unknown as Record<string, unknown>;
        const keys = Object.keys(t).filter((x) => typeof t[x] === "number");
        if (Array.isArray(t.members) && t.members.length && rnd(2) === 0) {
          const mm = t.members[rnd(t.members.length)] as Record<string, number>;
          const f = ["type", "bitOffset", "bitfieldSize"][rnd(3)] as string;
          mm[f] = picks[rnd(picks.length)] as number;
        } else if (keys.length) {
          t[keys[rnd(keys.length)] as string] = picks[rnd(picks.length)];
        }
      }
    });
    const id = [OUTER, 21, 22, 24, 28][rnd(5)] as number;
    for (const run of [
      () => decodeBtfValue(btf, id, outerBytes(true).subarray(0, safeSize(btf, id)), true),
      () => encodeBtfValue(btf, id, expectedOuter(true), true),
    ]) {
      try {
        run();
      } catch (e) {
        assert.ok(isTsbpfError(e), `iteration ${i}: ${String(e)}`);
      }
    }
  }
});

function safeSize(btf: Btf, id: number): number {
  const t = btf.types[id];
  return t !== undefined && "size" in t && t.size >= 0 && t.size <= 88 ? t.size : 88;
}

// ---------- real clang BTF ----------

function loadTyped(file: string) {
  const spec = loadCollectionSpec(new Uint8Array(readFileSync(file)), { file });
  const btf = spec.btf?.btf;
  assert.ok(btf, "the object has BTF");
  return { spec, btf, le: spec.byteOrder === "little" };
}

/** The initialisers of typed.bpf.c's .data, in JS; `octets` follows the byte order. */
function cInitialisers(le: boolean): Record<string, BtfValue> {
  return {
    total_bytes: 1000n,
    last_name: "none",
    ratio: 1.5,
    last_key: { saddr: 1, daddr: 2, sport: 3, dport: 4, proto: 5, pad: [0, 0, 0] },
    init_stats: {
      packets: 0x1122334455667788n,
      bytes: 7n,
      name: "init",
      last: 0x7fffff00,
      ttl: 64,
      is_tcp: 1,
      syn: 0,
      seen: 0xbeef,
      delta: -300,
      pad16: 0,
      first_bytes: { word: 0x01020304, octets: le ? [4, 3, 2, 1] : [1, 2, 3, 4] },
      min_len: 60,
      max_len: 1500,
    },
    armed: true,
    big_neg: -5n,
    grid: [
      [1, 2, 3],
      [4, 5, 0xffff],
    ],
  };
}

for (const file of ["test/bpf/typed/typed.bpf.o", "test/bpf/typed/typed_be.bpf.o"]) {
  test(`clang's .data decodes to the C initialisers and re-encodes byte for byte: ${file}`, () => {
    const { spec, btf, le } = loadTyped(file);
    assert.equal(le, !file.includes("_be"));
    const data = spec.maps[".data"];
    assert.ok(data?.initialData);
    const got: Record<string, BtfValue> = {};
    for (const v of data.variables) {
      assert.ok(v.typeId !== undefined, v.name);
      const bytes: Uint8Array = (data.initialData as Uint8Array).slice(v.offset, v.offset + v.size);
      got[v.name] = decodeBtfValue(btf, v.typeId, bytes, le, { path: v.name });
      assert.deepEqual(encodeBtfValue(btf, v.typeId, got[v.name] as BtfValue, le), bytes, v.name);
    }
    assert.deepEqual(got, cInitialisers(le));
  });

  test(`clang's .rodata (const volatile char[]) and .bss decode: ${file}`, () => {
    const { spec, btf, le } = loadTyped(file);
    const ro = spec.maps[".rodata"];
    assert.ok(ro?.initialData);
    const out: Record<string, BtfValue> = {};
    for (const v of ro.variables) {
      out[v.name] = decodeBtfValue(
        btf,
        v.typeId as number,
        ro.initialData.slice(v.offset, v.offset + v.size),
        le,
      );
    }
    assert.deepEqual(out, { drop_port: 0, banner: "typed" });
    const bss = spec.maps[".bss"];
    assert.ok(bss);
    const zero = new Uint8Array(bss.valueSize);
    const vals = Object.fromEntries(
      bss.variables.map((v) => [
        v.name,
        decodeBtfValue(btf, v.typeId as number, zero.subarray(v.offset, v.offset + v.size), le),
      ]),
    );
    assert.deepEqual(vals, { runs: 0, last_verdict: 0, last_delta: 0, last_ptr: 0n });
  });

  test(`map key/value types of clang BTF round-trip: ${file}`, () => {
    const { spec, btf, le } = loadTyped(file);
    const flows = spec.maps.flows;
    assert.ok(flows?.keyTypeId !== undefined && flows.valueTypeId !== undefined);
    const key = { saddr: 0x0a000001, daddr: 0xc0a80101, sport: 40000, dport: 443, proto: 17, pad: [0, 0, 0] };
    const kb = encodeBtfValue(btf, flows.keyTypeId, key, le);
    assert.equal(kb.byteLength, flows.keySize);
    const dv = new DataView(kb.buffer);
    assert.equal(dv.getUint32(4, le), 0xc0a80101);
    assert.equal(dv.getUint16(8, le), 40000);
    assert.equal(kb[12], 17);
    assert.deepEqual(decodeBtfValue(btf, flows.keyTypeId, kb, le), key);
    const value = {
      packets: 2n ** 64n - 1n,
      name: "udp",
      last: "VERDICT_DROP",
      syn: 1,
      seen: 65535,
      delta: -1,
      min_len: 9,
    };
    const vb = encodeBtfValue(btf, flows.valueTypeId, value, le);
    const back = decodeBtfValue(btf, flows.valueTypeId, vb, le) as Record<string, BtfValue>;
    assert.equal(back.packets, 2n ** 64n - 1n);
    assert.equal(back.last, 1);
    assert.equal(back.syn, 1);
    assert.equal(back.is_tcp, 0);
    assert.equal(back.ttl, 0);
    assert.equal(back.seen, 65535);
    assert.equal(back.delta, -1);
    assert.equal(back.min_len, 9);
    assert.equal(back.name, "udp");
  });
}
