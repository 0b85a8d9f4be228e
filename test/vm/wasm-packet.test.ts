import assert from "node:assert/strict";
import { test } from "node:test";
import type { Instruction } from "../../src/asm/instruction.js";
import { HelperId } from "../../src/abi/helper-id.js";
import { isWasm, wasmStats } from "../../src/vm/wasm/wasm-tier.js";
import { bytecodeCollection } from "../fuzz/harness.js";
import { insn as I } from "../support/insn.js";
import { loadTier, runTier } from "./compiler-support.js";

// The wasm tier's one-compare packet check (translate.ts, packetFast): an access inside the XDP
// packet's window goes straight to the packet; everything else — just past either end, through
// a pointer whose high word a large offset would carry into, after a helper moved the window —
// goes the general way and faults (or reads another region) at the interpreter's instruction,
// with its message and count. Each case runs on the interpreter and on the wasm tier.

const EXIT = I(0x95);
const LDX: Record<number, number> = { 1: 0x71, 2: 0x69, 4: 0x61, 8: 0x79 };
const STX: Record<number, number> = { 1: 0x73, 2: 0x6b, 4: 0x63, 8: 0x7b };

/** A packet of `n` bytes, byte i = i * 7 + 3. */
const packet = (n: number): Uint8Array => Uint8Array.from({ length: n }, (_, i) => (i * 7 + 3) & 0xff);
const PACKETS = [packet(14), packet(60), packet(64), packet(257), packet(1000)];

/**
 * sum_bytes's loop (test/bpf/bench/loops.bpf.c as clang emits it), varied: the bound checked is
 * `r5 + check > data_end`, the access a `size`-byte load (or store) at `base + off` where base is
 * r5 (the checked pointer) or r7 = r5 + i (a pointer the check does not cover), stepping `step`.
 */
function loop(o: {
  check: number;
  off: number;
  size: number;
  store?: boolean;
  other?: boolean;
  step?: number;
}) {
  const access = o.store
    ? I(STX[o.size] as number, o.other ? 7 : 5, 1, o.off)
    : I(LDX[o.size] as number, 6, o.other ? 7 : 5, o.off);
  const body: Instruction[] = [
    I(0xbf, 7, 5), // r7 = r5
    I(0x0f, 7, 2), // r7 += r2
    access,
    I(0x0f, 1, 6), // r1 += r6
    I(0x07, 2, 0, 0, o.step ?? 1),
  ];
  return [
    I(0xb7, 2, 0, 0, 0),
    I(0x61, 3, 1, 4), // r3 = data_end
    I(0x61, 4, 1, 0), // r4 = data
    I(0xb7, 1, 0, 0, 0),
    I(0xb7, 6, 0, 0, 0),
    I(0xbf, 5, 4), // loop: r5 = r4
    I(0x0f, 5, 2), // r5 += r2
    I(0xbf, 0, 5),
    I(0x07, 0, 0, 0, o.check),
    I(0x2d, 0, 3, body.length + 1), // if r0 > r3 goto out
    ...body,
    I(0xa5, 2, 0, -(body.length + 6), 1024), // if r2 < 1024 goto loop
    I(0xbf, 0, 1), // out: r0 = r1 & 0xffff
    I(0x57, 0, 0, 0, 0xffff),
    EXIT,
  ];
}

/** One access of `size` bytes at `off` from data (`from` 0) or data_end (`from` 4), then exit. */
function single(from: 0 | 4, off: number, size: number, store = false): Instruction[] {
  return [
    I(0x61, 2, 1, from),
    I(0xb7, 0, 0, 0, 9),
    store ? I(STX[size] as number, 2, 0, off) : I(LDX[size] as number, 0, 2, off),
    EXIT,
  ];
}

/** Runs `insns` on every packet on both tiers; returns how many runs faulted on the interpreter. */
function agree(what: string, insns: Instruction[]): number {
  const spec = bytecodeCollection(insns);
  const ref = loadTier(spec, "interpreter");
  const wasm = loadTier(spec, "compiled");
  assert.ok(typeof ref !== "string" && typeof wasm !== "string", `${what}: loads`);
  let faults = 0;
  try {
    assert.ok(isWasm(wasm.programs.fuzz?.compiled as never), `${what}: on the wasm tier`);
    for (const p of PACKETS) {
      const a = runTier(ref, "fuzz", p);
      assert.equal(runTier(wasm, "fuzz", p), a, `${what}, ${p.length}-byte packet`);
      if (a.includes("VmFault")) faults++;
    }
  } finally {
    ref.close();
    wasm.close();
  }
  return faults;
}

test("wasm tier: a loop's packet loads and stores inside the window checked by the program agree, and never fault", () => {
  for (const size of [1, 2, 4, 8]) {
    assert.equal(agree(`load ${size}`, loop({ check: size, off: 0, size })), 0);
    assert.equal(agree(`store ${size}`, loop({ check: size, off: 0, size, store: true })), 0);
    assert.equal(agree(`load ${size} at +1`, loop({ check: size + 1, off: 1, size })), 0);
  }
});

test("wasm tier: an access just outside the range the loop checked faults at its instruction, as on the interpreter", () => {
  const n = PACKETS.length;
  const deopts = wasmStats.deopts;
  // One byte past what the check covers: the last pass reads or writes data_end.
  assert.equal(agree("load past the check", loop({ check: 1, off: 1, size: 1 })), n);
  assert.equal(agree("store past the check", loop({ check: 1, off: 1, size: 1, store: true })), n);
  for (const size of [2, 4, 8])
    assert.equal(agree(`${size}-byte load, 1-byte check`, loop({ check: 1, off: 0, size })), n);
  // One byte before the window, on the first pass.
  assert.equal(agree("load before data", loop({ check: 1, off: -1, size: 1 })), n);
  // The check is on r5, the access through r7 = r5 + i, which runs off the end halfway.
  assert.equal(agree("bound on another register", loop({ check: 1, off: 0, size: 1, other: true })), n);
  assert.equal(
    agree("store through another register", loop({ check: 1, off: 0, size: 1, other: true, store: true })),
    n,
  );
  // Faults through packet pointers leave the loop-fast variant in place.
  assert.equal(wasmStats.deopts, deopts);
});

test("wasm tier: packet accesses at each end of the window, every size, agree", () => {
  let faults = 0;
  for (const size of [1, 2, 4, 8]) {
    for (const store of [false, true]) {
      faults += agree(`first byte ${size}`, single(0, 0, size, store));
      faults += agree(`before data ${size}`, single(0, -1, size, store));
      faults += agree(`last bytes ${size}`, single(4, -size, size, store));
      faults += agree(`across data_end ${size}`, single(4, -size + 1, size, store));
      faults += agree(`at data_end ${size}`, single(4, 0, size, store));
    }
  }
  // Before data, across data_end and at data_end fault on every packet; the others never.
  assert.equal(faults, 4 * 2 * 3 * PACKETS.length);
});

test("wasm tier: a packet pointer moved below its high word and a large offset back is not the packet", () => {
  // data - 5000 borrows from the pointer's high word (another region's id); the access at +5000
  // has the interpreter's address (that region's, which reads zeros), not the packet's: a check
  // that took the 64-bit sum for the address would read the packet's first bytes here.
  for (const size of [1, 4, 8]) {
    for (const store of [false, true]) {
      const insns = [
        I(0x61, 2, 1, 0),
        I(0x07, 2, 0, 0, -5000),
        I(0xb7, 0, 0, 0, 9),
        store ? I(STX[size] as number, 2, 0, 5000) : I(LDX[size] as number, 0, 2, 5000),
        EXIT,
      ];
      agree(`carry ${size}${store ? " store" : ""}`, insns);
    }
  }
});

test("wasm tier: after bpf_xdp_adjust_head and _tail the packet check follows the moved window", () => {
  const afterHelper = (helper: number, delta: number, from: 0 | 4, off: number): Instruction[] => [
    I(0xbf, 6, 1), // r6 = ctx
    I(0xb7, 2, 0, 0, delta),
    I(0x85, 0, 0, 0, helper),
    I(0x61, 2, 6, from),
    I(0xb7, 0, 0, 0, 9),
    I(0x71, 0, 2, off),
    EXIT,
  ];
  const n = PACKETS.length;
  // Head moved 14 bytes in: the new first byte reads; the one before it, inside the old window,
  // faults (the 14-byte packet cannot lose its Ethernet header: its head stays, and data[-1] faults).
  assert.equal(agree("head +14, data[0]", afterHelper(HelperId.xdp_adjust_head, 14, 0, 0)), 0);
  assert.equal(agree("head +14, data[-1]", afterHelper(HelperId.xdp_adjust_head, 14, 0, -1)), n);
  // Head moved 16 bytes out: the new bytes read.
  assert.equal(agree("head -16, data[0]", afterHelper(HelperId.xdp_adjust_head, -16, 0, 0)), 0);
  // Tail cut by 8: the last byte left reads, the old last byte faults.
  assert.equal(agree("tail -8, end[-1]", afterHelper(HelperId.xdp_adjust_tail, -8, 4, -1)), 0);
  assert.equal(agree("tail -8, old end[-1]", afterHelper(HelperId.xdp_adjust_tail, -8, 4, 7)), n);
});

test("wasm tier: a loop reading the stack through a copied pointer leaves the loop-fast variant once, then runs the general one in wasm", () => {
  // Writes i at r10 - 64 + 8i, then sums the eight words back (28), through r3 = r10 - 64 + 8i.
  const slots = (access: Instruction): Instruction[] => [
    I(0xbf, 3, 10),
    I(0x07, 3, 0, 0, -64),
    I(0xbf, 5, 4),
    I(0x67, 5, 0, 0, 3),
    I(0x0f, 3, 5),
    access,
  ];
  const insns = [
    I(0xb7, 4, 0, 0, 0),
    I(0xb7, 0, 0, 0, 0),
    ...slots(I(0x7b, 3, 4, 0)),
    I(0x07, 4, 0, 0, 1),
    I(0xa5, 4, 0, -8, 8),
    I(0xb7, 4, 0, 0, 0),
    ...slots(I(0x79, 6, 3, 0)),
    I(0x0f, 0, 6),
    I(0x07, 4, 0, 0, 1),
    I(0xa5, 4, 0, -9, 8),
    EXIT,
  ];
  const deopts = wasmStats.deopts;
  const handOffs = wasmStats.handOffs;
  assert.equal(agree("stack through a pointer", insns), 0);
  const ref = loadTier(bytecodeCollection(insns), "interpreter");
  assert.ok(typeof ref !== "string");
  assert.match(runTier(ref, "fuzz", packet(60)), /^\{"retval":28,/);
  ref.close();
  // The first run leaves at the first store (the rest of it runs on the JS tier); the others stay in wasm.
  assert.equal(wasmStats.deopts - deopts, 1);
  assert.equal(wasmStats.handOffs - handOffs, 1);
  // A packet loop that stays in the packet never leaves.
  const before = [wasmStats.deopts, wasmStats.handOffs];
  assert.equal(agree("packet loop", loop({ check: 1, off: 0, size: 1 })), 0);
  assert.deepEqual([wasmStats.deopts, wasmStats.handOffs], before);
});

test("wasm tier: 4-byte context loads at every offset, through r1, a copy of it and another block, agree", () => {
  let faults = 0;
  let runs = 0;
  for (let off = -8; off <= 32; off++) {
    const via = [
      // r1 itself, in the entry block
      [I(0xb7, 0, 0, 0, 9), I(0x61, 0, 1, off), EXIT],
      // a copy of r1 (what clang does: r6 = r1)
      [I(0xbf, 6, 1), I(0xb7, 0, 0, 0, 9), I(0x61, 0, 6, off), EXIT],
      // in a block of its own, after a jump
      [I(0xb7, 0, 0, 0, 9), I(0x05, 0, 0, 0), I(0x61, 0, 1, off), EXIT],
      // a byte load, which the context's words do not serve
      [I(0xb7, 0, 0, 0, 9), I(0x71, 0, 1, off), EXIT],
    ];
    for (const insns of via) {
      faults += agree(`ctx ${off}`, insns);
      runs += PACKETS.length;
    }
  }
  // Offsets outside the context fault; the fields (and whatever else the interpreter allows) read.
  assert.ok(faults > 0 && faults < runs, `${faults} of ${runs} runs faulted`);
});
