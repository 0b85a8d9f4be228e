/**
 * A collection spec a generated skeleton carries beside its object, so that opening it parses
 * nothing: `tsbpf gen skeleton` writes what `loadCollectionSpec` makes of the object that does
 * not depend on the running kernel (maps, programs' names and types, the spec's fields) and
 * each program's prepared form (prepared.ts), and `openPreparedSpec` rebuilds the spec from
 * that text. What is costly to decode (instructions, references, function spans, func and line
 * info, tail-call sites, BTF) is decoded from the object when first read or set, and from then
 * on the kernel engine works that part out from the spec as for any other, since the reader
 * may edit it. Maps and the spec's other fields are plain data, edited as usual (global
 * variables set before load are map data and keep the prepared programs).
 *
 * The text starts with a hash of the object it was made from: another object (a skeleton
 * linked to a file that was rebuilt, or `open({ object })`) or a text that does not decode
 * gives undefined, and the caller parses the object instead.
 */
import { Buffer } from "node:buffer";
import { ParseError } from "../errors.js";
import { loadCollectionSpec, lazyTailCalls } from "./load-collection-spec.js";
import { carryBtf, carryProgram, type PreparedProgram, prepareBtf, prepareProgram } from "./prepared.js";
import type { CollectionSpec, MapSpec, ProgramSpec } from "./types.js";

/** The layout of the text; a skeleton with another is not read (its object is parsed). */
const FORMAT = 2;

/** The program fields decoded from the object on first use. */
const LAZY_PROGRAM_FIELDS = ["instructions", "references", "functions", "funcInfo", "lineInfo"] as const;

/** A byte range of the text's `bin` (offset, length). */
type BinRange = [number, number];

/**
 * A map spec as the text holds it: `undefined` is `null` (JSON has no undefined; no field of a
 * map spec holds null), `mapExtra` a decimal string, initial data a range of `bin`.
 */
type WireMap = Omit<MapSpec, "mapExtra" | "initialData" | "innerMap"> & {
  mapExtra: string;
  initialData: BinRange | null;
  innerMap: WireMap | null;
};

/** What {@link encodePreparedSpec} writes, as JSON. */
interface PreparedText {
  format: number;
  /** {@link objectHash} of the object. */
  object: number;
  byteOrder: CollectionSpec["byteOrder"];
  license: string;
  kernelVersion: number | null;
  skippedSections: CollectionSpec["skippedSections"];
  /** Every byte array of the text, in base64, one after the other. */
  bin: string;
  maps: WireMap[];
  /** Each program's fields but the lazy ones (`undefined` as `null`), and its prepared form. */
  programs: {
    spec: Record<string, unknown>;
    insns: BinRange;
    refs: [number, string][];
    funcInfo: BinRange;
    lineInfo: BinRange;
  }[];
  /** The load-level BTF blob; null when the object has no BTF. */
  btf: BinRange | null;
}

/**
 * A 32-bit hash of `bytes` (FNV-1a over 32-bit words and the length): tells a skeleton's own
 * object from another, not an attacker's.
 */
export function objectHash(bytes: Uint8Array): number {
  const n = bytes.byteLength >>> 2;
  const words =
    bytes.byteOffset % 4 === 0
      ? new Int32Array(bytes.buffer, bytes.byteOffset, n)
      : new Int32Array(bytes.slice(0, n * 4).buffer);
  let h = 0x811c9dc5 ^ bytes.byteLength;
  for (let i = 0; i < n; i++) h = Math.imul(h ^ (words[i] as number), 0x01000193);
  for (let i = n * 4; i < bytes.byteLength; i++) h = Math.imul(h ^ (bytes[i] as number), 0x01000193);
  return h >>> 0;
}

/**
 * The text a skeleton carries for `spec`, parsed from `bytes` (throws what preparing throws: a
 * generator leaves the text out then). Deterministic: the same object gives the same text.
 */
export function encodePreparedSpec(spec: CollectionSpec, bytes: Uint8Array): string {
  const le = spec.byteOrder === "little";
  const parts: Uint8Array[] = [];
  let size = 0;
  const bin = (b: Uint8Array): BinRange => {
    parts.push(b);
    size += b.byteLength;
    return [size - b.byteLength, b.byteLength];
  };
  const wireMap = (m: MapSpec): WireMap => ({
    ...m,
    mapExtra: m.mapExtra.toString(),
    initialData: m.initialData === undefined ? null : bin(m.initialData),
    innerMap: m.innerMap === undefined ? null : wireMap(m.innerMap),
  });
  const maps = Object.values(spec.maps).map(wireMap);
  const programs = Object.values(spec.programs).map((p) => {
    const eager: Record<string, unknown> = {};
    // Keys, not entries: reading `tailCalls` would run its analysis.
    for (const k of Object.keys(p)) {
      if (k === "tailCalls" || (LAZY_PROGRAM_FIELDS as readonly string[]).includes(k)) continue;
      eager[k] = (p as unknown as Record<string, unknown>)[k];
    }
    const prepared = prepareProgram(p, le, spec.file);
    return {
      spec: eager,
      insns: bin(prepared.insns),
      refs: prepared.refs.map((r): [number, string] => [r.insn, r.map]),
      funcInfo: bin(prepared.funcInfo),
      lineInfo: bin(prepared.lineInfo),
    };
  });
  const btf = prepareBtf(spec);
  const btfRange = btf === undefined ? null : bin(btf);
  const all = new Uint8Array(size);
  let at = 0;
  for (const b of parts) {
    all.set(b, at);
    at += b.byteLength;
  }
  const text: PreparedText = {
    format: FORMAT,
    object: objectHash(bytes),
    byteOrder: spec.byteOrder,
    license: spec.license,
    kernelVersion: spec.kernelVersion ?? null,
    skippedSections: spec.skippedSections,
    bin: Buffer.from(all.buffer, all.byteOffset, all.byteLength).toString("base64"),
    maps,
    programs,
    btf: btfRange,
  };
  return JSON.stringify(text, (_key, v: unknown) => (v === undefined ? null : v));
}

/** The map spec `w` stands for, in place (see {@link WireMap}). */
function mapOf(w: WireMap, bin: Uint8Array): MapSpec {
  const m = w as unknown as MapSpec;
  m.mapExtra = BigInt(w.mapExtra);
  m.initialData = w.initialData === null ? undefined : rangeOf(bin, w.initialData).slice();
  m.innerMap = w.innerMap === null ? undefined : mapOf(w.innerMap, bin);
  if (w.keyTypeId === null) m.keyTypeId = undefined;
  if (w.valueTypeId === null) m.valueTypeId = undefined;
  if (w.section === null) m.section = undefined;
  const vars = m.variables;
  for (let i = 0; i < vars.length; i++) {
    const v = vars[i] as { typeId: number | undefined | null };
    if (v.typeId === null) v.typeId = undefined;
  }
  return m;
}

function rangeOf(bin: Uint8Array, [off, len]: BinRange): Uint8Array {
  if (off < 0 || len < 0 || off + len > bin.byteLength) throw new RangeError("range outside bin");
  return bin.subarray(off, off + len);
}

/** Per lazy spec: its object, and the spec parsed from it once something lazy is read. */
interface LazySource {
  /** The object, or how to get it (checked against the text's hash then). */
  bytes: Uint8Array | (() => Uint8Array);
  /** The text's hash of its object. */
  hash: number;
  file: string | undefined;
  parsed: CollectionSpec | undefined;
}

/** The lazy programs and specs, with where their lazy parts come from. */
const lazyPrograms = new WeakMap<ProgramSpec, LazySource>();
const lazySpecs = new WeakMap<CollectionSpec, LazySource>();

function parsedSpec(src: LazySource): CollectionSpec {
  if (src.parsed !== undefined) return src.parsed;
  let bytes = src.bytes;
  if (typeof bytes === "function") {
    bytes = bytes();
    if (objectHash(bytes) !== src.hash) {
      throw new ParseError("the skeleton's embedded object is not the one its prepared spec was made from", {
        ...(src.file === undefined ? {} : { file: src.file }),
        hint: "the skeleton was edited by hand: generate it again (tsbpf gen skeleton)",
      });
    }
  }
  src.parsed = loadCollectionSpec(bytes, src.file === undefined ? {} : { file: src.file });
  return src.parsed;
}

/**
 * Decodes `p`'s lazy fields from the object, as data properties, and drops what its skeleton
 * carried for it: from now on the reader may change what it was computed from.
 */
function settleProgram(p: ProgramSpec): void {
  const src = lazyPrograms.get(p);
  if (src === undefined) return;
  lazyPrograms.delete(p);
  carryProgram(p, undefined);
  const q = parsedSpec(src).programs[p.name];
  for (const k of LAZY_PROGRAM_FIELDS) {
    const value = q === undefined ? [] : q[k];
    Object.defineProperty(p, k, { value, writable: true, enumerable: true, configurable: true });
  }
  lazyTailCalls(p);
}

/** One accessor per lazy field, shared by every program (its receiver is the program). */
function lazyProgramField(k: (typeof LAZY_PROGRAM_FIELDS)[number] | "tailCalls"): PropertyDescriptor {
  return {
    get(this: ProgramSpec): unknown {
      settleProgram(this);
      return this[k];
    },
    set(this: ProgramSpec, value: unknown): void {
      settleProgram(this);
      (this as unknown as Record<string, unknown>)[k] = value;
    },
    enumerable: true,
    configurable: true,
  };
}

const LAZY_PROGRAM: PropertyDescriptorMap = Object.fromEntries(
  [...LAZY_PROGRAM_FIELDS, "tailCalls" as const].map((k) => [k, lazyProgramField(k)]),
);

/** `spec.btf` decoded from the object on first read or set; the carried blob is dropped then. */
const LAZY_BTF: PropertyDescriptor = {
  get(this: CollectionSpec): unknown {
    settleBtf(this);
    return this.btf;
  },
  set(this: CollectionSpec, value: CollectionSpec["btf"]): void {
    settleBtf(this);
    this.btf = value;
  },
  enumerable: true,
  configurable: true,
};

function settleBtf(spec: CollectionSpec): void {
  const src = lazySpecs.get(spec);
  if (src === undefined) return;
  lazySpecs.delete(spec);
  carryBtf(spec, undefined);
  const value = parsedSpec(src).btf;
  Object.defineProperty(spec, "btf", { value, writable: true, enumerable: true, configurable: true });
}

/**
 * The spec a skeleton's `text` (from {@link encodePreparedSpec}) describes for `bytes`, its
 * costly parts decoded from `bytes` when first used; undefined when the text was made from
 * another object or cannot be read (then parse `bytes` with `loadCollectionSpec`).
 *
 * `bytes` may be a function giving the object: an object embedded in the same module as the text
 * (a generated skeleton), decoded only when something lazy is first read. Its hash is checked
 * then, and a mismatch (a module edited by hand) is a ParseError saying so; the kernel engine
 * loads from the text alone, which is self-consistent.
 */
export function openPreparedSpec(
  bytes: Uint8Array | (() => Uint8Array),
  text: string,
  opts: { file?: string } = {},
): CollectionSpec | undefined {
  try {
    const t = JSON.parse(text) as PreparedText;
    if (typeof t !== "object" || t === null || t.format !== FORMAT) return undefined;
    if (typeof bytes !== "function" && t.object !== objectHash(bytes)) {
      return undefined;
    }
    return specOf(t, bytes, opts.file);
  } catch {
    return undefined;
  }
}

/** The lazy spec `t` describes (throws on a text that does not have the layout). */
function specOf(
  t: PreparedText,
  bytes: Uint8Array | (() => Uint8Array),
  file: string | undefined,
): CollectionSpec {
  const bin = new Uint8Array(Buffer.from(t.bin, "base64"));
  const src: LazySource = { bytes, hash: t.object, file, parsed: undefined };
  const maps: Record<string, MapSpec> = {};
  for (let i = 0; i < t.maps.length; i++) {
    const m = mapOf(t.maps[i] as WireMap, bin);
    maps[m.name] = m;
  }
  const programs: Record<string, ProgramSpec> = {};
  const carried: [ProgramSpec, PreparedProgram][] = [];
  for (let i = 0; i < t.programs.length; i++) {
    const w = t.programs[i] as PreparedText["programs"][number];
    const eager = w.spec;
    for (const k in eager) if (eager[k] === null) eager[k] = undefined;
    const refs = w.refs;
    const prepared: PreparedProgram = {
      insns: rangeOf(bin, w.insns),
      refs: refs.map(([insn, map]) => ({ insn, map })),
      funcInfo: rangeOf(bin, w.funcInfo),
      lineInfo: rangeOf(bin, w.lineInfo),
    };
    const p = eager as unknown as ProgramSpec;
    Object.defineProperties(p, LAZY_PROGRAM);
    programs[p.name] = p;
    carried.push([p, prepared]);
  }
  const btf = t.btf === null ? undefined : rangeOf(bin, t.btf);
  // Registered only once the whole text was read: a text that fails half-way carries nothing.
  for (const [p, prepared] of carried) {
    lazyPrograms.set(p, src);
    carryProgram(p, prepared);
  }
  const spec = {
    file,
    byteOrder: t.byteOrder,
    license: t.license,
    kernelVersion: t.kernelVersion ?? undefined,
    programs,
    maps,
    btf: undefined,
    skippedSections: t.skippedSections,
  } as CollectionSpec;
  if (btf !== undefined) {
    Object.defineProperty(spec, "btf", LAZY_BTF);
    lazySpecs.set(spec, src);
    carryBtf(spec, btf);
  }
  return spec;
}
