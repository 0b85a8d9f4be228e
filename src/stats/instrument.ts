import { HelperId } from "../abi/helper-id.js";
import { MapType } from "../abi/map-type.js";
import { helperCalled, type Instruction } from "../asm/instruction.js";
import { EXIT, LDDW, PseudoLd } from "../asm/opcodes.js";
import { LoadError } from "../errors.js";
import { emptyMapSpec } from "../object/btf-maps.js";
import { frameLayout, subprogramOf, walkFrames } from "../object/stack-frames.js";
import type { CollectionSpec, MapReference, MapSpec, ProgramSpec } from "../object/types.js";
import {
  KEY_BUCKETS,
  PROGRAM_BYTES,
  type ProgramCounters,
  SITE_BYTES,
  STATS_MAP,
  type SiteCounters,
  ZERO_MAP,
  type StatsLayout,
  VERDICT_BUCKETS,
} from "./layout.js";
import { rememberLayout } from "./read-stats.js";
import { type Insertion, insertCode } from "./rewrite.js";

/**
 * Opt-in instrumentation: a rewrite of a {@link CollectionSpec} that counts, in a per-CPU array
 * added to it, each program's runs and verdicts and each tail-call site's calls and misses per
 * key. Both engines load the rewritten spec, so they run the same instructions.
 *
 * Registers and stack, and why the verifier accepts every block:
 * - Each block finds the counters with `bpf_map_lookup_elem(stats, &zero)` and checks for NULL
 *   (the kernel's rule for map values). The key is read from a one-entry array map
 *   ({@link ZERO_MAP}) through a direct map-value address (`lddw` of BPF_PSEUDO_MAP_VALUE, as for
 *   global data), not from the stack, so counting runs and verdicts takes no stack at all: a
 *   caller's frame never grows under a tail-calling subprogram (the 256-byte rule).
 * - Only a function with tail-call sites gets stack: three 8-byte slots (ctx, prog array, key)
 *   below the deepest stack it already uses (found as the verifier finds it,
 *   `object/stack-frames.ts`), so they never overlap the program's own. A pointer spilled to an
 *   aligned 8-byte slot and filled back keeps its type, and a spilled constant stays a constant,
 *   which the kernel's direct tail calls rely on. The grown frames are checked with the
 *   verifier's frame rules (512 bytes in all, the 256-byte rule): a program they would break is
 *   refused before loading, with a typed error.
 * - Entry (runs): only r1 (ctx) is live at a program's first instruction, so r6 keeps ctx across
 *   the lookup and r1 gets it back; the program writes r6 before it reads it (the verifier
 *   refuses reading an unset register), so its value does not matter to it.
 * - Exits of the main function (verdicts): only r0 is live at `exit`, so r6 keeps it; the bucket
 *   is `min(w0, 5)` times 8, a bounded offset into the value.
 * - `bpf_tail_call` sites: r1-r3 are spilled before the lookup and filled back before the call;
 *   the key's bucket counts a call. When the call returns (a miss), every caller-saved register
 *   is dead (the verifier makes r0-r5 unreadable after `bpf_tail_call`, which returns nothing to
 *   it), so the key's bucket counts a miss with them freely.
 */

/** The instrumented spec and where its counters are. */
export interface InstrumentedCollection {
  spec: CollectionSpec;
  layout: StatsLayout;
}

const R0 = 0;
const R1 = 1;
const R2 = 2;
const R3 = 3;
const R6 = 6;
const FP = 10;

const mov64 = (dst: number, src: number): Instruction => ({ opcode: 0xbf, dst, src, off: 0, imm: 0 });
const mov32 = (dst: number, src: number): Instruction => ({ opcode: 0xbc, dst, src, off: 0, imm: 0 });
const movImm = (dst: number, imm: number): Instruction => ({ opcode: 0xb7, dst, src: 0, off: 0, imm });
const addImm = (dst: number, imm: number): Instruction => ({ opcode: 0x07, dst, src: 0, off: 0, imm });
const addReg = (dst: number, src: number): Instruction => ({ opcode: 0x0f, dst, src, off: 0, imm: 0 });
const lshImm = (dst: number, imm: number): Instruction => ({ opcode: 0x67, dst, src: 0, off: 0, imm });
const ldx64 = (dst: number, src: number, off: number): Instruction => ({
  opcode: 0x79,
  dst,
  src,
  off,
  imm: 0,
});
const stx64 = (dst: number, src: number, off: number): Instruction => ({
  opcode: 0x7b,
  dst,
  src,
  off,
  imm: 0,
});
const jeqImm = (dst: number, imm: number, off: number): Instruction => ({
  opcode: 0x15,
  dst,
  src: 0,
  off,
  imm,
});
const jltImm = (dst: number, imm: number, off: number): Instruction => ({
  opcode: 0xa5,
  dst,
  src: 0,
  off,
  imm,
});
const call = (id: number): Instruction => ({ opcode: 0x85, dst: 0, src: 0, off: 0, imm: id });
const lddwMap = (dst: number, src: number): Instruction[] => [
  { opcode: LDDW, dst, src, off: 0, imm: 0, imm64: 0n },
  { opcode: 0, dst: 0, src: 0, off: 0, imm: 0 },
];

/** Stack slots of one function, as offsets from r10. */
interface Slots {
  ctx: number;
  map: number;
  key: number;
}

/** A block under construction: instructions and the stats map references of its `lddw`s. */
class Block {
  readonly code: Instruction[] = [];
  readonly references: MapReference[] = [];
  push(...insns: Instruction[]): this {
    this.code.push(...insns);
    return this;
  }
  /** `r0 = bpf_map_lookup_elem(stats, &zero)`, the key read from {@link ZERO_MAP}; clobbers r1-r5. */
  lookup(): this {
    this.references.push({ insn: this.code.length, kind: "map_value", map: ZERO_MAP, offset: 0 });
    this.push(...lddwMap(R2, PseudoLd.MAP_VALUE));
    this.references.push({ insn: this.code.length, kind: "map", map: STATS_MAP, offset: 0 });
    return this.push(...lddwMap(R1, PseudoLd.MAP_FD), call(HelperId.map_lookup_elem));
  }
  /** `if r0 != NULL { *(u64 *)(r0 + off + rIdx) += 1 }`, with `tail` the instructions after. */
  bumpIfFound(index: Instruction[], off: number, tail: Instruction[]): this {
    const bump = [...index, ldx64(R1, R0, off), addImm(R1, 1), stx64(R0, R1, off)];
    return this.push(jeqImm(R0, 0, bump.length), ...bump, ...tail);
  }
  toInsertion(before: number, entered: Insertion["entered"]): Insertion {
    return { before, entered, code: this.code, references: this.references };
  }
}

/** `r0 += min(w{reg}, limit) << shift`, using r1. */
function bucketIndex(reg: number, limit: number, shift: number): Instruction[] {
  return [mov32(R1, reg), jltImm(R1, limit, 1), movImm(R1, limit), lshImm(R1, shift), addReg(R0, R1)];
}

/** The spec of the counters map of `layout`: how a reader reopens it from a pin. */
export function statsMapSpec(layout: StatsLayout): MapSpec {
  return addedMapSpec(layout.map, "percpu_array", layout.valueSize);
}

/** The counters map added to the collection, or (`array`) the map holding the key 0. */
function addedMapSpec(name: string, type: "percpu_array" | "array", valueSize: number): MapSpec {
  return {
    ...emptyMapSpec(name, "legacy"),
    type: MapType[type],
    typeName: type,
    keySize: 4,
    valueSize,
    maxEntries: 1,
  };
}

/** Largest offset a load or store can reach from a register (a signed 16-bit field). */
const MAX_OFFSET = 32767;

/**
 * Rewrites `spec` so that its programs count what they do into a per-CPU array named
 * {@link STATS_MAP}; `layout` says where each count is (`readStats` reads them). The programs
 * do exactly what they did before otherwise. Throws a LoadError when a program cannot take the
 * counters within the verifier's limits (stack, instructions, jump range).
 */
export function instrumentCollection(spec: CollectionSpec): InstrumentedCollection {
  const taken = [STATS_MAP, ZERO_MAP].find((m) => spec.maps[m] !== undefined);
  if (taken !== undefined) {
    throw new LoadError(`the object already has a map named ${taken}`, {
      ...(spec.file === undefined ? {} : { file: spec.file }),
      hint: "is it loaded with stats twice?",
    });
  }
  const names = Object.keys(spec.programs).sort();
  const programs: ProgramCounters[] = names.map((name, k) => ({
    name,
    type: (spec.programs[name] as ProgramSpec).type,
    offset: k * PROGRAM_BYTES,
  }));
  const sites: SiteCounters[] = [];
  let next = names.length * PROGRAM_BYTES;
  for (const name of names) {
    for (const site of (spec.programs[name] as ProgramSpec).tailCalls) {
      sites.push({
        program: name,
        map: site.map,
        insn: site.insn,
        file: site.source?.file,
        line: site.source?.line,
        offset: next,
      });
      next += SITE_BYTES;
    }
  }
  const valueSize = Math.max(next, 8);
  if (valueSize > MAX_OFFSET) {
    throw new LoadError(`stats need ${valueSize} bytes of counters, past what one instruction can address`, {
      ...(spec.file === undefined ? {} : { file: spec.file }),
      hint: "load the object without stats",
    });
  }
  const out: Record<string, ProgramSpec> = {};
  for (const [k, name] of names.entries()) {
    const prog = spec.programs[name] as ProgramSpec;
    const counters = programs[k] as ProgramCounters;
    out[name] = instrumentProgram(
      prog,
      counters,
      sites.filter((s) => s.program === name),
      spec.file,
    );
  }
  const instrumented = {
    ...spec,
    programs: out,
    maps: {
      ...spec.maps,
      [STATS_MAP]: addedMapSpec(STATS_MAP, "percpu_array", valueSize),
      [ZERO_MAP]: addedMapSpec(ZERO_MAP, "array", 4),
    },
  };
  const layout: StatsLayout = { map: STATS_MAP, valueSize, programs, sites };
  rememberLayout(instrumented, layout);
  return { spec: instrumented, layout };
}

function instrumentProgram(
  prog: ProgramSpec,
  counters: ProgramCounters,
  sites: readonly SiteCounters[],
  file: string | undefined,
): ProgramSpec {
  const insns = prog.instructions;
  const frames = frameLayout(insns);
  const slotsOf = (subprogram: number): Slots => {
    const depth = Math.ceil((frames.stackDepth[subprogram] ?? 0) / 8) * 8;
    return { ctx: -(depth + 8), map: -(depth + 16), key: -(depth + 24) };
  };
  const insertions: Insertion[] = [];

  // Entry: count a run.
  insertions.push(
    new Block()
      .push(mov64(R6, R1))
      .lookup()
      .bumpIfFound([], counters.offset, [mov64(R1, R6)])
      .toInsertion(0, "fallthrough"),
  );

  // Exits of the main function: count the verdict.
  const mainEnd = frames.subprograms[1] ?? insns.length;
  for (let i = 0; i < mainEnd; i++) {
    const insn = insns[i] as Instruction;
    if (insn.opcode === LDDW) {
      i++;
      continue;
    }
    if (insn.opcode !== EXIT) continue;
    insertions.push(
      new Block()
        .push(mov64(R6, R0))
        .lookup()
        .bumpIfFound(bucketIndex(R6, VERDICT_BUCKETS - 1, 3), counters.offset + 8, [mov64(R0, R6)])
        .toInsertion(i, "all"),
    );
  }

  // Tail-call sites: count the call by key before it, a miss after it.
  for (const site of sites) {
    const i = site.insn;
    if (helperCalled(insns[i] as Instruction) !== HelperId.tail_call) {
      throw new LoadError("instrumentation: a tail-call site is not a bpf_tail_call", {
        program: prog.name,
        insn: i,
      });
    }
    const slots = slotsOf(subprogramOf(frames.subprograms, i));
    const key = [ldx64(R1, FP, slots.key)];
    insertions.push(
      new Block()
        .push(stx64(FP, R1, slots.ctx), stx64(FP, R2, slots.map), stx64(FP, R3, slots.key))
        .lookup()
        .bumpIfFound([...key, ...bucketIndex(R1, KEY_BUCKETS, 4)], site.offset, [
          ldx64(R1, FP, slots.ctx),
          ldx64(R2, FP, slots.map),
          ldx64(R3, FP, slots.key),
        ])
        .toInsertion(i, "all"),
      new Block()
        .lookup()
        .bumpIfFound([...key, ...bucketIndex(R1, KEY_BUCKETS, 4)], site.offset + 8, [])
        .toInsertion(i + 1, "fallthrough"),
    );
  }

  const { program } = insertCode(prog, insertions);
  const before = walkFrames(frames).problems.length;
  const after = walkFrames(frameLayout(program.instructions)).problems;
  if (after.length > before) {
    const p = after[after.length - 1];
    throw new LoadError(
      `stats need 24 bytes of stack the verifier would not allow here (${p?.kind ?? "stack"})`,
      {
        ...(file === undefined ? {} : { file }),
        program: prog.name,
        hint: "load the program without stats",
      },
    );
  }
  return program;
}
