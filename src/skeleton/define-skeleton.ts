/**
 * The runtime of generated skeletons. `defineSkeleton(descriptor)` is what a skeleton module's
 * constant is: `open()` parses the object (embedded or read from its path) and checks that it
 * still has what the module's types describe, global variables are set in the spec until
 * `load`, and `load` goes through `Collection.load` and builds the typed views over the live
 * collection. Everything here works on either engine; only `attach` is the kernel's.
 */
import { readFileSync } from "node:fs";
import { basename } from "node:path";
import { fileURLToPath } from "node:url";
import { Errno } from "../abi/index.js";
import { globals, readGlobals, rewriteGlobals, specBtf, typedMap } from "../backend/typed-map.js";
import type { BpfMap, BpfProgram, LoadedCollection, MapScalar } from "../backend/types.js";
import type { EventReader } from "../backend/event-reader.js";
import { decodeBtfValue, encodeBtfValue, type BtfValue } from "../btf/codec.js";
import { btfSizeof } from "../btf/type-helpers.js";
import type { Btf } from "../btf/types.js";
import { Collection, type CollectionFor } from "../collection.js";
import { isMapError, isTsbpfError, UsageError } from "../errors.js";
import { findRecordType, skeletonMapKind } from "../gen/skeleton-model.js";
import { fromBase64 } from "../internal/bytes.js";
import type { KernelXdpLink } from "../kernel/kernel-link.js";
import type { KernelAttachXdpOptions } from "../kernel/kernel-program.js";
import { loadCollectionSpec } from "../object/load-collection-spec.js";
import { openPreparedSpec } from "../object/prepared-spec.js";
import type { CollectionSpec } from "../object/types.js";
import type {
  SkeletonDescriptor,
  SkeletonLoadOptions,
  SkeletonMapDescriptor,
  SkeletonModule,
  SkeletonOpenOptions,
} from "./types.js";

/**
 * The skeleton a generated module describes. The module's declared type (`SkeletonModule<...>`)
 * gives `K`, `V` and `O`; nothing here can check them against the descriptor, which is why only
 * generated code should call this.
 */
export function defineSkeleton<K, V, O>(descriptor: SkeletonDescriptor): SkeletonModule<K, V, O> {
  const open = (opts: SkeletonOpenOptions = {}) => openSkeleton(descriptor, opts);
  const module = {
    name: descriptor.name,
    open,
    openAndLoad: async (opts: SkeletonLoadOptions & SkeletonOpenOptions = {}) => {
      const { object, ...load } = opts;
      return open(object === undefined ? {} : { object }).load(load);
    },
  };
  return module as unknown as SkeletonModule<K, V, O>;
}

/** The opened skeleton: the spec, the global views over it, and `load`. */
function openSkeleton(d: SkeletonDescriptor, opts: SkeletonOpenOptions) {
  // The prepared spec when the skeleton carries one made from this object; else parsed. An
  // embedded object is decoded only when the spec needs it (see openPreparedSpec).
  const prepared = d.prepared?.json().join("");
  const embedded = opts.object === undefined && "base64" in d.object;
  const source = embedded ? undefined : objectBytes(d, opts.object);
  const spec =
    (prepared === undefined
      ? undefined
      : openPreparedSpec(source?.bytes ?? (() => objectBytes(d, undefined).bytes), prepared, {
          file: source?.file ?? d.file,
        })) ??
    loadCollectionSpec(source?.bytes ?? objectBytes(d, undefined).bytes, { file: source?.file ?? d.file });
  checkObject(d, spec);
  let loaded = false;
  const handle: Record<string, unknown> = {
    name: d.name,
    spec,
    load: async (loadOpts: SkeletonLoadOptions = {}) => {
      if (loaded) {
        throw new UsageError(`skeleton ${d.name} is loaded already`, {
          file: d.file,
          hint: `open() it again for another load: ${d.name}.open().load(...)`,
        });
      }
      loaded = true;
      let coll: CollectionFor<"vm" | "kernel">;
      try {
        coll = await Collection.load(spec, loadOpts);
      } catch (e) {
        loaded = false; // nothing was loaded: the globals may still change, and load be tried again
        throw e;
      }
      try {
        return loadedSkeleton(d, coll);
      } catch (e) {
        coll.close();
        throw e;
      }
    },
  };
  for (const [key, s] of Object.entries(d.globals)) {
    const view: Record<string, unknown> = {};
    for (const name of s.variables) {
      Object.defineProperty(view, name, {
        enumerable: true,
        get: () => readGlobals(spec, s.section, [name])[name],
        set: (value: BtfValue) => {
          if (loaded) {
            throw new UsageError(
              `skeleton ${d.name} is loaded: ${name} (${s.section}) is set on the opened one`,
              {
                file: d.file,
                hint: "set globals on the opened skeleton before load(); after, the loaded skeleton's views write the live map (.rodata is frozen)",
              },
            );
          }
          rewriteGlobals(spec, s.section, { [name]: value });
        },
      });
    }
    handle[key] = view;
  }
  return handle as { load(o?: SkeletonLoadOptions): Promise<unknown> };
}

/** The object's bytes and file name: given in `open`, else embedded, else read from the skeleton's URL. */
function objectBytes(
  d: SkeletonDescriptor,
  given: SkeletonOpenOptions["object"],
): { bytes: Uint8Array; file: string } {
  if (given instanceof Uint8Array) return { bytes: given, file: d.file };
  const where = given ?? ("url" in d.object ? d.object.url : undefined);
  if (where === undefined && "base64" in d.object) {
    return { bytes: fromBase64(d.object.base64().join("")), file: d.file };
  }
  const path = where instanceof URL ? fileURLToPath(where) : (where as string);
  try {
    return { bytes: new Uint8Array(readFileSync(path)), file: basename(path) };
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code ?? String(e);
    throw new UsageError(`skeleton ${d.name}: cannot read ${path}: ${code}`, {
      file: d.file,
      hint: "the object is read at open(): keep it where the skeleton's path says, or pass open({ object })",
    });
  }
}

/**
 * Whether the object still has what the skeleton's types describe: each program with its type,
 * each map with its type and sizes, each variable. A mismatch means the object was rebuilt
 * after the skeleton was generated.
 */
function checkObject(d: SkeletonDescriptor, spec: CollectionSpec): void {
  const stale = (what: string) =>
    new UsageError(`skeleton ${d.name} does not match its object (${spec.file ?? d.file}): ${what}`, {
      file: d.file,
      hint: "the object changed since the skeleton was generated: generate it again (tsbpf gen skeleton)",
    });
  for (const [name, type] of Object.entries(d.programs)) {
    const p = spec.programs[name];
    if (p === undefined) throw stale(`no program ${name}`);
    if (p.typeName !== type) throw stale(`program ${name} is ${p.typeName}, not ${type}`);
  }
  for (const [name, want] of Object.entries(d.maps)) {
    const m = spec.maps[name];
    if (m === undefined) throw stale(`no map ${name}`);
    const have = `${m.typeName} ${m.keySize}/${m.valueSize}`;
    if (have !== `${want.type} ${want.keySize}/${want.valueSize}`) {
      throw stale(`map ${name} is ${have}, not ${want.type} ${want.keySize}/${want.valueSize}`);
    }
  }
  for (const s of Object.values(d.globals)) {
    const m = Object.values(spec.maps).find((x) => x.origin === "global-data" && x.section === s.section);
    for (const name of s.variables) {
      if (m === undefined || !m.variables.some((v) => v.name === name)) {
        throw stale(`no variable ${name} in ${s.section}`);
      }
    }
  }
}

/** The loaded skeleton over a live collection. */
function loadedSkeleton(d: SkeletonDescriptor, coll: CollectionFor<"vm" | "kernel">): unknown {
  // Read only for views that decode values: a skeleton's spec decodes its BTF when first read.
  const btf = () => specBtf(coll.spec);
  const le = coll.spec.byteOrder === "little";
  const progs: Record<string, BpfProgram> = {};
  // A `?` section's program is absent unless it was asked for (autoload), as in the collection.
  for (const name of Object.keys(d.programs)) {
    const p = coll.programs[name];
    if (p !== undefined) progs[name] = p;
  }
  const maps: Record<string, unknown> = {};
  for (const [name, m] of Object.entries(d.maps))
    maps[name] = mapView(coll.maps[name] as BpfMap, m, btf, le, coll);
  const close = () => coll.close();
  const skel: Record<string | symbol, unknown> = {
    name: d.name,
    backend: coll.backend,
    collection: coll,
    progs,
    maps,
    close,
    [Symbol.dispose]: close,
    [Symbol.asyncDispose]: async () => close(),
  };
  for (const [key, s] of Object.entries(d.globals)) skel[key] = globalsView(coll, s.section, s.variables);
  if (coll.backend === "kernel") {
    const links: Record<string, KernelXdpLink> = {};
    skel.links = links;
    skel.attach = async (targets: Record<string, KernelAttachXdpOptions>) => {
      const made: Record<string, KernelXdpLink> = {};
      for (const [name, where] of Object.entries(targets)) {
        const p = coll.programs[name];
        if (p === undefined || d.programs[name] === undefined) {
          throw new UsageError(`skeleton ${d.name}: no program ${name} to attach`, {
            file: d.file,
            hint: `programs: ${Object.keys(d.programs).join(", ") || "(none)"}`,
          });
        }
        const link = await p.attachXdp(where);
        links[name] = link;
        made[name] = link;
      }
      return made;
    };
  }
  return skel;
}

/** The view a skeleton gives one map (see {@link skeletonMapKind}). */
function mapView(
  map: BpfMap,
  d: SkeletonMapDescriptor,
  btf: () => Btf | undefined,
  le: boolean,
  coll: LoadedCollection,
): unknown {
  switch (skeletonMapKind(map.spec.type)) {
    case "prog-array":
      return new SlotMap(map, d.programType);
    case "map-of-maps":
      return new SlotMap(map, undefined);
    case "records":
      return new RecordView(map, d.record, btf(), le, coll);
    default:
      return typedMap(map, btf());
  }
}

/** A prog array or map of maps: slots filled with programs or maps of the same engine. */
class SlotMap {
  readonly map: BpfMap;
  readonly #programType: string | undefined;

  constructor(map: BpfMap, programType: string | undefined) {
    this.map = map;
    this.#programType = programType;
  }

  get name(): string {
    return this.map.name;
  }

  set(key: MapScalar, value: BpfProgram | BpfMap): this {
    const type = (value as Partial<BpfProgram>).spec?.typeName;
    if (this.#programType !== undefined && "run" in value && type !== this.#programType) {
      throw new UsageError(
        `map ${this.map.name}: program ${value.name} is ${type}, the array holds ${this.#programType} programs`,
        { map: this.map.name },
      );
    }
    this.map.set(key, value);
    return this;
  }

  delete(key: MapScalar): boolean {
    try {
      this.map.remove(key);
      return true;
    } catch (e) {
      if (isMapError(e) && e.errno === Errno.ENOENT) return false;
      throw e;
    }
  }
}

/** A ring buffer or perf event array: records decoded by the record type named at generation. */
class RecordView {
  readonly map: BpfMap;
  readonly #btf: Btf | undefined;
  readonly #id: number | undefined;
  readonly #le: boolean;
  readonly #coll: LoadedCollection;

  constructor(
    map: BpfMap,
    record: string | undefined,
    btf: Btf | undefined,
    le: boolean,
    coll: LoadedCollection,
  ) {
    this.map = map;
    this.#coll = coll;
    this.#record = record;
    this.#btf = btf;
    this.#le = le;
    this.#id = record === undefined || btf === undefined ? undefined : findRecordType(btf, record);
    if (record !== undefined && this.#id === undefined) {
      throw new UsageError(`map ${map.name}: no record type ${record} in the object's BTF`, {
        map: map.name,
      });
    }
  }

  get name(): string {
    return this.map.name;
  }

  readonly #record: string | undefined;

  /** A reader of the map's records as they come, decoded as the skeleton's record type. */
  events(opts: { pages?: number } = {}): EventReader<unknown> {
    return this.#coll.events(this.map.name, {
      ...(this.#record === undefined ? {} : { type: this.#record }),
      ...(opts.pages === undefined ? {} : { pages: opts.pages }),
    });
  }

  decode(record: Uint8Array): BtfValue {
    if (this.#id === undefined || this.#btf === undefined) return record.slice();
    const btf = this.#btf;
    const id = this.#id;
    const size = btfSizeof(btf, id);
    if (record.byteLength < size) {
      throw new UsageError(
        `map ${this.map.name}: a record of ${record.byteLength} bytes, its type needs ${size}`,
        {
          map: this.map.name,
        },
      );
    }
    return this.#named(() => decodeBtfValue(btf, id, record.subarray(0, size), this.#le, { path: "record" }));
  }

  encode(record: BtfValue): Uint8Array {
    if (this.#id === undefined || this.#btf === undefined) {
      if (record instanceof Uint8Array) return record;
      throw new UsageError(`map ${this.map.name}: records are bytes (no record type was named)`, {
        map: this.map.name,
      });
    }
    const btf = this.#btf;
    const id = this.#id;
    return this.#named(() => encodeBtfValue(btf, id, record, this.#le, { path: "record" }));
  }

  #named<T>(fn: () => T): T {
    try {
      return fn();
    } catch (e) {
      throw isTsbpfError(e) ? e.withContext({ map: this.map.name }) : e;
    }
  }
}

/** The variables of a section of a live collection as properties, read and written in its map. */
function globalsView(coll: LoadedCollection, section: string, names: readonly string[]): object {
  const vars = globals(coll, section);
  const view: Record<string, unknown> = {};
  for (const name of names) {
    Object.defineProperty(view, name, {
      enumerable: true,
      get: () => vars.get(name),
      set: (value: BtfValue) => vars.set(name, value),
    });
  }
  return view;
}
