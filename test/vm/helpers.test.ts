/**
 * VM helpers without a kernel, against references written independently of src/vm/helpers.ts:
 * bpf_csum_diff against a 16-bit ones'-complement sum, bpf_redirect's flag rule, and the XDP
 * adjust bounds derived from the frame layout constants. The exact values were compared with the
 * kernel in test/kernel/vm-vs-kernel-xdp.test.ts.
 */
import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { test } from "node:test";
import type { LoadedCollection, RunResult } from "../../src/backend/types.js";
import { loadCollectionSpec } from "../../src/object/load-collection-spec.js";
import { loadVmCollection } from "../../src/vm/vm-collection.js";
import {
  ETH_HLEN,
  XDP_FRAME_SIZE,
  XDP_HEADROOM,
  XDP_PAGE_SIZE,
  XDP_TAILROOM,
} from "../../src/vm/xdp-buffer.js";

const FILE = "test/bpf/edge/xdp_helpers.bpf.o";
/** The adjust helpers with bpf_xdp_adjust_meta, an object of its own (xdp_meta.bpf.c says why). */
const META_FILE = "test/bpf/edge/xdp_meta.bpf.o";
const load = (file = FILE) =>
  loadVmCollection(loadCollectionSpec(new Uint8Array(readFileSync(file)), { file }));

const s64 = (x: number): Uint8Array => {
  const b = new Uint8Array(8);
  new DataView(b.buffer).setBigInt64(0, BigInt(x), true);
  return b;
};
function configure(c: LoadedCollection, values: Record<number, number>): void {
  for (let i = 0; i < 8; i++) c.maps.res?.set(i, s64(0));
  for (const [k, v] of Object.entries(values)) c.maps.cfg?.set(Number(k), s64(v));
}
function result(c: LoadedCollection, i: number): number {
  const v = c.maps.res?.get(i) as Uint8Array;
  return Number(new DataView(v.buffer, v.byteOffset).getBigInt64(0, true));
}

/** RFC 1071 style: 16-bit little-endian words, ones'-complement sum, end-around carry. */
function reference(from: Uint8Array, to: Uint8Array, seed: number): number {
  let s = (seed & 0xffff) + (seed >>> 16);
  for (let i = 0; i < from.length; i += 2)
    s += ~((from[i] as number) | ((from[i + 1] as number) << 8)) & 0xffff;
  for (let i = 0; i < to.length; i += 2) s += (to[i] as number) | ((to[i + 1] as number) << 8);
  while (s > 0xffff) s = (s & 0xffff) + (s >>> 16);
  return s;
}

test("bpf_csum_diff matches an independent ones'-complement sum (mod 0xffff) on random data", async () => {
  const c = load();
  const prog = c.programs.csum;
  assert.ok(prog);
  let x = 12345;
  const rnd = () => {
    x = (Math.imul(x, 1103515245) + 12345) >>> 0;
    return x;
  };
  const pkt = Uint8Array.from({ length: 1100 }, () => rnd() & 255);
  for (let n = 0; n < 60; n++) {
    const a = (rnd() % 129) * 4;
    const b = (rnd() % 129) * 4;
    const seed = rnd();
    configure(c, { 0: a, 1: b, 2: seed });
    const r: RunResult = await prog.run(pkt);
    assert.equal(r.retval, 2);
    const got = result(c, 4);
    assert.ok(got >= 0 && got <= 0xffff, `folded to 16 bits: ${got}`);
    const want = reference(pkt.subarray(0, a), pkt.subarray(512, 512 + b), seed);
    assert.equal(got % 0xffff, want % 0xffff, `from ${a} to ${b} seed ${seed}`);
  }
});

test("bpf_redirect: XDP_REDIRECT with flags 0, XDP_ABORTED otherwise; the target is reported", async () => {
  const c = load();
  const prog = c.programs.redirect;
  assert.ok(prog);
  configure(c, { 3: 9, 4: 0 });
  const r = await prog.run(new Uint8Array(14));
  assert.equal(r.retval, 4);
  assert.deepEqual(r.redirect, { kind: "ifindex", ifindex: 9, flags: 0n });
  configure(c, { 3: 9, 4: 2 });
  assert.equal((await prog.run(new Uint8Array(14))).retval, 0);
});

test("xdp adjust bounds follow the frame layout: head, meta and tail limits", async () => {
  const c = load(META_FILE);
  const prog = c.programs.adjust;
  assert.ok(prog);
  const len = 100;
  const run = async (h: number, m: number, t: number) => {
    configure(c, { 0: h, 1: m, 2: t });
    const r = await prog.run(new Uint8Array(len));
    return { ret: [result(c, 0), result(c, 1), result(c, 2)], out: r.dataOut };
  };
  const lowest = XDP_FRAME_SIZE - XDP_HEADROOM;
  assert.deepEqual((await run(lowest, 0, 0)).ret, [0, 0, 0]);
  assert.deepEqual((await run(lowest - 1, 0, 0)).ret, [-22, 0, 0]);
  assert.deepEqual((await run(len - ETH_HLEN, 0, 0)).ret, [0, 0, 0]);
  assert.deepEqual((await run(len - ETH_HLEN + 1, 0, 0)).ret, [-22, 0, 0]);
  assert.deepEqual((await run(-8, -8, 0)).ret, [0, 0, 0]);
  assert.deepEqual((await run(0, -2, 0)).ret, [0, -13, 0]);
  const maxGrow = XDP_PAGE_SIZE - XDP_TAILROOM - XDP_HEADROOM - len;
  const grown = await run(0, 0, maxGrow);
  assert.deepEqual(grown.ret, [0, 0, 0]);
  assert.equal(grown.out.length, len + maxGrow);
  assert.ok(
    grown.out.subarray(len).every((b) => b === 0),
    "growth zero-filled",
  );
  assert.deepEqual((await run(0, 0, maxGrow + 1)).ret, [0, 0, -22]);
  assert.deepEqual((await run(0, 0, ETH_HLEN - len - 1)).ret, [0, 0, -22]);
});
