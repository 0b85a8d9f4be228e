/**
 * The VM against the running kernel for tc (`sched_cls`) programs on BPF_PROG_TEST_RUN's skb:
 * every readable `__sk_buff` field with and without ctx_in, the writable ones and ctx_out,
 * direct packet access, what ctx_in test_run refuses, skb_load_bytes/skb_store_bytes at and past
 * their bounds, l3/l4_csum_replace with every field size and flag, bpf_redirect and
 * bpf_strtol/strtoul on many strings, and the packet-resizing helpers skb_change_head,
 * skb_change_tail, skb_pull_data and skb_adjust_room (test/bpf/edge/tc_skb.bpf.c). Both engines run the same
 * object on the same inputs, on both VM tiers; results, verdicts, output packets and ctx_out
 * must be equal.
 */
import assert from "node:assert/strict";
import { test } from "node:test";
import type { BackendName, LoadedCollection } from "../../src/backend/types.js";
import { Collection } from "../../src/collection.js";
import type { CollectionSpec } from "../../src/object/types.js";
import { hex, loadSpec } from "./both-engines.js";
import { kernelSkipReason } from "./support.js";

const skip = kernelSkipReason();
const FILE = "test/bpf/edge/tc_skb.bpf.o";
const ENGINES: { backend: BackendName; tier?: "interpreter" | "js" | "compiled" }[] = [
  { backend: "kernel" },
  { backend: "vm", tier: "interpreter" },
  { backend: "vm", tier: "js" },
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
  prog: "fields" | "helpers" | "legacy" | "resize";
  packet: Uint8Array;
  in?: (number | bigint)[];
  text?: string;
  ctxIn?: Uint8Array;
  /** Runs on one skb, as test_run's `repeat` does: what one run does to it the next sees. */
  repeat?: number;
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
      const r = await c.programs[k.prog]?.run(k.packet, {
        ...(k.ctxIn === undefined ? {} : { ctxIn: k.ctxIn }),
        ...(k.repeat === undefined ? {} : { repeat: k.repeat }),
      });
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

/** Steps of the `resize` program: [op, arg, flags, mode]; ops 1 change_head, 2 change_tail, 3 pull_data, 4 adjust_room. */
type Step = [op: number, arg: number | bigint, flags?: number | bigint, mode?: number];
const HEAD = 1;
const TAIL = 2;
const PULL = 3;
const ROOM = 4;
const NET = 0;
const MAC = 1;
const F = {
  FIXED_GSO: 1n,
  L3_IPV4: 2n,
  L3_IPV6: 4n,
  L4_GRE: 8n,
  L4_UDP: 16n,
  NO_CSUM_RESET: 32n,
  L2_ETH: 64n,
  DECAP_IPV4: 128n,
  DECAP_IPV6: 256n,
  l2: (len: number) => BigInt(len) << 56n,
};

function resize(steps: Step[], packet = pkt(60), ctxIn?: Uint8Array): Case {
  const inp: (number | bigint)[] = new Array(16).fill(0);
  for (const [k, [op, arg, flags = 0, mode = 0]] of steps.entries()) {
    inp[k] = op;
    inp[4 + k] = BigInt.asUintN(64, BigInt(arg));
    inp[8 + k] = flags;
    inp[12 + k] = mode;
  }
  return { prog: "resize", packet, in: inp, ...(ctxIn === undefined ? {} : { ctxIn }) };
}

test("skb_change_head, skb_change_tail, skb_pull_data and skb_adjust_room agree with the kernel", {
  skip,
}, async () => {
  const gso = ctx({ 176: 1400, 164: 3 });
  const v6 = pkt(94, [0, 1, 2, 3, 4, 5], 0x86dd);
  const arp = pkt(60, [0, 1, 2, 3, 4, 5], 0x0806);
  const cases: Case[] = [
    // change_head: zeros in front, the network header stays (LD_ABS at SKF_NET_OFF), the limit.
    resize([[HEAD, 0]]),
    resize([[HEAD, 8]]),
    resize([
      [HEAD, 14],
      [HEAD, 100],
    ]),
    resize([[HEAD, 16004]]),
    resize([[HEAD, 16005]]),
    resize([[HEAD, 0x80000000]]),
    resize([[HEAD, 0xffffffff]]),
    resize([[HEAD, 8, 1]]),
    resize([[HEAD, 8]], pkt(60), gso),
    resize([
      [HEAD, 8],
      [TAIL, 21],
    ]),
    resize([
      [HEAD, 8],
      [TAIL, 22],
    ]),
    resize([
      [HEAD, 8],
      [ROOM, 8, 0, MAC],
    ]),
    resize([
      [HEAD, 8],
      [ROOM, 8, 0, NET],
    ]),
    // change_tail: grow with zeros, trim, down to the network header, the limit, flags, GSO reset.
    resize([[TAIL, 100]]),
    resize([[TAIL, 60]]),
    resize([[TAIL, 30]]),
    resize([[TAIL, 14]]),
    resize([[TAIL, 13]]),
    resize([[TAIL, 0]]),
    resize([[TAIL, 16064]]),
    resize([[TAIL, 16065]]),
    resize([[TAIL, 0xffffffff]]),
    resize([[TAIL, 100, 1]]),
    resize([[TAIL, 100]], pkt(60), gso),
    resize(
      [
        [TAIL, 3712],
        [TAIL, 16064],
        [TAIL, 20],
        [TAIL, 200],
      ],
      pkt(3712),
    ),
    // pull_data: a linear skb; past the packet is -ENOMEM.
    resize([[PULL, 0]]),
    resize([[PULL, 1]]),
    resize([[PULL, 60]]),
    resize([[PULL, 61]]),
    resize([[PULL, 0xffffffff]]),
    resize([
      [HEAD, 10],
      [PULL, 70],
      [PULL, 71],
    ]),
    // adjust_room: modes, sizes, bounds.
    resize([[ROOM, 8, 0, MAC]]),
    resize([[ROOM, 8, 0, NET]]),
    resize([[ROOM, 0, 0, NET]]),
    resize([[ROOM, -8, 0, MAC]]),
    resize([[ROOM, -8, 0, NET]]),
    resize([[ROOM, 0xfff, 0, NET]]),
    resize([[ROOM, 0x1000, 0, NET]]),
    resize([[ROOM, -0x1000, 0, NET]]),
    resize([[ROOM, -0x80000000, 0, NET]]),
    resize([[ROOM, 8, 0, 2]]),
    resize([[ROOM, 8, 0, 0xffffffff]]),
    resize([[ROOM, 8, 1n << 9n, NET]]),
    resize([[ROOM, 8, 1n << 55n, NET]]),
    resize([[ROOM, 8, 0, NET]], arp),
    resize([[ROOM, -26, 0, NET]]),
    resize([[ROOM, -27, 0, NET]]),
    resize([[ROOM, -26, 0, MAC]]),
    resize([[ROOM, -27, 0, MAC]]),
    resize([[ROOM, -46, 0, MAC]]),
    resize(
      [
        [ROOM, 40, 0, NET],
        [ROOM, -40, 0, NET],
      ],
      v6,
    ),
    resize(
      [
        [ROOM, -20, 0, MAC],
        [ROOM, -21, 0, MAC],
      ],
      v6,
    ),
    resize([
      [TAIL, 16000],
      [ROOM, 64, 0, NET],
      [ROOM, 65, 0, NET],
    ]),
    resize([[ROOM, 8, 0, NET]], pkt(60), gso),
    resize([[ROOM, -8, F.FIXED_GSO, NET]], pkt(60), gso),
    resize([[ROOM, 8, F.FIXED_GSO | F.NO_CSUM_RESET, NET]]),
    // adjust_room's flags: decapsulation (shrink only; protocol follows), encapsulation rules.
    resize([[ROOM, -20, F.DECAP_IPV6, MAC]]),
    resize([[ROOM, -20, F.DECAP_IPV4, MAC]]),
    resize([[ROOM, 20, F.DECAP_IPV4, MAC]]),
    resize([[ROOM, -20, F.DECAP_IPV4 | F.DECAP_IPV6, MAC]]),
    resize([[ROOM, -8, F.L3_IPV4, MAC]]),
    resize([[ROOM, -20, F.DECAP_IPV4, MAC]], v6),
    resize([[ROOM, -30, F.DECAP_IPV4, MAC]], v6),
    resize([[ROOM, -31, F.DECAP_IPV4, MAC]], v6),
    resize([
      [ROOM, 20, F.L3_IPV4, MAC],
      [ROOM, 20, F.L3_IPV4, MAC],
      [TAIL, 100],
    ]),
    resize([[ROOM, 40, F.L3_IPV6, MAC]]),
    resize([[ROOM, 20, F.L3_IPV4, MAC]], v6),
    resize([[ROOM, 20, F.L3_IPV4 | F.L3_IPV6, MAC]]),
    resize([[ROOM, 28, F.L3_IPV4 | F.L4_GRE | F.L4_UDP, MAC]]),
    resize([
      [ROOM, 28, F.L3_IPV4 | F.L4_UDP, MAC],
      [TAIL, 33],
      [TAIL, 34],
      [ROOM, 8, 0, NET],
    ]),
    resize([
      [ROOM, 24, F.L3_IPV4 | F.L4_GRE, MAC],
      [ROOM, -4, 0, MAC],
      [ROOM, 4, 0, NET],
    ]),
    resize([[ROOM, 42, F.L3_IPV4 | F.L4_UDP | F.L2_ETH | F.l2(14), MAC]]),
    resize([[ROOM, 42, F.L3_IPV4 | F.L4_UDP | F.L2_ETH | F.l2(13), MAC]]),
    resize([[ROOM, 20, F.L3_IPV4 | F.l2(21), MAC]]),
    resize([[ROOM, 20, F.L3_IPV4 | F.l2(20), MAC]]),
    resize([[ROOM, 8, F.L4_GRE | F.L2_ETH, MAC]]),
    resize([
      [HEAD, 4],
      [ROOM, -4, 0, MAC],
      [TAIL, 64],
      [PULL, 64],
    ]),
    // Repeated runs on one skb: grown to the limit and shrunk from the front again and again.
    {
      ...resize([
        [TAIL, 16064],
        [ROOM, -4095, 0, MAC],
        [ROOM, -4095, 0, MAC],
        [ROOM, -4095, 0, MAC],
      ]),
      repeat: 4,
    },
    {
      ...resize([
        [HEAD, 4000],
        [ROOM, -4095, 0, MAC],
        [TAIL, 100],
      ]),
      repeat: 4,
    },
  ];
  await compare(cases, (k) => {
    const o = (i: number, j: number): string | undefined => k[i]?.out?.[j];
    // The cases test what they say, on the kernel: results, lengths, where the headers are.
    const ret = (i: number, step = 0): string | undefined => o(i, step * 6);
    const len = (i: number, step = 0): string | undefined => o(i, step * 6 + 1);
    const EINVAL = "-22";
    const ENOTSUPP = "-524";
    assert.deepEqual([ret(1), len(1), o(1, 27), o(1, 28)], ["0", "68", "101", String(0x0405)]); // MAC header at data, network header kept
    assert.deepEqual([len(3), ret(4), ret(5), ret(6), ret(7)], ["16064", EINVAL, EINVAL, EINVAL, EINVAL]);
    assert.deepEqual([ret(9, 1), ret(10, 1), len(10, 1)], [EINVAL, "0", "22"]); // change_tail keeps the network header
    assert.deepEqual([len(13), o(13, 5), ret(16), ret(17), ret(18)], ["100", "0", "0", EINVAL, EINVAL]);
    assert.deepEqual([len(19), ret(20), ret(21), ret(22)], ["16064", EINVAL, EINVAL, EINVAL]);
    assert.equal(o(23, 24), "0"); // change_tail resets gso_size...
    assert.equal(k[23]?.ctxOut?.slice(352, 356), "7805"); // ...but test_run's ctx_out keeps ctx_in's gso_size
    assert.deepEqual(
      [ret(25), ret(27), ret(28), ret(29), ret(30, 1), ret(30, 2)],
      ["0", "0", "-12", "-12", "0", "-12"],
    );
    assert.deepEqual([len(31), o(31, 27), len(32), o(32, 27)], ["68", "0", "68", "101"]); // MAC mode: new bytes at the network header
    assert.deepEqual([len(34), o(34, 27), len(35)], ["52", "157", "52"]);
    assert.deepEqual([len(36), ret(37), ret(38), ret(39)], ["4155", "-14", "-14", "-14"]);
    assert.deepEqual(
      [ret(40), ret(41), ret(42), ret(43), ret(44)],
      [ENOTSUPP, ENOTSUPP, EINVAL, EINVAL, ENOTSUPP],
    );
    assert.deepEqual([ret(45), ret(46), ret(47), ret(48)], ["0", ENOTSUPP, "0", ENOTSUPP]); // 20 bytes of IPv4 header stay
    assert.deepEqual([ret(52, 1), len(52, 1), ret(52, 2)], ["0", "16064", ENOTSUPP]);
    assert.deepEqual([ret(53), ret(54), ret(55)], [ENOTSUPP, ENOTSUPP, "0"]); // a GSO skb (gso_type 0) cannot be adjusted
    assert.deepEqual([ret(56), ret(57), ret(58), ret(59), ret(60)], [ENOTSUPP, "0", EINVAL, EINVAL, EINVAL]);
    assert.deepEqual([ret(61), o(61, 3)], ["0", "8"]); // DECAP_L3_IPV4: protocol becomes IPv4
    assert.deepEqual([ret(64, 1), ret(64, 2)], ["-114", ENOTSUPP]); // encapsulated twice: -EALREADY; change_tail -ENOTSUPP
    assert.deepEqual([ret(65), o(65, 3), o(66, 3)], ["0", String(0xdd86), "8"]); // ENCAP_L3: protocol follows the outer header
    assert.deepEqual([ret(67), ret(68)], [EINVAL, EINVAL]);
    assert.deepEqual([ret(69, 1), ret(69, 2), ret(69, 3)], [EINVAL, ENOTSUPP, "0"]); // below the new transport header: EINVAL
    assert.deepEqual([ret(71), ret(72), ret(73), ret(74), ret(75)], ["0", EINVAL, EINVAL, "0", "0"]);
    assert.deepEqual([ret(77), len(77, 3), ret(78), ret(78, 2)], ["0", "3779", "0", EINVAL]); // the network header moved up by 16000
  });
});

test("a packet pointer kept across a helper that may change the packet: the kernel's verifier refuses it, the VM faults on its use", {
  skip,
}, async () => {
  const file = "test/bpf/edge/tc_stale.bpf.o";
  // bpf_skb_pull_data, bpf_skb_store_bytes, bpf_l3_csum_replace: each program alone.
  for (const name of ["stale", "stale_store", "stale_csum"]) {
    const only = (): CollectionSpec => {
      const spec = loadSpec(file);
      for (const other of Object.keys(spec.programs)) if (other !== name) delete spec.programs[other];
      return spec;
    };
    await assert.rejects(Collection.load(only(), { backend: "kernel" }), (e: Error) => {
      assert.equal(e.name, "VerifierError", name);
      assert.match(e.message, /invalid mem access/, name);
      return true;
    });
    for (const tier of ["interpreter", "js", "compiled"] as const) {
      const c = await Collection.load(only(), { backend: "vm", vm: { tier } });
      try {
        const r = await c.programs[name]?.run(pkt(60));
        assert.equal(r?.retval, 2, `${name} on the ${tier}`); // TC_ACT_SHOT, as any fault
        assert.match(
          r?.fault?.message ?? "",
          /stale packet pointer \(read before a helper/,
          `${name} on the ${tier}`,
        );
      } finally {
        c.close();
      }
    }
  }
});
