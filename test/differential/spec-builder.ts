import { mapSpec as baseMapSpec } from "../support/specs.js";
import type { Instruction } from "../../src/asm/instruction.js";
import type {
  CollectionSpec,
  FunctionSpan,
  MapReference,
  MapSpec,
  ProgramSpec,
} from "../../src/object/types.js";
import { MapType, ProgType } from "../../src/abi/index.js";

/** A program to put in an in-memory collection. */
export interface ProgramInput {
  name: string;
  instructions: Instruction[];
  references: MapReference[];
  /** The functions laid out in the instructions; one spanning them all by default. */
  functions?: FunctionSpan[];
}

/** A map to put in an in-memory collection. */
export interface MapInput {
  name: string;
  type: keyof typeof MapType;
  keySize: number;
  valueSize: number;
  maxEntries: number;
  /** Prog arrays: `slot → program name`. */
  contents?: { key: number; value: string }[];
}

/** A MapSpec as the object loader would produce for a BTF-less map declaration. */
export function mapSpec(m: MapInput): MapSpec {
  return baseMapSpec(m.name, MapType[m.type], m.keySize, m.valueSize, m.maxEntries, {
    contents: m.contents ?? [],
    origin: "legacy",
  });
}

/** An XDP ProgramSpec without BTF info, as clang would give for one function in `SEC("xdp")`. */
export function xdpProgramSpec(p: ProgramInput): ProgramSpec {
  return {
    name: p.name,
    section: "xdp",
    type: ProgType.xdp,
    typeName: "xdp",
    expectedAttachType: undefined,
    attachTo: undefined,
    sleepable: false,
    license: "GPL",
    instructions: p.instructions,
    references: p.references,
    functions: p.functions ?? [{ name: p.name, start: 0, end: p.instructions.length, section: "xdp" }],
    funcInfo: [],
    lineInfo: [],
    tailCalls: [],
    sectionOffset: 0,
  };
}

/** A little-endian, BTF-less collection of XDP programs and maps, built in memory. */
export function xdpCollection(file: string, programs: ProgramInput[], maps: MapInput[]): CollectionSpec {
  return {
    file,
    byteOrder: "little",
    license: "GPL",
    kernelVersion: undefined,
    programs: Object.fromEntries(programs.map((p) => [p.name, xdpProgramSpec(p)])),
    maps: Object.fromEntries(maps.map((m) => [m.name, mapSpec(m)])),
    btf: undefined,
    skippedSections: [],
  };
}

/** One instruction slot. */
export const ins = (opcode: number, dst = 0, src = 0, off = 0, imm = 0): Instruction => ({
  opcode,
  dst,
  src,
  off,
  imm,
});

/** `lddw dst, <map>` as two slots (the reference makes both engines patch it). */
export function ldMap(dst: number): Instruction[] {
  return [{ opcode: 0x18, dst, src: 1, off: 0, imm: 0, imm64: 0n }, ins(0)];
}

/** `lddw dst, imm64` as two slots. */
export function ldImm64(dst: number, v: bigint): Instruction[] {
  const u = BigInt.asUintN(64, v);
  const lo = Number(u & 0xffff_ffffn) | 0;
  const hi = Number(u >> 32n) | 0;
  return [{ opcode: 0x18, dst, src: 0, off: 0, imm: lo, imm64: u }, ins(0, 0, 0, 0, hi)];
}
