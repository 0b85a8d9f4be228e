import { disassembleProgram } from "../../src/asm/disasm.js";
import { decodeInstructions, type Instruction } from "../../src/asm/instruction.js";
import { isTsbpfError } from "../../src/errors.js";
import { loadCollectionSpec } from "../../src/object/load-collection-spec.js";
import type { CollectionSpec } from "../../src/object/types.js";
import { ProgType } from "../../src/abi/index.js";
import { loadVmCollection } from "../../src/vm/vm-collection.js";
import type { Rng } from "../differential/rng.js";
import { xdpCollection } from "../differential/spec-builder.js";

/**
 * The fuzzing oracles. Hostile input may only end in a typed tsbpf error or a clean result: a
 * RangeError/TypeError (or any other untyped throw), a non-error throw, or a step that takes
 * longer than {@link SLOW_MS} is a finding.
 */

/** A step slower than this is reported (the VM's instruction budget should bound every run). */
export const SLOW_MS = 5_000;
/** Instruction budget for fuzzed runs. */
export const FUZZ_BUDGET = 20_000;

/**
 * Open VM defects the fuzzers know about (docs/differential.md), by name: inputs that would hit
 * one are counted and not run, so a campaign keeps finding new defects. None is open now (the
 * huge prog-array allocation, found by seed 3, is fixed and kept as a regression fixture).
 */
export const KNOWN_OPEN: Record<string, (spec: CollectionSpec) => boolean> = {};

/** Inputs set aside because they hit a known open defect, by defect. */
export const knownOpenHits: Record<string, number> = {};

/** How far inputs got, to show the fuzzers reach past the first check. */
export const reached = { parseRefused: 0, parsed: 0, vmRefused: 0, vmLoaded: 0, runs: 0, faults: 0 };

/** What went wrong with one input. */
export interface Finding {
  stage: string;
  error: string;
}

function untyped(stage: string, e: unknown): Finding | undefined {
  if (isTsbpfError(e)) return undefined;
  const err = e instanceof Error ? `${e.name}: ${e.message}` : `non-error thrown: ${String(e)}`;
  const at = e instanceof Error ? (e.stack?.split("\n")[1]?.trim() ?? "") : "";
  return { stage, error: `${err} ${at}`.trim() };
}

function timed<T>(stage: string, f: () => T): { value?: T; finding?: Finding } {
  const t0 = Date.now();
  try {
    const value = f();
    const ms = Date.now() - t0;
    return ms > SLOW_MS ? { value, finding: { stage, error: `took ${ms} ms` } } : { value };
  } catch (e) {
    const finding = untyped(stage, e);
    return finding === undefined ? {} : { finding };
  }
}

/** A packet for fuzzed runs: Ethernet/IPv4/TCP-shaped bytes with random contents. */
export function fuzzPacket(rng: Rng): Uint8Array {
  const p = rng.bytes(rng.range(14, 128));
  p[12] = 0x08;
  p[13] = 0x00;
  return p;
}

async function runAll(
  spec: CollectionSpec,
  packet: Uint8Array,
  skipKnown: boolean,
): Promise<Finding | undefined> {
  if (skipKnown) {
    for (const [name, hits] of Object.entries(KNOWN_OPEN)) {
      if (hits(spec)) {
        knownOpenHits[name] = (knownOpenHits[name] ?? 0) + 1;
        return undefined;
      }
    }
  }
  const loaded = timed("vm load", () => loadVmCollection(spec, { budget: FUZZ_BUDGET, possibleCpus: 2 }));
  if (loaded.finding !== undefined || loaded.value === undefined) {
    reached.vmRefused++;
    return loaded.finding;
  }
  reached.vmLoaded++;
  const coll = loaded.value;
  try {
    for (const p of Object.values(coll.programs)) {
      // XDP and tc programs: the two types the VM runs.
      if (p.spec.type !== ProgType.xdp && p.spec.type !== ProgType.sched_cls) continue;
      const t0 = Date.now();
      try {
        reached.runs++;
        const r = await p.run(packet);
        if (r.fault !== undefined) reached.faults++;
        if (r.fault !== undefined && !isTsbpfError(r.fault))
          return { stage: "vm run", error: `untyped fault ${r.fault.name}` };
      } catch (e) {
        const f = untyped(`vm run ${p.name}`, e);
        if (f !== undefined) return f;
      }
      if (Date.now() - t0 > SLOW_MS)
        return { stage: `vm run ${p.name}`, error: `took ${Date.now() - t0} ms` };
    }
  } finally {
    coll.close();
  }
  return undefined;
}

/** Parses a (possibly corrupt) object, disassembles it, loads it into the VM and runs its XDP programs. */
export async function checkObject(
  bytes: Uint8Array,
  packet: Uint8Array,
  skipKnown = true,
): Promise<Finding | undefined> {
  const parsed = timed("parse", () => loadCollectionSpec(bytes, { file: "fuzzed.bpf.o" }));
  if (parsed.finding !== undefined || parsed.value === undefined) {
    reached.parseRefused++;
    return parsed.finding;
  }
  reached.parsed++;
  const spec = parsed.value;
  for (const p of Object.values(spec.programs)) {
    const d = timed(`disasm ${p.name}`, () => disassembleProgram(p.instructions));
    if (d.finding !== undefined) return d.finding;
  }
  return runAll(spec, packet, skipKnown);
}

/**
 * The collection random bytecode runs in: the XDP program `fuzz` beside an array, a hash and a
 * prog array whose slot 0 is `fuzz` itself. Shared with the compiled tier's tests.
 */
export function bytecodeCollection(insns: Instruction[]): CollectionSpec {
  // Every lddw with a pseudo source refers to a map, as the object loader would record it.
  const maps = ["array", "hash", "jump"];
  const references = insns.flatMap((x, i) =>
    x.opcode === 0x18 && x.src !== 0
      ? [
          {
            insn: i,
            kind: x.src === 2 ? ("map_value" as const) : ("map" as const),
            map: maps[i % 3] as string,
            offset: 0,
          },
        ]
      : [],
  );
  return xdpCollection(
    "fuzz",
    [{ name: "fuzz", instructions: insns, references }],
    [
      { name: "array", type: "array", keySize: 4, valueSize: 8, maxEntries: 4 },
      { name: "hash", type: "hash", keySize: 8, valueSize: 8, maxEntries: 8 },
      {
        name: "jump",
        type: "prog_array",
        keySize: 4,
        valueSize: 4,
        maxEntries: 4,
        contents: [{ key: 0, value: "fuzz" }],
      },
    ],
  );
}

/** Runs raw bytecode as the XDP program `fuzz` beside an array, a hash and a prog array. */
export async function checkBytecode(
  code: Uint8Array,
  packet: Uint8Array,
  skipKnown = true,
): Promise<Finding | undefined> {
  const decoded = timed("decode", () => decodeInstructions(code, true, { program: "fuzz" }));
  if (decoded.finding !== undefined || decoded.value === undefined) return decoded.finding;
  return runAll(bytecodeCollection(decoded.value), packet, skipKnown);
}

const OPCODES = [
  0x07, 0x0f, 0x17, 0x1f, 0x27, 0x2f, 0x37, 0x3f, 0x47, 0x4f, 0x57, 0x5f, 0x67, 0x6f, 0x77, 0x7f, 0x87, 0x97,
  0x9f, 0xa7, 0xaf, 0xb7, 0xbf, 0xc7, 0xcf, 0xd7, 0x04, 0x0c, 0x14, 0x24, 0x34, 0x3c, 0x44, 0x54, 0x64, 0x74,
  0x84, 0x94, 0x9c, 0xa4, 0xb4, 0xbc, 0xc4, 0xd4, 0xdc, 0x05, 0x06, 0x15, 0x1d, 0x25, 0x2d, 0x35, 0x45, 0x55,
  0x5d, 0x65, 0x75, 0xa5, 0xb5, 0xc5, 0xd5, 0x16, 0x1e, 0x56, 0xa6, 0xde, 0x61, 0x69, 0x71, 0x79, 0x81, 0x89,
  0x91, 0x62, 0x6a, 0x72, 0x7a, 0x63, 0x6b, 0x73, 0x7b, 0xc3, 0xdb, 0x18, 0x85, 0x8d, 0x95, 0x20, 0x28, 0x30,
  0x40, 0x48, 0x50,
];

/** Opcodes the VM refuses by design (legacy packet loads), kept rare. */
const LEGACY = new Set([0x20, 0x28, 0x30, 0x40, 0x48, 0x50]);

/** Zeroes the fields an opcode leaves unused, as a compiler would (the validator refuses others). */
function wellFormed(
  rng: Rng,
  op: number,
  dst: number,
  src: number,
  off: number,
  imm: number,
): [number, number, number, number] {
  const cls = op & 7;
  const x = (op & 8) !== 0;
  if (cls === 0x04 || cls === 0x07) {
    const alu = op & 0xf0;
    dst = Math.min(dst, 9);
    if (alu === 0xd0) return [dst, 0, 0, rng.pick([16, 32, 64])];
    if (alu === 0x80) return [dst, 0, 0, 0];
    off = 0;
    if ((alu === 0x30 || alu === 0x90) && rng.chance(0.3)) off = 1;
    if (alu === 0xb0 && x && rng.chance(0.3)) off = rng.pick([8, 16, 32]);
    return x ? [dst, src, off, 0] : [dst, 0, off, imm];
  }
  if (cls === 0x05 || cls === 0x06) {
    if (op === 0x95) return [0, 0, 0, 0];
    if (op === 0x85) return [0, rng.chance(0.9) ? 0 : 1, 0, imm];
    if (op === 0x05) return [0, 0, off, 0];
    if (op === 0x06) return [0, 0, 0, off];
    return x ? [dst, src, off, 0] : [dst, 0, off, imm];
  }
  if (cls === 0x01) return [Math.min(dst, 9), src, off, 0];
  if (cls === 0x02) return [dst, 0, off, imm];
  if (cls === 0x03 && (op & 0xe0) !== 0xc0) return [dst, src, off, 0];
  return [dst, src, off, imm];
}

/**
 * Random bytecode: mostly real opcodes with random registers, offsets and immediates, with
 * unused fields zeroed most of the time (so inputs get past validation into execution), some
 * fully random slots, helper calls with real ids, and an `exit` at the end most of the time.
 */
export function randomBytecode(rng: Rng): Uint8Array {
  const n = rng.range(1, 40);
  const out = new Uint8Array(n * 8);
  const v = new DataView(out.buffer);
  for (let i = 0; i < n; i++) {
    const o = i * 8;
    if (rng.chance(0.01)) {
      out.set(rng.bytes(8), o);
      continue;
    }
    let op = rng.pick(OPCODES);
    if (LEGACY.has(op) && rng.chance(0.97)) op = 0xb7;
    const reg = () => (rng.chance(0.99) ? rng.int(11) : rng.int(16));
    let dst = reg();
    let src = reg();
    let off = rng.chance(0.7)
      ? rng.range(-8, 8) * (rng.chance(0.5) ? 1 : 8)
      : ((rng.u32() & 0xffff) << 16) >> 16;
    let imm = rng.edgyI32();
    if (op === 0x85) imm = rng.pick([1, 2, 3, 5, 6, 7, 8, 12, 14, 23, 28, 44, 54, 65, 177, 1000]);
    if (op === 0xc3 || op === 0xdb)
      imm = rng.pick([0x00, 0x01, 0x40, 0x41, 0x50, 0x51, 0xa0, 0xa1, 0xe1, 0xf1, 0x100, 0x110]);
    if (op !== 0x18 && rng.chance(0.98)) [dst, src, off, imm] = wellFormed(rng, op, dst, src, off, imm);
    const cls = op & 7;
    if ((cls === 0x05 || cls === 0x06) && op !== 0x85 && op !== 0x95 && op !== 0x8d && rng.chance(0.9)) {
      // Mostly land inside the program.
      const t = rng.range(-i - 1, n - i - 2);
      if (op === 0x06) imm = t;
      else off = t;
    }
    if (op === 0x18) {
      off = 0;
      src = rng.chance(0.5) ? rng.pick([1, 2, 3, 4, 5, 6]) : 0;
    }
    v.setUint8(o, op);
    v.setUint8(o + 1, (dst & 15) | ((src & 15) << 4));
    v.setInt16(o + 2, off, true);
    v.setInt32(o + 4, imm, true);
    if (op === 0x18) {
      i++;
      if (i < n) v.setInt32(i * 8 + 4, rng.edgyI32(), true);
    }
  }
  if (rng.chance(0.8)) out.set([0x95, 0, 0, 0, 0, 0, 0, 0], (n - 1) * 8);
  return out;
}
