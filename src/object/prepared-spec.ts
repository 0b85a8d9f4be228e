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
import { fromBase64 } from "../internal/bytes.js";
import { lazyTailCalls, parseCollectionSpec } from "./parse-collection-spec.js";
import { carryBtf, carryProgram, type PreparedProgram, prepareBtf, prepareProgram } from "./prepared.js";
import { type PrintkSite, printkSites } from "./printk-sites.js";
import { frameLayout, walkFrames } from "./stack-frames.js";
import type { CollectionSpec, MapSpec, ProgramSpec, TailCallSite } from "./types.js";

/** The layout of the text; a skeleton with another is not read (its object is parsed). */
const FORMAT = 4;

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
    /**
     * What a plan check and the trace filter ask of the program, so that they decode nothing:
     * its tail-call sites (`undefined` as `null`), where each printk call's format is
     * (`[map, offset]`, or null), and whether the verifier's frame walk finds no tail call
     * under too much stack. Each, when missing, is worked out from the decoded program.
     */
    tailCalls?: TailCallSite[];
    printk?: ([string, number] | null)[];
    stackClear?: boolean;
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
      // Carried, as the prepared form is: `tsbpf attach` checks the slots every site may use
      // before it attaches, and working them out would decode the whole object (issue 14).
      tailCalls: p.tailCalls,
      // And for the trace filter `attach` starts before it attaches.
      printk: printkSites(p).map((x): [string, number] | null =>
        x === undefined ? null : [x.map, x.offset],
      ),
      // And for the plan check's walk over call chains, which a program with subprograms needs.
      stackClear: walkFrames(frameLayout(p.instructions)).problems.every((x) => x.kind !== "tail-call-stack"),
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
  // BigInt() parses its string in the runtime, some 40 µs on first use; most maps have none.
  m.mapExtra = w.mapExtra === "0" ? 0n : BigInt(w.mapExtra);
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

/** A tail-call site as the text holds it (`undefined` as `null`), in place. */
function siteOf(w: TailCallSite): TailCallSite {
  const x = w as { map: unknown; keys: unknown; subprogram: unknown; source: unknown };
  if (x.map === null) x.map = undefined;
  if (x.keys === null) x.keys = undefined;
  if (x.subprogram === null) x.subprogram = undefined;
  if (x.source === null) x.source = undefined;
  return w;
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

/**
 * A lazy program: where its lazy parts come from, and what its text said of it (the answers a
 * plan check and the trace filter ask for), good until the program settles. `tailCalls` goes once
 * read, as it is a data property then.
 */
interface LazyProgram {
  src: LazySource;
  tailCalls: TailCallSite[] | undefined;
  printk: (PrintkSite | undefined)[] | undefined;
  stackClear: boolean;
}

/** The lazy programs and specs. */
const lazyPrograms = new WeakMap<ProgramSpec, LazyProgram>();
const lazySpecs = new WeakMap<CollectionSpec, LazySource>();

/**
 * True when `p`'s text said the verifier's frame walk (stack-frames.ts) finds no tail call under
 * too much caller stack, and nothing of the program was decoded since; false when that is not
 * known without walking its instructions.
 */
export function tailCallStackClear(p: ProgramSpec): boolean {
  return lazyPrograms.get(p)?.stackClear === true;
}

/**
 * {@link printkSites} of `p`: what its text carried while nothing of the program was decoded
 * (then they are the same), else worked out from the program.
 */
export function printkSitesOf(p: ProgramSpec): (PrintkSite | undefined)[] {
  return lazyPrograms.get(p)?.printk ?? printkSites(p);
}

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
  src.parsed = parseCollectionSpec(bytes, src.file === undefined ? {} : { file: src.file });
  return src.parsed;
}

/**
 * Decodes `p`'s lazy fields from the object, as data properties, and drops what its skeleton
 * carried for it: from now on the reader may change what it was computed from.
 */
function settleProgram(p: ProgramSpec): void {
  const lazy = lazyPrograms.get(p);
  if (lazy === undefined) return;
  lazyPrograms.delete(p);
  carryProgram(p, undefined);
  const q = parsedSpec(lazy.src).programs[p.name];
  for (const k of LAZY_PROGRAM_FIELDS) {
    const value = q === undefined ? [] : q[k];
    Object.defineProperty(p, k, { value, writable: true, enumerable: true, configurable: true });
  }
  // Sites already read (or set) stay as they are, as a parsed program's do.
  if (Object.getOwnPropertyDescriptor(p, "tailCalls")?.get !== undefined) lazyTailCalls(p);
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

/**
 * `tailCalls` of a lazy program: the sites its text carried, as a data property, without decoding
 * the rest; worked out from the decoded program when the text carried none.
 */
const LAZY_TAIL_CALLS: PropertyDescriptor = {
  ...lazyProgramField("tailCalls"),
  get(this: ProgramSpec): unknown {
    const lazy = lazyPrograms.get(this);
    const sites = lazy?.tailCalls;
    if (lazy === undefined || sites === undefined) {
      settleProgram(this);
      return this.tailCalls;
    }
    lazy.tailCalls = undefined;
    Object.defineProperty(this, "tailCalls", {
      value: sites,
      writable: true,
      enumerable: true,
      configurable: true,
    });
    return sites;
  },
};

const LAZY_PROGRAM: PropertyDescriptorMap = {
  ...Object.fromEntries(LAZY_PROGRAM_FIELDS.map((k) => [k, lazyProgramField(k)])),
  tailCalls: LAZY_TAIL_CALLS,
};

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
 * loads from the text alone, which is self-consistent. `matched`: the caller found `text` by
 * comparing every byte of `bytes` (the object cache), so the hash is not worked out again.
 */
export function openPreparedSpec(
  bytes: Uint8Array | (() => Uint8Array),
  text: string,
  opts: { file?: string; matched?: boolean } = {},
): CollectionSpec | undefined {
  try {
    const t = JSON.parse(text) as PreparedText;
    if (typeof t !== "object" || t === null || t.format !== FORMAT) return undefined;
    if (typeof bytes !== "function" && opts.matched !== true && t.object !== objectHash(bytes)) {
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
  const bin = fromBase64(t.bin);
  const src: LazySource = { bytes, hash: t.object, file, parsed: undefined };
  const maps: Record<string, MapSpec> = {};
  for (let i = 0; i < t.maps.length; i++) {
    const m = mapOf(t.maps[i] as WireMap, bin);
    maps[m.name] = m;
  }
  const programs: Record<string, ProgramSpec> = {};
  const carried: [ProgramSpec, PreparedProgram, LazyProgram][] = [];
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
    carried.push([
      p,
      prepared,
      {
        src,
        tailCalls: w.tailCalls === undefined ? undefined : w.tailCalls.map(siteOf),
        printk:
          w.printk === undefined
            ? undefined
            : w.printk.map((x) => (x === null ? undefined : { map: x[0], offset: x[1] })),
        stackClear: w.stackClear === true,
      },
    ]);
  }
  const btf = t.btf === null ? undefined : rangeOf(bin, t.btf);
  // Registered only once the whole text was read: a text that fails half-way carries nothing.
  for (const [p, prepared, lazy] of carried) {
    lazyPrograms.set(p, lazy);
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
