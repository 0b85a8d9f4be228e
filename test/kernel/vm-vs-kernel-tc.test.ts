/**
 * The VM against the running kernel for tc (`sched_cls`) programs on BPF_PROG_TEST_RUN's skb:
 * every readable `__sk_buff` field with and without ctx_in, the writable ones and ctx_out,
 * direct packet access, what ctx_in test_run refuses, skb_load_bytes/skb_store_bytes at and past
 * their bounds, l3/l4_csum_replace with every field size and flag, bpf_redirect and
 * bpf_strtol/strtoul on many strings (test/bpf/edge/tc_skb.bpf.c). Both engines run the same
 * object on the same inputs, on both VM tiers; results, verdicts, output packets and ctx_out
 * must be equal.
 */
import assert from "node:assert/strict";
import { test } from "node:test";
import type { BackendName, LoadedCollection } from "../../src/backend/types.js";
import { Collection } from "../../src/collection.js";
import { hex, loadSpec } from "./both-engines.js";
import { kernelSkipReason } from "./support.js";

const skip = kernelSkipReason();
const FILE = "test/bpf/edge/tc_skb.bpf.o";
const ENGINES: { backend: BackendName; tier?: "interpreter" | "compiled" }[] = [
  { backend: "kernel" },
  { backend: "vm", tier: "interpreter" },
  { backend: "vm", tier: "compiled" },
];

/** An IPv4/UDP-looking packet of `n` bytes with distinct bytes; `dst` is its destination MAC. */
function pkt(n: number, dst = [0, 1, 2, 3, 4, 5], type = 0x0800): Uint8Array {
  const p = new Uint8Array(n);
  for (let i = 0; i < n; i++) p[i] = (i * 7 + 3) & 255;
  p.set(dst, 0);
  p[12] = type >> 8;
  p[13] = type & 255;
  return p;
}

interface Case {
  prog: "fields" | "helpers" | "legacy";
  packet: Uint8Array;
  in?: (number | bigint)[];
  text?: string;
  ctxIn?: Uint8Array;
}
interface Outcome {
  error?: string;
  retval?: number;
  out?: string[];
  dataOut?: string;
  ctxOut?: string;
}

async function runAll(c: LoadedCollection, cases: Case[]): Promise<Outcome[]> {
  const bss = c.maps[".bss"];
  assert.ok(bss);
  const results: Outcome[] = [];
  for (const k of cases) {
    const g = new Uint8Array(16 * 8 + 40 * 8 + 32);
    const v = new DataView(g.buffer);
    for (const [i, x] of (k.in ?? []).entries()) v.setBigUint64(i * 8, BigInt.asUintN(64, BigInt(x)), true);
    if (k.text !== undefined) g.set(new TextEncoder().encode(k.text), 16 * 8 + 40 * 8);
    bss.set(0, g);
    try {
      const r = await c.programs[k.prog]?.run(k.packet, k.ctxIn === undefined ? {} : { ctxIn: k.ctxIn });
      assert.ok(r);
      assert.equal(r.fault, undefined, r.fault?.message);
      const o = bss.get(0) as Uint8Array;
      const ov = new DataView(o.buffer, o.byteOffset);
      const out: string[] = [];
      for (let i = 0; i < 30; i++) out.push(ov.getBigInt64(128 + i * 8, true).toString());
      results.push({
        retval: r.retval,
        out,
        dataOut: hex(r.dataOut),
        ...(r.ctxOut === undefined ? {} : { ctxOut: hex(r.ctxOut) }),
      });
    } catch (e) {
      // The engines word it differently; that both refuse is what must agree.
      results.push({ error: (e as Error).name === "AssertionError" ? (e as Error).message : "refused" });
    }
  }
  return results;
}

async function compare(cases: Case[], check?: (kernel: Outcome[]) => void): Promise<void> {
  const all: Outcome[][] = [];
  for (const e of ENGINES) {
    const c = await Collection.load(loadSpec(FILE), {
      backend: e.backend,
      ...(e.tier === undefined ? {} : { vm: { tier: e.tier } }),
    });
    try {
      all.push(await runAll(c, cases));
    } finally {
      c.close();
    }
  }
  const [kernel, ...vms] = all as [Outcome[], ...Outcome[][]];
  check?.(kernel);
  for (const [i, vm] of vms.entries()) {
    for (const [j, k] of kernel.entries()) {
      assert.deepEqual(
        vm[j],
        k,
        `case ${j} (${cases[j]?.prog}) on the VM's ${ENGINES[i + 1]?.tier} tier differs from the kernel`,
      );
    }
  }
}

function ctx(fields: Record<number, number | bigint>, size = 192): Uint8Array {
  const b = new Uint8Array(size);
  const v = new DataView(b.buffer);
  for (const [o, x] of Object.entries(fields)) {
    const off = Number(o);
    if (off === 152 || off === 184) v.setBigUint64(off, BigInt(x), true);
    else v.setUint32(off, Number(x), true);
  }
  return b;
}

test("__sk_buff fields, writes, ctx_in and ctx_out agree with the kernel", { skip }, async () => {
  const write = [1, 0x11223344, 7, 99, 0x12345, 0xabc, 5, 1234567, 0xee, 2];
  await compare(
    [
      { prog: "fields", packet: pkt(60) },
      { prog: "fields", packet: pkt(14, [0, 0, 0, 0, 0, 0]) },
      { prog: "fields", packet: pkt(64, [0xff, 0xff, 0xff, 0xff, 0xff, 0xff]) },
      { prog: "fields", packet: pkt(64, [0x01, 0, 0x5e, 0, 0, 1], 0x86dd) },
      { prog: "fields", packet: pkt(64, [0, 0, 0, 0, 0, 0], 0x0100) },
      { prog: "fields", packet: pkt(3712) },
      { prog: "fields", packet: pkt(3713) },
      { prog: "fields", packet: pkt(13) },
      { prog: "fields", packet: pkt(33) },
      { prog: "fields", packet: pkt(34) },
      { prog: "fields", packet: pkt(53, [0, 0, 0, 0, 0, 0], 0x86dd) },
      { prog: "fields", packet: pkt(14, [0, 0, 0, 0, 0, 0], 0x0806) },
      { prog: "fields", packet: pkt(60), in: write },
      { prog: "fields", packet: pkt(60), in: [1, 1, 2, 3, 0xffff, 4, 0xfffe, 9, 0, 7] },
      {
        prog: "fields",
        packet: pkt(60),
        in: write,
        ctxIn: ctx({
          8: 17,
          32: 6,
          36: 3,
          40: 1,
          48: 7,
          64: 8,
          152: 123n,
          160: 100,
          164: 2,
          176: 50,
          184: 99n,
        }),
      },
      { prog: "fields", packet: pkt(60), ctxIn: ctx({ 8: 1 }) },
      { prog: "fields", packet: pkt(60), ctxIn: ctx({ 8: 1 }, 64) },
      { prog: "fields", packet: pkt(60), ctxIn: ctx({ 8: 1 }, 200) },
      { prog: "fields", packet: pkt(60), ctxIn: ctx({ 0: 1 }) },
      { prog: "fields", packet: pkt(60), ctxIn: ctx({ 12: 1 }) },
      { prog: "fields", packet: pkt(60), ctxIn: ctx({ 68: 1 }) },
      { prog: "fields", packet: pkt(60), ctxIn: ctx({ 160: 59 }) },
      { prog: "fields", packet: pkt(60), ctxIn: ctx({ 160: 65537 }) },
      { prog: "fields", packet: pkt(60), ctxIn: ctx({ 164: 65536 }) },
    ],
    (k) => {
      // The cases test what they say: values seen, writes kept, bad contexts refused.
      assert.equal(k[0]?.out?.[1], "3"); // PACKET_OTHERHOST
      assert.equal(k[2]?.out?.[1], "2"); // lo's broadcast address is all-zero: ff:ff:.. is multicast there
      assert.equal(k[1]?.error, "refused"); // IPv4 EtherType, no room for the IP header
      assert.equal(k[4]?.out?.[1], "0"); // PACKET_HOST
      assert.equal(k[3]?.out?.[1], "2"); // PACKET_MULTICAST
      assert.equal(k[6]?.error, "refused");
      assert.equal(k[7]?.error, "refused");
      assert.equal(k[8]?.error, "refused");
      assert.equal(k[9]?.out?.[0], "34");
      assert.equal(k[10]?.error, "refused");
      assert.equal(k[11]?.out?.[0], "14");
      assert.equal(k[12]?.out?.[26], String(0x11223344));
      assert.equal(k[12]?.retval, 2);
      assert.ok(k[14]?.ctxOut !== undefined);
      assert.equal(k[18]?.error, "refused");
    },
  );
});

test("skb_load_bytes, skb_store_bytes and the checksum helpers agree with the kernel", { skip }, async () => {
  const cases: Case[] = [];
  // [load off, load len, store value, store off, store flags, csum off, from, to, l3 flags, -, l4 flags]
  for (const [off, len] of [
    [0, 8],
    [52, 8],
    [53, 8],
    [59, 1],
    [60, 1],
    [0xffffffff, 4],
    [0x80000000, 4],
  ] as const) {
    cases.push({ prog: "helpers", packet: pkt(60), in: [off, len, 0x1122334455667788n, 0, 0] });
  }
  for (const [soff, flags] of [
    [52, 0],
    [53, 0],
    [10, 1],
    [10, 2],
    [10, 4],
    [0x80000000, 0],
  ] as const) {
    cases.push({ prog: "helpers", packet: pkt(60), in: [0, 1, 0xdeadbeefcafef00dn, soff, flags] });
  }
  for (const [coff, from, to, flags, l4] of [
    [24, 0x1234, 0x4321, 2, 0],
    [24, 0x12345678, 0x9abcdef0, 4, 0],
    [24, 0, 0x55aa, 0, 0],
    [24, 1, 0x55aa, 0, 0],
    [24, 0x1234, 0x4321, 3, 0],
    [24, 0x1234, 0x4321, 2, 0x10],
    [24, 0x1234, 0x4321, 2, 0x20],
    [24, 0x1234, 0x4321, 2, 0x60],
    [24, 0x1234, 0x4321, 2, 0x80],
    [24, 0x1234, 0x4321, 2, 0x100],
    [25, 0x1234, 0x4321, 2, 0],
    [56, 0x1234, 0x4321, 2, 0],
    [58, 0x1234, 0x4321, 2, 0],
    [0x10000, 0x1234, 0x4321, 2, 0],
    [24, 0x1234, 0x4321, 0x12, 0],
  ] as const) {
    cases.push({ prog: "helpers", packet: pkt(60), in: [0, 1, 0, 0, 0, coff, from, to, flags, 0, l4] });
  }
  // l4 with MARK_MANGLED_0 on a zero checksum field: left alone unless ENFORCE.
  const zero = pkt(60);
  zero[26] = 0;
  zero[27] = 0;
  cases.push({ prog: "helpers", packet: zero, in: [0, 1, 0, 0, 0, 24, 0x1234, 0x4321, 2, 0, 0x20] });
  cases.push({ prog: "helpers", packet: zero, in: [0, 1, 0, 0, 0, 24, 0x1234, 0x4321, 2, 0, 0x60] });
  await compare(cases, (k) => {
    assert.equal(k[0]?.out?.[0], "0");
    assert.equal(k[2]?.out?.[0], "-14");
    assert.equal(k[8]?.out?.[2], "-14");
  });
});

test("bpf_redirect returns TC_ACT_REDIRECT, or TC_ACT_SHOT with flags other than BPF_F_INGRESS", {
  skip,
}, async () => {
  const r = (ifindex: number, flags: number): Case => ({
    prog: "helpers",
    packet: pkt(60),
    in: [0, 1, 0, 0, 0, 24, 0, 0, 0, 0, 0, 1, 10, 1, ifindex, flags],
  });
  await compare([r(1, 0), r(7, 1), r(7, 2), r(0, 0)], (k) => {
    assert.equal(k[0]?.retval, 7);
    assert.equal(k[1]?.retval, 7);
    assert.equal(k[2]?.retval, 2);
  });
});

test("bpf_strtol, bpf_strtoul and bpf_probe_read_kernel agree with the kernel (bases, signs, spaces, overflow)", {
  skip,
}, async () => {
  const strings = [
    "123",
    "-123",
    "  42x",
    "\t-0x1f",
    "0x1f",
    "0X",
    "0xg",
    "017",
    "019",
    "-",
    "",
    "   ",
    "abc",
    "18446744073709551615",
    "18446744073709551616",
    "9223372036854775807",
    "9223372036854775808",
    "-9223372036854775808",
    "-9223372036854775809",
    "ff",
    "+5",
  ];
  const cases: Case[] = [];
  for (const s of strings) {
    for (const [len, base] of [
      [31, 0],
      [31, 10],
      [31, 16],
      [31, 8],
      [3, 0],
      [31, 2],
      [31, 0x20],
    ] as const) {
      cases.push({
        prog: "helpers",
        packet: pkt(60),
        in: [0, 1, 0, 0, 0, 24, 0, 0, 0, 0, 0, len, base],
        text: s,
      });
    }
  }
  await compare(cases, (k) => {
    assert.equal(k[0]?.out?.[5], "3");
    assert.equal(k[0]?.out?.[6], "123");
    // bpf_probe_read_kernel: of the string, and of address 0 (-EFAULT, the buffer zeroed).
    assert.equal(k[0]?.out?.[9], "0");
    assert.equal(k[0]?.out?.[10], String(0x333231n));
    assert.equal(k[0]?.out?.[11], "-34"); // a user-half address is -ERANGE
    assert.equal(k[0]?.out?.[12], "0");
  });
});

test("LD_ABS/LD_IND load big-endian bytes and end the program with 0 out of bounds, as the kernel", {
  skip,
}, async () => {
  const NET = -0x100000;
  const LL = -0x200000;
  const offs = [
    0,
    1,
    56,
    57,
    58,
    59,
    60,
    61,
    0x7fffffff,
    -1,
    -14,
    NET,
    NET - 14,
    NET - 15,
    NET - 78,
    NET - 79,
  ];
  offs.push(NET + 42, NET + 43, NET + 46, NET + 47, LL, LL + 56, LL + 57, LL - 64, LL - 1, LL + 0x100000 - 1);
  const cases: Case[] = offs.map((o) => ({
    prog: "legacy",
    packet: pkt(60),
    in: [BigInt.asUintN(64, BigInt(o))],
  }));
  cases.push({ prog: "legacy", packet: pkt(34), in: [0] }); // the word at 26 still fits (26..29)
  cases.push({ prog: "legacy", packet: pkt(29, [0, 0, 0, 0, 0, 0], 0x0806), in: [0] }); // it does not
  await compare(cases, (k) => {
    assert.equal(k[0]?.retval, 77);
    assert.equal(k[0]?.out?.[1], "2048"); // 0x0800, big-endian
    assert.equal(k[5]?.retval, 0); // the half at 59 is past the end: the program ends with 0
    assert.equal(k[5]?.out?.[3], "160"); // after the byte at 59 was read
    assert.equal(k[5]?.out?.[4], "0");
    assert.equal(k[offs.length + 1]?.retval, 0);
  });
});
