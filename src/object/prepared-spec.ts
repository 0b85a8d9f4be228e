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
import { loadCollectionSpec, lazyTailCalls } from "./load-collection-spec.js";
import { carryBtf, carryProgram, type PreparedProgram, prepareBtf, prepareProgram } from "./prepared.js";
import type { CollectionSpec, MapSpec, ProgramSpec } from "./types.js";

/** The layout of the text; a skeleton with another is not read (its object is parsed). */
const FORMAT = 1;

/** The program fields decoded from the object on first use. */
const LAZY_PROGRAM_FIELDS = ["instructions", "references", "functions", "funcInfo", "lineInfo"] as const;

/** What {@link encodePreparedSpec} writes, before its values are made JSON. */
interface PreparedText {
  format: number;
  /** {@link objectHash} of the object. */
  object: number;
  file: string | undefined;
  byteOrder: CollectionSpec["byteOrder"];
  license: string;
  kernelVersion: number | undefined;
  skippedSections: CollectionSpec["skippedSections"];
  maps: MapSpec[];
  programs: { spec: Record<string, unknown>; prepared: PreparedProgram }[];
  /** The load-level BTF blob; null when the object has no BTF. */
  btf: Uint8Array | null;
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
  const programs = Object.values(spec.programs).map((p) => {
    const eager: Record<string, unknown> = {};
    // Keys, not entries: reading `tailCalls` would run its analysis.
    for (const k of Object.keys(p)) {
      if (k === "tailCalls" || (LAZY_PROGRAM_FIELDS as readonly string[]).includes(k)) continue;
      eager[k] = (p as unknown as Record<string, unknown>)[k];
    }
    return { spec: eager, prepared: prepareProgram(p, le, spec.file) };
  });
  const text: PreparedText = {
    format: FORMAT,
    object: objectHash(bytes),
    file: spec.file,
    byteOrder: spec.byteOrder,
    license: spec.license,
    kernelVersion: spec.kernelVersion,
    skippedSections: spec.skippedSections,
    maps: Object.values(spec.maps),
    programs,
    btf: prepareBtf(spec) ?? null,
  };
  return JSON.stringify(text, (_key, v: unknown) => {
    if (v === undefined) return { $: "u" };
    if (typeof v === "bigint") return { $: "n", v: v.toString() };
    if (v instanceof Uint8Array)
      return { $: "b", v: Buffer.from(v.buffer, v.byteOffset, v.byteLength).toString("base64") };
    return v;
  });
}

/** The values JSON cannot hold, back from their `{ $: ... }` forms, in place. */
function revive(v: unknown): unknown {
  if (typeof v !== "object" || v === null) return v;
  if (Array.isArray(v)) {
    for (let i = 0; i < v.length; i++) v[i] = revive(v[i]);
    return v;
  }
  const o = v as Record<string, unknown>;
  const tag = o.$;
  if (tag === "u") return undefined;
  if (tag === "n") return BigInt(o.v as string);
  if (tag === "b") return new Uint8Array(Buffer.from(o.v as string, "base64"));
  for (const k of Object.keys(o)) o[k] = revive(o[k]);
  return o;
}

/** Per lazy spec: its object, and the spec parsed from it once something lazy is read. */
interface LazySource {
  bytes: Uint8Array;
  file: string | undefined;
  parsed: CollectionSpec | undefined;
}

/** The lazy programs and specs, with where their lazy parts come from. */
const lazyPrograms = new WeakMap<ProgramSpec, LazySource>();
const lazySpecs = new WeakMap<CollectionSpec, LazySource>();

function parsedSpec(src: LazySource): CollectionSpec {
  src.parsed ??= loadCollectionSpec(src.bytes, src.file === undefined ? {} : { file: src.file });
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
 */
export function openPreparedSpec(
  bytes: Uint8Array,
  text: string,
  opts: { file?: string } = {},
): CollectionSpec | undefined {
  let t: PreparedText;
  try {
    t = revive(JSON.parse(text)) as PreparedText;
  } catch {
    return undefined;
  }
  if (typeof t !== "object" || t === null || t.format !== FORMAT || t.object !== objectHash(bytes)) {
    return undefined;
  }
  const file = opts.file ?? t.file;
  const src: LazySource = { bytes, file, parsed: undefined };
  const programs: Record<string, ProgramSpec> = {};
  for (let i = 0; i < t.programs.length; i++) {
    const { spec: eager, prepared } = t.programs[i] as PreparedText["programs"][number];
    const p = eager as unknown as ProgramSpec;
    Object.defineProperties(p, LAZY_PROGRAM);
    lazyPrograms.set(p, src);
    carryProgram(p, prepared);
    programs[p.name] = p;
  }
  const maps: Record<string, MapSpec> = {};
  for (let i = 0; i < t.maps.length; i++) {
    const m = t.maps[i] as MapSpec;
    maps[m.name] = m;
  }
  const spec = {
    file,
    byteOrder: t.byteOrder,
    license: t.license,
    kernelVersion: t.kernelVersion,
    programs,
    maps,
    btf: undefined,
    skippedSections: t.skippedSections,
  } as CollectionSpec;
  if (t.btf !== null) {
    Object.defineProperty(spec, "btf", LAZY_BTF);
    lazySpecs.set(spec, src);
    carryBtf(spec, t.btf);
  }
  return spec;
}
