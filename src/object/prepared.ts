/**
 * The prepared form of a collection: what the kernel engine hands BPF_PROG_LOAD and
 * BPF_BTF_LOAD that does not depend on the running kernel, worked out from the spec alone.
 * Each program's instructions encoded with every map reference in place but its fd (the one
 * thing only a load knows), its func_info and line_info records, and the object's BTF
 * sanitised for loading and marshalled. The kernel engine always loads from this form: for a
 * spec parsed from an ELF it is computed in-process at load; a generated skeleton carries it,
 * computed by `tsbpf gen skeleton` (see prepared-spec.ts), as libbpf's light skeleton does.
 * Pure data: no syscalls here.
 */
import { encodeInstructions, INSN_SIZE } from "../asm/instruction.js";
import { LDDW, PseudoLd } from "../asm/opcodes.js";
import { sanitizeBtf } from "../btf/btf-sanitize.js";
import { marshalBtf } from "../btf/marshal-btf.js";
import { marshalFuncInfo, marshalLineInfo } from "../btf/marshal-ext.js";
import { LoadError } from "../errors.js";
import { putU32 } from "../internal/bytes.js";
import type { CollectionSpec, ProgramSpec } from "./types.js";

/** One program as BPF_PROG_LOAD takes it, but for the map fds. */
export interface PreparedProgram {
  /**
   * The linked instructions in the object's byte order; each map reference's `lddw` has its
   * pseudo source (`BPF_PSEUDO_MAP_FD` or `BPF_PSEUDO_MAP_VALUE`) and value offset set, its fd 0.
   */
  readonly insns: Uint8Array;
  /** Where each map fd goes: the `lddw`'s instruction index and the map's name, in order. */
  readonly refs: readonly { readonly insn: number; readonly map: string }[];
  /** `bpf_func_info` records, in the object's byte order (empty when there are none). */
  readonly funcInfo: Uint8Array;
  /** `bpf_line_info` records, in the object's byte order (empty when there are none). */
  readonly lineInfo: Uint8Array;
}

/**
 * `p` prepared for BPF_PROG_LOAD (see {@link PreparedProgram}); throws a LoadError when a map
 * reference is not on a `lddw`.
 */
export function prepareProgram(p: ProgramSpec, littleEndian: boolean, file?: string): PreparedProgram {
  const insns = p.instructions;
  const out = encodeInstructions(insns, littleEndian);
  const view = new DataView(out.buffer, out.byteOffset, out.byteLength);
  const refs: { insn: number; map: string }[] = [];
  for (const r of p.references) {
    const first = insns[r.insn];
    if (first === undefined || insns[r.insn + 1] === undefined || first.opcode !== LDDW) {
      throw new LoadError(`reference to map ${r.map} is not on a lddw instruction`, {
        ...(file === undefined ? {} : { file }),
        program: p.name,
        insn: r.insn,
      });
    }
    const o = r.insn * INSN_SIZE;
    const src = r.kind === "map" ? PseudoLd.MAP_FD : PseudoLd.MAP_VALUE;
    const dst = first.dst & 0xf;
    view.setUint8(o + 1, littleEndian ? dst | (src << 4) : (dst << 4) | src);
    view.setInt32(o + 4, 0, littleEndian);
    view.setInt32(o + INSN_SIZE + 4, r.kind === "map" ? 0 : r.offset, littleEndian);
    refs.push({ insn: r.insn, map: r.map });
  }
  return {
    insns: out,
    refs,
    funcInfo: marshalFuncInfo(p.funcInfo, littleEndian),
    lineInfo: marshalLineInfo(p.lineInfo, littleEndian),
  };
}

/**
 * A copy of `p.insns` with each map reference's fd filled in by `fdOf` (the first slot's
 * immediate of its `lddw`): the bytes BPF_PROG_LOAD gets.
 */
export function withMapFds(
  p: PreparedProgram,
  fdOf: (map: string) => number,
  littleEndian: boolean,
): Uint8Array {
  // A copy and byte stores, not slice() and a DataView: this runs once per program of a load,
  // on a cold process, where each is a slow path of its own.
  const out = new Uint8Array(p.insns.byteLength);
  out.set(p.insns);
  const { refs } = p;
  for (let i = 0; i < refs.length; i++) {
    const r = refs[i] as { insn: number; map: string };
    putU32(out, r.insn * INSN_SIZE + 4, fdOf(r.map), littleEndian);
  }
  return out;
}

/** The object's BTF sanitised at the `"load"` level (what every kernel needs) and marshalled. */
export function prepareBtf(spec: CollectionSpec): Uint8Array | undefined {
  const objBtf = spec.btf;
  return objBtf === undefined ? undefined : marshalBtf(sanitizeBtf(objBtf.btf, "load").btf);
}

/**
 * Precomputed prepared parts of specs made by a skeleton (prepared-spec.ts): each program's,
 * and the BTF blob of the spec, for as long as nothing they were computed from was read or set.
 */
const carriedPrograms = new WeakMap<ProgramSpec, PreparedProgram>();
const carriedBtf = new WeakMap<CollectionSpec, Uint8Array>();

/** @internal Records what a skeleton carries for `p` (prepared-spec.ts). */
export function carryProgram(p: ProgramSpec, prepared: PreparedProgram | undefined): void {
  if (prepared === undefined) carriedPrograms.delete(p);
  else carriedPrograms.set(p, prepared);
}

/** @internal Records (or drops, with undefined) the BTF blob a skeleton carries for `spec`. */
export function carryBtf(spec: CollectionSpec, blob: Uint8Array | undefined): void {
  if (blob === undefined) carriedBtf.delete(spec);
  else carriedBtf.set(spec, blob);
}

/**
 * `p` prepared: what its skeleton carried when that still holds (nothing it depends on was
 * read or set), else computed now from the spec.
 */
export function preparedProgram(p: ProgramSpec, littleEndian: boolean, file?: string): PreparedProgram {
  return carriedPrograms.get(p) ?? prepareProgram(p, littleEndian, file);
}

/**
 * The load-level BTF blob of `spec` when its skeleton carried one and its BTF was not read
 * since; undefined otherwise (then see {@link prepareBtf}). Reads nothing of the spec.
 */
export function carriedBtfBlob(spec: CollectionSpec): Uint8Array | undefined {
  return carriedBtf.get(spec);
}

/**
 * The maps `p` loads as maps (a `lddw` of `BPF_PSEUDO_MAP_FD`, not a global data value), in order,
 * without decoding a program carried prepared (a skeleton's, or the object cache's): checking a
 * plan asks this of every program before `tsbpf attach` loads anything (issue 14).
 */
export function mapsLoadedBy(p: ProgramSpec, littleEndian: boolean): string[] {
  const c = carriedPrograms.get(p);
  if (c === undefined) return p.references.filter((r) => r.kind === "map").map((r) => r.map);
  return c.refs
    .filter((r) => {
      // The pseudo source prepareProgram wrote into the lddw's register byte.
      const regs = c.insns[r.insn * INSN_SIZE + 1] as number;
      return (littleEndian ? regs >> 4 : regs & 0xf) === PseudoLd.MAP_FD;
    })
    .map((r) => r.map);
}

/** Whether `spec` has BTF, without decoding it when a skeleton carried it prepared. */
export function hasBtf(spec: CollectionSpec): boolean {
  return carriedBtf.has(spec) || spec.btf !== undefined;
}
