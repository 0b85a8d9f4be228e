/**
 * The VM against the running kernel: XDP frame layout and the adjust helpers at and past their
 * bounds, bpf_csum_diff, bpf_redirect, time and random helpers, packets from 14 bytes to past the
 * linear limit, every supported map type updated from a program, global data, printk and the
 * ring buffer (test/bpf/edge/xdp_helpers.bpf.c, xdp_meta.bpf.c and maps_globals.bpf.c). Both engines run the
 * same object through `Collection.load(spec, { backend })`; verdicts, output packets, trace
 * messages and map contents must be equal.
 */
import assert from "node:assert/strict";
import { test } from "node:test";
import type { LoadedCollection } from "../../src/backend/types.js";
import { Collection } from "../../src/collection.js";
import { RingbufMap } from "../../src/vm/maps/index.js";
import { hex, loadSpec as spec, onBoth } from "./both-engines.js";
import { kernelRefusesHelper, kernelSkipReason } from "./support.js";

const skip = kernelSkipReason();
const HELPERS = "test/bpf/edge/xdp_helpers.bpf.o";
/** The adjust helpers with bpf_xdp_adjust_meta: an object of its own (xdp_meta.bpf.c says why). */
const META = "test/bpf/edge/xdp_meta.bpf.o";
const metaSkip = skip ?? (await kernelRefusesHelper(META, "bpf_xdp_adjust_meta"));
const MAPS = "test/bpf/edge/maps_globals.bpf.o";

/** A packet whose bytes are all distinct-ish, EtherType IPv4. */
function pkt(n: number): Uint8Array {
  const p = new Uint8Array(n);
  for (let i = 0; i < n; i++) p[i] = (i * 7 + 3) & 255;
  if (n > 13) {
    p[12] = 8;
    p[13] = 0;
  }
  return p;
}
const s64 = (x: number): Uint8Array => {
  const b = new Uint8Array(8);
  new DataView(b.buffer).setBigInt64(0, BigInt(x), true);
  return b;
};
function results(c: LoadedCollection): number[] {
  const res = c.maps.res;
  assert.ok(res);
  const out: number[] = [];
  for (let i = 0; i < 8; i++) {
    const v = res.get(i) as Uint8Array;
    out.push(Number(new DataView(v.buffer, v.byteOffset).getBigInt64(0, true)));
  }
  return out;
}
function configure(c: LoadedCollection, values: Record<number, number>): void {
  const { cfg, res } = c.maps;
  assert.ok(cfg && res);
  for (let i = 0; i < 8; i++) res.set(i, s64(0));
  for (const [k, v] of Object.entries(values)) cfg.set(Number(k), s64(v));
}

// [head, meta, tail] deltas: at, just inside and just past every bound of a 60-byte packet.
const ADJUST: [number, number, number][] = [
  [0, 0, 0],
  [-216, 0, 0], // data down to the xdp_frame end (40)
  [-217, 0, 0],
  [-256, 0, 0],
  [46, 0, 0], // 14 bytes left
  [47, 0, 0],
  [-4, -4, 0],
  [0, -32, 0],
  [0, -36, 0], // more than 32 bytes of metadata: accepted by 6.18
  [-100, -116, 0], // metadata down to the frame end
  [-100, -120, 0],
  [0, -3, 0], // not a whole word: EACCES
  [0, 4, 0], // past data
  [-200, -16, 0],
  [-212, -8, 0], // head leaves no room for this much metadata
  [0, 0, -46],
  [0, 0, -47],
  [0, 0, 100], // growth zero-filled
  [0, 0, 3716], // page minus tailroom is 3776
  [0, 0, 3717],
  [-20, 0, 3716],
  [20, 0, 3736],
  [-16, -8, 10],
];

test("xdp_adjust_head/tail agree with the kernel at and past every bound", { skip }, async () => {
  const r = await onBoth(HELPERS, async (c) => {
    const prog = c.programs.adjust_head_tail;
    assert.ok(prog);
    const out: unknown[] = [];
    for (const [h, m, t] of ADJUST) {
      if (m !== 0) continue;
      configure(c, { 0: h, 2: t });
      const run = await prog.run(pkt(60));
      out.push({ case: [h, t], retval: run.retval, res: results(c), dataOut: hex(run.dataOut) });
    }
    return out;
  });
  assert.deepEqual(r.vm, r.kernel);
  // Not vacuous: the kernel did refuse some and accept others.
  const k = r.kernel as { case: number[]; res: number[]; dataOut: string }[];
  const at = (h: number, t: number) => k.find((x) => x.case[0] === h && x.case[1] === t);
  assert.equal(at(-217, 0)?.res[0], -22);
  assert.equal(at(-216, 0)?.res[0], 0);
  assert.ok(at(0, 100)?.dataOut.endsWith("00".repeat(100)), "tail growth is zero-filled");
});

test("xdp_adjust_meta agrees with the kernel at and past every bound, with head and tail", {
  skip: metaSkip,
}, async () => {
  const r = await onBoth(META, async (c) => {
    const prog = c.programs.adjust;
    assert.ok(prog);
    const out: unknown[] = [];
    for (const [h, m, t] of ADJUST) {
      configure(c, { 0: h, 1: m, 2: t });
      const run = await prog.run(pkt(60));
      out.push({ case: [h, m, t], retval: run.retval, res: results(c), dataOut: hex(run.dataOut) });
    }
    return out;
  });
  assert.deepEqual(r.vm, r.kernel);
  // Not vacuous: the kernel did refuse some and accept others.
  const k = r.kernel as { res: number[]; dataOut: string }[];
  assert.equal(k[2]?.res[0], -22);
  assert.equal(k[1]?.res[0], 0);
  assert.ok(k[6]?.dataOut.startsWith("a0a1a2a3"), "metadata written by the program is in the output");
  assert.ok(k[17]?.dataOut.endsWith("00".repeat(100)), "tail growth is zero-filled");
});

test("repeat runs share one buffer, as BPF_PROG_TEST_RUN does", { skip }, async () => {
  const r = await onBoth(HELPERS, async (c) => {
    const prog = c.programs.eat_byte;
    assert.ok(prog);
    const out: unknown[] = [];
    for (const repeat of [1, 5, 50]) {
      const run = await prog.run(pkt(60), { repeat });
      out.push({ repeat, retval: run.retval, dataOut: hex(run.dataOut) });
    }
    return out;
  });
  assert.deepEqual(r.vm, r.kernel);
  assert.equal((r.kernel[1] as { dataOut: string }).dataOut.length, 2 * 55);
  assert.equal((r.kernel[2] as { retval: number }).retval, 0, "the packet got too short: XDP_ABORTED");
});

test("bpf_csum_diff gives the kernel's folded sums", { skip }, async () => {
  const cases: [number, number, number][] = [
    [4, 0, 0],
    [0, 4, 0],
    [8, 8, 0],
    [512, 512, 0],
    [512, 0, 0xffffffff],
    [0, 0, 12345],
    [0, 0, 0xdeadbeef],
    [4, 4, 0xdeadbeef],
    [100, 20, 7],
    [20, 100, 0xffff],
    [0, 0, 0],
  ];
  const r = await onBoth(HELPERS, async (c) => {
    const prog = c.programs.csum;
    assert.ok(prog);
    const out: number[][] = [];
    for (const [a, b, seed] of cases) {
      configure(c, { 0: a, 1: b, 2: seed });
      const run = await prog.run(pkt(1100));
      out.push([run.retval, results(c)[4] as number]);
    }
    return out;
  });
  assert.deepEqual(r.vm, r.kernel);
  assert.equal(r.kernel[0]?.[1], 56811);
});

test("bpf_redirect returns XDP_REDIRECT, or XDP_ABORTED with flags", { skip }, async () => {
  const r = await onBoth(HELPERS, async (c) => {
    const prog = c.programs.redirect;
    assert.ok(prog);
    const out: number[] = [];
    for (const [ifindex, flags] of [
      [1, 0],
      [7, 0],
      [1, 1],
      [1, -1],
    ] as const) {
      configure(c, { 3: ifindex, 4: flags });
      out.push((await prog.run(pkt(60))).retval);
    }
    return out;
  });
  assert.deepEqual(r.vm, r.kernel);
  assert.deepEqual(r.kernel, [4, 4, 0, 0]);
});

test("ktime is monotonic, prandom and the CPU id are there", { skip }, async () => {
  const r = await onBoth(HELPERS, async (c) => {
    const prog = c.programs.time_rand;
    assert.ok(prog);
    configure(c, {});
    const run = await prog.run(pkt(60));
    return [run.retval, ...results(c).slice(0, 4)];
  });
  assert.deepEqual(r.vm, r.kernel);
  assert.deepEqual(r.kernel, [2, 1, 1, 1, 1]);
});

test("packet sizes: 14 bytes, the 3520-byte linear limit, fragments up to 17 pages", { skip }, async () => {
  const sizes = [14, 15, 100, 3519, 3520, 3521, 5000, 3520 + 17 * 4096];
  const r = await onBoth(HELPERS, async (c) => {
    const { frags_len, ctx_fields } = c.programs;
    assert.ok(frags_len && ctx_fields);
    const out: unknown[] = [];
    for (const n of sizes) {
      configure(c, {});
      const a = await frags_len.run(pkt(n));
      const b = await ctx_fields.run(pkt(n), { ingressIfindex: 1, rxQueueIndex: 0 });
      out.push({ n, a: a.retval, b: b.retval, same: hex(a.dataOut) === hex(pkt(n)), res: results(c) });
    }
    for (const n of [13, 3521 + 17 * 4096]) {
      await assert.rejects(frags_len.run(pkt(n)), `${n} bytes refused`);
    }
    return out;
  });
  assert.deepEqual(r.vm, r.kernel);
  const big = r.kernel[5] as { res: number[]; same: boolean };
  assert.equal(big.res[2], 3520, "only the linear part is directly addressable");
  assert.equal(big.same, true, "fragments come back in the output");
});

/** Map contents as sorted `key=value` strings; per-CPU values summed over CPUs, per key. */
function dump(c: LoadedCollection): Record<string, string[]> {
  const out: Record<string, string[]> = {};
  for (const [name, m] of Object.entries(c.maps)) {
    if (m.spec.typeName === "ringbuf") continue;
    const percpu = m.spec.typeName.startsWith("percpu") || m.spec.typeName === "lru_percpu_hash";
    out[name] = [...m.entries()]
      .map(([k, v]) => {
        if (!percpu) return `${hex(k)}=${hex(v)}`;
        const dv = new DataView(v.buffer, v.byteOffset, v.byteLength);
        let sum = 0n;
        for (let i = 0; i + 8 <= v.length; i += 8) sum += dv.getBigUint64(i, true);
        return `${hex(k)}=sum ${sum}`;
      })
      .sort();
  }
  return out;
}

test("maps of every supported type, global data, printk and the ring buffer agree", { skip }, async () => {
  const r = await onBoth(MAPS, async (c) => {
    const { update_all, rb_query } = c.programs;
    assert.ok(update_all && rb_query);
    const runs: unknown[] = [];
    for (const [k, n] of [
      [0, 60],
      [1, 61],
      [2, 62],
      [3, 63],
      [1, 100],
      [0, 14],
    ] as const) {
      const p = new Uint8Array(n);
      p[12] = 8;
      if (n > 14) p[14] = k;
      const run = await update_all.run(p);
      runs.push({ retval: run.retval, trace: run.trace });
    }
    await rb_query.run(pkt(60));
    return { runs, maps: dump(c) };
  });
  assert.deepEqual(r.vm, r.kernel);
  const k = r.kernel;
  assert.deepEqual((k.runs[0] as { trace: string[] }).trace, [
    "k=0 len=60 tag=tsbpf",
    "five 0 60 beef 101 A",
  ]);
  assert.deepEqual(k.maps[".data"], ["00000000=6a00000000000000"], ".data written by the program");
  // Ring positions seen by the program: 11 records of 16 bytes plus 8-byte headers (one discarded).
  assert.ok(k.maps.hash?.includes("0d000000=2001000000000000"));
});

test("ring-buffer records drained by user space on the VM match what the program wrote", async () => {
  const c = await Collection.load(spec(MAPS), { backend: "vm" });
  try {
    const { update_all } = c.programs;
    const rb = c.maps.rb;
    assert.ok(update_all && rb instanceof RingbufMap);
    for (const k of [0, 2]) {
      const p = new Uint8Array(60);
      p[12] = 8;
      p[14] = k;
      await update_all.run(p);
    }
    // k=0: output + submitted reserve; k=2: output only (the reserved record was discarded).
    assert.deepEqual(rb.drain().map(hex), [
      "3c000000000000006500000000000000",
      "3c000000000000000300000000000000",
      "3c000000020000006600000000000000",
    ]);
    assert.deepEqual(rb.drain(), []);
  } finally {
    c.close();
  }
});

test("xdp_adjust_tail on fragmented packets: grow the last page, shrink through the fragments", {
  skip,
}, async () => {
  const cases: [number, number][] = [
    [3521, 1],
    [3521, 4095],
    [3521, 4096], // the last fragment's page is full
    [3521, -1],
    [3521, -2], // past the fragments into the linear part
    [5000, -4986],
    [5000, -4987], // would leave less than 14 bytes
    [8192, 1],
    [3520 + 8192, 1],
    [3520 + 8192, -4096],
    [3620, 3000],
  ];
  const r = await onBoth(HELPERS, async (c) => {
    const prog = c.programs.frags_tail;
    assert.ok(prog);
    const out: unknown[] = [];
    for (const [n, delta] of cases) {
      configure(c, { 2: delta });
      const run = await prog.run(pkt(n));
      const res = results(c);
      out.push({ n, delta, retval: run.retval, ret: res[2], linear: res[5], dataOut: hex(run.dataOut) });
    }
    return out;
  });
  assert.deepEqual(r.vm, r.kernel);
  const k = r.kernel as { ret: number; dataOut: string }[];
  assert.equal(k[2]?.ret, -22);
  assert.equal(k[1]?.dataOut.length, 2 * (3521 + 4095));
});
