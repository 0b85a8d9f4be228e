import type { Instruction } from "../../src/asm/instruction.js";
import type { CollectionSpec, MapReference } from "../../src/object/types.js";
import type { Rng } from "./rng.js";
import { ins, ldImm64, type ProgramInput, xdpCollection } from "./spec-builder.js";

/**
 * A generator of random XDP programs shaped so the kernel verifier mostly accepts them: the
 * packet is bounds-checked once for `N` bytes and only addressed inside them; every register is
 * written before it is read; control flow is forward skips and small counted loops; helper calls
 * (map lookup/update on an array and a hash, csum_diff, trace_printk, tail calls, XDP adjusts)
 * follow the calling convention. Values come from the packet and from edge-biased constants, and
 * go through every ALU op in 32 and 64 bits, signed div/mod, sign-extending moves and loads,
 * byte swaps, atomics and JMP32 compares.
 */

// Register roles: r6 ctx, r7 packet start, r8 packet end (for the one bounds check); r5 is the
// loop counter inside loops; the rest hold values.
const CTX = 6;
const DATA = 7;
const DATA_END = 8;
const LOOP = 5;
const VALUE_REGS = [0, 1, 2, 3, 4, 5, 9] as const;

const ALU_OPS = [0x00, 0x10, 0x20, 0x30, 0x40, 0x50, 0x60, 0x70, 0x80, 0x90, 0xa0, 0xb0, 0xc0] as const;
const JMP_OPS = [0x10, 0x20, 0x30, 0x40, 0x50, 0x60, 0x70, 0xa0, 0xb0, 0xc0, 0xd0] as const;
const SIZES = [
  { ldx: 0x71, stx: 0x73, st: 0x72, n: 1 },
  { ldx: 0x69, stx: 0x6b, st: 0x6a, n: 2 },
  { ldx: 0x61, stx: 0x63, st: 0x62, n: 4 },
  { ldx: 0x79, stx: 0x7b, st: 0x7a, n: 8 },
] as const;

/** Stack layout: 8 initialised u64 slots at fp-8..fp-64, map key at fp-72, map value at fp-80, printk format at fp-104. */
const KEY = -72;
const VAL = -80;
const FMT = -104;

interface Ctx {
  rng: Rng;
  /** Bytes of packet the bounds check guarantees. */
  n: number;
  /** Registers holding initialised scalars. */
  init: Set<number>;
  /** Registers not to be written (the loop counter inside a loop). */
  frozen: Set<number>;
  allowTail: boolean;
  /** lddw slots that need a map reference, by instruction object. */
  maps: Map<Instruction, string>;
  /** `call` instructions of the subprogram, patched once its position is known. */
  calls: Instruction[];
  helpersCalled: number;
}

function readable(c: Ctx): number {
  const xs = [...c.init];
  return xs.length === 0 ? 0 : c.rng.pick(xs);
}

function writable(c: Ctx): number {
  const xs = VALUE_REGS.filter((r) => !c.frozen.has(r));
  return c.rng.pick(xs);
}

function ldMapRef(c: Ctx, dst: number, map: string): Instruction[] {
  const first: Instruction = { opcode: 0x18, dst, src: 1, off: 0, imm: 0, imm64: 0n };
  c.maps.set(first, map);
  return [first, ins(0)];
}

/** Makes sure at least two registers are readable (after helper calls clobbered r0-r5). */
function refill(c: Ctx): Instruction[] {
  const out: Instruction[] = [];
  while (c.init.size < 2) {
    const r = writable(c);
    out.push(...initReg(c, r));
  }
  return out;
}

function initReg(c: Ctx, r: number): Instruction[] {
  const rng = c.rng;
  c.init.add(r);
  switch (rng.int(3)) {
    case 0:
      return ldImm64(r, rng.edgyU64());
    case 1: {
      const s = rng.pick(SIZES);
      return [ins(s.ldx, r, DATA, rng.int(c.n - s.n + 1))];
    }
    default:
      return [ins(0xb7, r, 0, 0, rng.edgyI32())];
  }
}

function aluOp(c: Ctx): Instruction[] {
  const rng = c.rng;
  const is64 = rng.chance(0.6);
  const cls = is64 ? 0x07 : 0x04;
  const op = rng.pick(ALU_OPS);
  const dst = writable(c);
  if (!c.init.has(dst) && op !== 0xb0) return initReg(c, dst);
  const useReg = rng.chance(0.5);
  const src = readable(c);
  const bits = is64 ? 64 : 32;
  let off = 0;
  let imm = rng.edgyI32();
  if (op === 0x80) {
    c.init.add(dst);
    return [ins(cls | op, dst)];
  }
  if ((op === 0x30 || op === 0x90) && rng.chance(0.4)) off = 1; // sdiv / smod
  if (op === 0xb0 && useReg && rng.chance(0.3)) off = is64 ? rng.pick([8, 16, 32]) : rng.pick([8, 16]); // movsx
  if (useReg) {
    c.init.add(dst);
    return [ins(cls | op | 0x08, dst, src, off, 0)];
  }
  if (op === 0x60 || op === 0x70 || op === 0xc0) imm = rng.int(bits);
  if ((op === 0x30 || op === 0x90) && imm === 0) imm = rng.pick([1, -1, 3, 7]);
  c.init.add(dst);
  return [ins(cls | op, dst, 0, off, imm)];
}

function endianOp(c: Ctx): Instruction[] {
  const dst = readable(c);
  if (c.frozen.has(dst)) return [];
  const width = c.rng.pick([16, 32, 64]);
  const opcode = c.rng.pick([0xd4, 0xdc, 0xd7]); // to-le, to-be, bswap (v4)
  return [ins(opcode, dst, 0, 0, width)];
}

function packetLoad(c: Ctx): Instruction[] {
  const s = c.rng.pick(SIZES);
  const dst = writable(c);
  c.init.add(dst);
  const signed = s.n < 8 && c.rng.chance(0.25);
  const opcode = signed ? (s.ldx & 0x1f) | 0x80 : s.ldx; // ldxs{b,h,w} (v4)
  return [ins(opcode, dst, DATA, c.rng.int(c.n - s.n + 1))];
}

/** A packet access at a variable, masked offset, bounds-checked against data_end on its own. */
function varPacketAccess(c: Ctx): Instruction[] {
  // It leaves pointers in value registers; inside a loop the back edge would carry them to
  // code generated earlier as scalar uses (storing a kernel address into the packet).
  if (c.frozen.size > 0) return [];
  const free = VALUE_REGS.filter((r) => !c.frozen.has(r));
  const t1 = c.rng.pick(free);
  const t2 = c.rng.pick(free.filter((r) => r !== t1));
  const s = c.rng.pick(SIZES);
  const src = readable(c);
  const value = [...c.init].filter((r) => r !== t1 && r !== t2);
  const out = [
    ins(0xbf, t1, src),
    ins(0x57, t1, 0, 0, c.rng.pick([7, 15, 31, 63, 255])), // t1 &= mask
    ins(0xbf, t2, DATA),
    ins(0x0f, t2, t1), // t2 = data + t1
    ins(0xbf, t1, t2),
    ins(0x07, t1, 0, 0, s.n),
    ins(0x2d, t1, DATA_END, 1), // if t1 > data_end skip the access
  ];
  if (value.length > 0 && c.rng.chance(0.4)) out.push(ins(s.stx, t2, c.rng.pick(value), 0));
  else out.push(ins(s.ldx, t1, t2, 0));
  // t2 is a packet pointer now, t1 a pointer or a scalar depending on the path.
  c.init.delete(t1);
  c.init.delete(t2);
  return out;
}

function packetStore(c: Ctx): Instruction[] {
  const s = c.rng.pick(SIZES);
  const off = c.rng.int(c.n - s.n + 1);
  if (c.rng.chance(0.3)) return [ins(s.st, DATA, 0, off, c.rng.edgyI32())];
  return [ins(s.stx, DATA, readable(c), off)];
}

function stackOp(c: Ctx): Instruction[] {
  const slot = -8 * c.rng.range(1, 8);
  if (c.rng.chance(0.5)) {
    const s = c.rng.pick(SIZES);
    return [ins(s.stx, 10, readable(c), slot + c.rng.int(8 / s.n) * s.n)];
  }
  const s = c.rng.pick(SIZES);
  const dst = writable(c);
  c.init.add(dst);
  return [ins(s.ldx, dst, 10, slot + c.rng.int(8 / s.n) * s.n)];
}

function afterCall(c: Ctx, r0Scalar: boolean): void {
  for (const r of [0, 1, 2, 3, 4, 5]) c.init.delete(r);
  if (r0Scalar) c.init.add(0);
}

/** `r9` must hold a value across a call; it is the only callee-saved value register. */
function ensureR9(c: Ctx): Instruction[] {
  if (c.init.has(9)) return [];
  c.init.add(9);
  return [ins(0xb7, 9, 0, 0, c.rng.edgyI32())];
}

function arrayLookup(c: Ctx): Instruction[] {
  if (c.frozen.size > 0) return [];
  const out: Instruction[] = [...ensureR9(c)];
  const k = readable(c);
  out.push(ins(0xbf, 1, k));
  if (c.rng.chance(0.8)) out.push(ins(0x57, 1, 0, 0, 3)); // key &= 3, mostly in range
  out.push(
    ins(0x63, 10, 1, KEY),
    ins(0xbf, 2, 10),
    ins(0x07, 2, 0, 0, KEY),
    ...ldMapRef(c, 1, "array"),
    ins(0x85, 0, 0, 0, 1),
  );
  afterCall(c, false);
  const body: Instruction[] = [];
  const what = c.rng.int(5);
  if (what === 0) body.push(ins(0x79, 9, 0, 0));
  else if (what === 1) body.push(ins(0x7b, 0, 9, 0));
  else if (what === 2)
    body.push(ins(0xdb, 0, 9, 0, 0x00)); // lock *(u64 *)(r0) += r9
  else body.push(ins(0xdb, 0, 9, 0, 0x01)); // r9 = atomic_fetch_add(r0, r9)
  out.push(ins(0x15, 0, 0, body.length, 0), ...body);
  return out;
}

function hashUpdate(c: Ctx): Instruction[] {
  if (c.frozen.size > 0) return [];
  const out: Instruction[] = [...ensureR9(c)];
  const k = readable(c);
  out.push(ins(0xbf, 1, k), ins(0x57, 1, 0, 0, 15), ins(0x7b, 10, 1, KEY));
  out.push(ins(0x7b, 10, readable(c), VAL));
  out.push(ins(0xbf, 2, 10), ins(0x07, 2, 0, 0, KEY), ins(0xbf, 3, 10), ins(0x07, 3, 0, 0, VAL));
  out.push(ins(0xb7, 4, 0, 0, c.rng.pick([0, 0, 1, 2])), ...ldMapRef(c, 1, "hash"), ins(0x85, 0, 0, 0, 2));
  afterCall(c, true);
  if (c.rng.chance(0.5)) {
    // Look the same key up again and read or bump the value.
    out.push(
      ins(0xbf, 9, 0),
      ins(0xbf, 2, 10),
      ins(0x07, 2, 0, 0, KEY),
      ...ldMapRef(c, 1, "hash"),
      ins(0x85, 0, 0, 0, 1),
    );
    afterCall(c, false);
    const body = c.rng.chance(0.5) ? [ins(0xdb, 0, 9, 0, 0x00)] : [ins(0x79, 9, 0, 0)];
    out.push(ins(0x15, 0, 0, body.length, 0), ...body);
  }
  return out;
}

function csumDiff(c: Ctx): Instruction[] {
  if (c.frozen.size > 0) return [];
  const from = 4 * c.rng.int(9);
  const to = 4 * c.rng.int(9);
  const out = [
    ins(0xbf, 5, readable(c)),
    ins(0xbf, 1, 10),
    ins(0x07, 1, 0, 0, -64),
    ins(0xb7, 2, 0, 0, from),
    ins(0xbf, 3, 10),
    ins(0x07, 3, 0, 0, -32),
    ins(0xb7, 4, 0, 0, to),
    ins(0x85, 0, 0, 0, 28),
  ];
  afterCall(c, true);
  return out;
}

const FORMATS = ["v=%d\n", "u=%u x=%x", "%lld|%llx", "%ld %lu", "[%5d][%-4x]", "%llu", "%x %X"];

function printk(c: Ctx): Instruction[] {
  if (c.frozen.size > 0) return [];
  const fmt = c.rng.pick(FORMATS);
  const bytes = new Uint8Array(24);
  bytes.set(new TextEncoder().encode(fmt));
  const out: Instruction[] = [];
  for (let i = 0; i < 24; i += 8) {
    const v = Buffer.from(bytes.subarray(i, i + 8)).readBigUInt64LE(0);
    out.push(...ldImm64(1, v), ins(0x7b, 10, 1, FMT + i));
  }
  out.push(ins(0xbf, 3, readable(c)), ins(0xbf, 4, readable(c)));
  out.push(
    ins(0xbf, 1, 10),
    ins(0x07, 1, 0, 0, FMT),
    ins(0xb7, 2, 0, 0, fmt.length + 1),
    ins(0x85, 0, 0, 0, 6),
  );
  afterCall(c, true);
  return out;
}

/** A bpf-to-bpf call of the subprogram `sub` (appended after the main body) with two scalars. */
function localCall(c: Ctx): Instruction[] {
  if (c.frozen.size > 0) return [];
  const call = ins(0x85, 0, 1, 0, 0);
  c.calls.push(call);
  const out = [ins(0xbf, 2, readable(c)), ins(0xbf, 1, readable(c)), call];
  afterCall(c, true);
  return out;
}

/** The subprogram: a few ALU ops over r1 and r2 into r0. */
function subprogram(rng: Rng): Instruction[] {
  const out: Instruction[] = [ins(0xbf, 0, 1)];
  for (let i = rng.range(1, 4); i > 0; i--) {
    const op = rng.pick(ALU_OPS.filter((o) => o !== 0x80 && o !== 0xb0));
    const cls = rng.chance(0.5) ? 0x07 : 0x04;
    if (rng.chance(0.5)) out.push(ins(cls | op | 0x08, 0, rng.pick([1, 2])));
    else {
      let imm = rng.edgyI32();
      if (op === 0x60 || op === 0x70 || op === 0xc0) imm = rng.int(cls === 0x07 ? 64 : 32);
      if ((op === 0x30 || op === 0x90) && imm === 0) imm = 3;
      out.push(ins(cls | op, 0, 0, 0, imm));
    }
  }
  out.push(ins(0x95));
  return out;
}

function tailCall(c: Ctx): Instruction[] {
  if (!c.allowTail || c.frozen.size > 0) return [];
  const out: Instruction[] = [ins(0xbf, 1, CTX), ...ldMapRef(c, 2, "jump")];
  if (c.rng.chance(0.5)) out.push(ins(0xb7, 3, 0, 0, c.rng.int(5)));
  else {
    const k = readable(c);
    out.splice(0, 0, ins(0xbf, 3, k), ins(0x57, 3, 0, 0, 3));
  }
  out.push(ins(0x85, 0, 0, 0, 12));
  afterCall(c, false);
  return out;
}

function skip(c: Ctx, depth: number): Instruction[] {
  const rng = c.rng;
  const a = readable(c);
  const cls = rng.chance(0.5) ? 0x06 : 0x05;
  const op = rng.pick(JMP_OPS);
  const before = new Set(c.init);
  const body = block(c, rng.range(1, 4), depth + 1);
  // Registers first written inside the skipped block are not initialised on the other path.
  for (const r of [...c.init]) if (!before.has(r)) c.init.delete(r);
  for (const r of before) if (!c.init.has(r)) c.init.delete(r);
  const head = rng.chance(0.5)
    ? ins(cls | op, a, 0, body.length, rng.edgyI32())
    : ins(cls | op | 0x08, a, readable({ ...c, init: before }), body.length);
  return [head, ...body];
}

function loop(c: Ctx, depth: number): Instruction[] {
  if (c.frozen.size > 0) return [];
  const n = c.rng.range(1, 5);
  c.frozen.add(LOOP);
  c.init.add(LOOP);
  const before = new Set(c.init);
  const body = block(c, c.rng.range(1, 4), depth + 1, true);
  for (const r of [...c.init]) if (!before.has(r)) c.init.delete(r);
  c.frozen.delete(LOOP);
  const back = ins(0x55, LOOP, 0, -(body.length + 2), 0);
  return [ins(0xb7, LOOP, 0, 0, n), ...body, ins(0x07, LOOP, 0, 0, -1), back];
}

function block(c: Ctx, ops: number, depth: number, inLoop = false): Instruction[] {
  const out: Instruction[] = [];
  for (let i = 0; i < ops; i++) {
    out.push(...refill(c));
    const r = c.rng.int(100);
    if (r < 35) out.push(...aluOp(c));
    else if (r < 42) out.push(...endianOp(c));
    else if (r < 52) out.push(...packetLoad(c));
    else if (r < 55) out.push(...packetStore(c));
    else if (r < 58) out.push(...varPacketAccess(c));
    else if (r < 65) out.push(...stackOp(c));
    else if (r < 75 && depth < 3) out.push(...skip(c, depth));
    else if (inLoop || depth >= 2) out.push(...aluOp(c));
    else if (r < 79) out.push(...loop(c, depth));
    else if (r < 85) out.push(...arrayLookup(c));
    else if (r < 90) out.push(...hashUpdate(c));
    else if (r < 94) out.push(...csumDiff(c));
    else if (r < 96) out.push(...printk(c));
    else if (r < 98) out.push(...localCall(c));
    else out.push(...tailCall(c));
  }
  return out;
}

/** The ending: return a value, or first move the packet edges with an XDP adjust helper. */
function epilogue(c: Ctx): Instruction[] {
  const rng = c.rng;
  const out: Instruction[] = [...refill(c)];
  const ret = readable(c);
  if (rng.chance(0.1)) {
    // Grow the metadata area and write into it: the output packet starts at data_meta.
    const delta = rng.pick([-4, -8, -16, -32, -216, -220, 4, -3, -256]);
    out.push(ins(0xbf, 1, CTX), ins(0xb7, 2, 0, 0, delta), ins(0x85, 0, 0, 0, 54), ins(0xbf, 9, 0));
    out.push(ins(0x61, DATA, CTX, 8), ins(0x61, DATA_END, CTX, 0), ins(0xbf, 2, DATA), ins(0x07, 2, 0, 0, 4));
    out.push(ins(0x2d, 2, DATA_END, 1), ins(0x62, DATA, 0, 0, rng.edgyI32()));
    out.push(ins(0xbf, 0, 9), ins(0x95));
    return out;
  }
  if (rng.chance(0.3)) {
    const helper = rng.pick([44, 65, 54]); // adjust_head, adjust_tail, adjust_meta
    const delta = rng.chance(0.5)
      ? rng.range(-300, 300)
      : rng.pick([-4096, -257, -256, -242, -40, 4096, 3520, 3776]);
    out.push(ins(0xbf, 1, CTX), ins(0xb7, 2, 0, 0, delta), ins(0x85, 0, 0, 0, helper), ins(0xbf, 9, 0));
    // Packet pointers are stale after an adjust: reload, re-check, touch the first byte.
    out.push(ins(0x61, DATA, CTX, 0), ins(0x61, DATA_END, CTX, 4), ins(0xbf, 2, DATA), ins(0x07, 2, 0, 0, 1));
    out.push(ins(0x2d, 2, DATA_END, 1), ins(0x72, DATA, 0, 0, 0xaa));
    out.push(ins(0xbf, 0, 9), ins(0x95));
    return out;
  }
  out.push(ins(0xbf, 0, ret));
  if (rng.chance(0.7)) out.push(ins(0x57, 0, 0, 0, 3)); // mostly a real XDP verdict
  out.push(ins(0x95));
  return out;
}

function program(rng: Rng, name: string, ops: number, allowTail: boolean): ProgramInput {
  const n = rng.pick([14, 20, 34, 54, 64]);
  const c: Ctx = {
    rng,
    n,
    init: new Set(),
    frozen: new Set(),
    allowTail,
    maps: new Map(),
    calls: [],
    helpersCalled: 0,
  };
  const head: Instruction[] = [
    ins(0xbf, CTX, 1),
    ins(0x61, DATA, CTX, 0),
    ins(0x61, DATA_END, CTX, 4),
    ins(0xbf, 0, DATA),
    ins(0x07, 0, 0, 0, n),
    ins(0xbd, 0, DATA_END, 2), // if r0 <= data_end goto body
    ins(0xb7, 0, 0, 0, 2),
    ins(0x95),
  ];
  for (let s = 1; s <= 8; s++) head.push(ins(0x7a, 10, 0, -8 * s, rng.edgyI32()));
  for (const r of VALUE_REGS) head.push(...initReg(c, r));
  const main = [...head, ...block(c, ops, 0), ...epilogue(c)];
  const insns = c.calls.length > 0 ? [...main, ...subprogram(rng)] : main;
  for (const call of c.calls) call.imm = main.length - (insns.indexOf(call) + 1);
  const references: MapReference[] = [];
  insns.forEach((x, i) => {
    const m = c.maps.get(x);
    if (m !== undefined) references.push({ insn: i, kind: "map", map: m, offset: 0 });
  });
  const functions = [{ name, start: 0, end: main.length, section: "xdp" }];
  if (insns.length > main.length)
    functions.push({ name: "sub", start: main.length, end: insns.length, section: ".text" });
  return { name, instructions: insns, references, functions };
}

/**
 * A random collection: an entry program `main`, two leaf programs in slots 0 and 1 of the prog
 * array `jump` and, sometimes, `main` itself in slot 2 (a tail-call loop that runs into the
 * 33-call limit); slots 3 and 4 stay empty. Maps: `array` (4 × u64; plain or per-CPU) and `hash`
 * (u64 → u64, 8 entries, so updates hit E2BIG or evict; plain, per-CPU, LRU or LRU per-CPU).
 */
export function generateCollection(rng: Rng, file: string): CollectionSpec {
  const main = program(rng, "main", rng.range(4, 14), true);
  const leaf0 = program(rng, "leaf0", rng.range(1, 5), false);
  const leaf1 = program(rng, "leaf1", rng.range(1, 5), false);
  const contents = [
    { key: 0, value: "leaf0" },
    { key: 1, value: "leaf1" },
  ];
  if (rng.chance(0.3)) contents.push({ key: 2, value: "main" });
  return xdpCollection(
    file,
    [main, leaf0, leaf1],
    [
      {
        name: "array",
        type: rng.pick(["array", "array", "percpu_array"] as const),
        keySize: 4,
        valueSize: 8,
        maxEntries: 4,
      },
      {
        name: "hash",
        type: rng.pick(["hash", "hash", "percpu_hash", "lru_hash", "lru_percpu_hash"] as const),
        keySize: 8,
        valueSize: 8,
        maxEntries: 8,
      },
      { name: "jump", type: "prog_array", keySize: 4, valueSize: 4, maxEntries: 5, contents },
    ],
  );
}
