/**
 * The types generated skeletons are written in (`tsbpf gen skeleton`). A skeleton module declares
 * its object's programs, maps and global variables as types and hands them to these generics,
 * which give the loaded skeleton on each engine: the engine's own programs and maps, typed map
 * views, prog arrays that take only programs of the right type, kernel attachments.
 */
import type { BackendName, BpfMap, MapScalar } from "../backend/types.js";
import type { EventReader } from "../backend/event-reader.js";
import type { CollectionFor, CollectionOptions } from "../collection.js";
import type { KernelXdpLink } from "../kernel/kernel-link.js";
import type { KernelMap } from "../kernel/kernel-map.js";
import type { KernelAttachXdpOptions, KernelProgram } from "../kernel/kernel-program.js";
import type { CollectionSpec } from "../object/types.js";
import type { VmProgram } from "../vm/vm-collection.js";

/** The live program class of engine `B`: what a skeleton's program is. */
export type EngineProgram<B extends BackendName> = B extends "kernel" ? KernelProgram : VmProgram;

/** The live map class of engine `B`: what a skeleton's map view wraps. */
export type EngineMap<B extends BackendName> = B extends "kernel" ? KernelMap : BpfMap;

/**
 * A program of a skeleton loaded on engine `B`: the engine's own program, with its program type
 * `P` (`"xdp"`) known to the compiler, so that a prog array can refuse a program of another type.
 */
export type SkeletonProgram<P extends string, B extends BackendName> = EngineProgram<B> & {
  readonly spec: { readonly typeName: P };
};

/**
 * A map whose keys and values are typed from BTF: `K` and `V` as read, `KIn` and `VIn` as written
 * (members left out are zero, enum names accepted). The same calls, results and errors on both
 * engines (it is a `TypedMap` underneath).
 */
export interface SkeletonMap<B extends BackendName, K, V, KIn = K, VIn = V> extends Iterable<[K, V]> {
  /** The map's name. */
  readonly name: string;
  /** The engine's map, for raw access (and, on the kernel, `pin`). */
  readonly map: EngineMap<B>;
  /** The value under `key`, or `undefined` when there is none. */
  get(key: KIn): V | undefined;
  /** Whether `key` is present. */
  has(key: KIn): boolean;
  /** Stores `value` under `key` (`UpdateFlag` semantics); it replaces the whole value. */
  set(key: KIn, value: VIn, flags?: bigint): this;
  /** Deletes `key`; `false` when it was absent. */
  delete(key: KIn): boolean;
  /** Keys in the engine's order. */
  keys(): IterableIterator<K>;
  /** Values in key order. */
  values(): IterableIterator<V>;
  /** [key, value] pairs. */
  entries(): IterableIterator<[K, V]>;
}

/**
 * A per-CPU map: each key holds one value for each possible CPU (read as an array); a value
 * written alone is stored on every CPU, an array gives one per CPU.
 */
export type PerCpuMap<B extends BackendName, K, V, KIn = K, VIn = V> = SkeletonMap<
  B,
  K,
  V[],
  KIn,
  VIn | VIn[]
>;

/**
 * A prog array whose slots take programs of type `P` loaded on the same engine, from this
 * skeleton or another one; `string` when the object does not settle the type.
 */
export interface ProgArray<B extends BackendName, P extends string> {
  /** The map's name. */
  readonly name: string;
  /** The engine's map, for raw access. */
  readonly map: EngineMap<B>;
  /** Puts `program` in slot `key`: a tail call through that slot then runs it. */
  set(key: number, program: SkeletonProgram<P, B>): this;
  /** Empties slot `key`; `false` when it was empty. */
  delete(key: number): boolean;
}

/** A map of maps: its slots take maps of the same engine. */
export interface MapOfMaps<B extends BackendName> {
  /** The map's name. */
  readonly name: string;
  /** The engine's map, for raw access. */
  readonly map: EngineMap<B>;
  /** Puts `inner` under `key`. */
  set(key: MapScalar, inner: EngineMap<B>): this;
  /** Removes `key`; `false` when it was absent. */
  delete(key: MapScalar): boolean;
}

/**
 * A ring buffer or perf event array: records whose type BTF cannot give, named when the skeleton
 * was generated (`--type MAP=STRUCT`); bytes otherwise.
 */
export interface RecordMap<B extends BackendName, R, RIn = R> {
  /** The map's name. */
  readonly name: string;
  /** The engine's map, for raw access. */
  readonly map: EngineMap<B>;
  /** One record as the program wrote it (at least the record type's size). */
  decode(record: Uint8Array): R;
  /** The bytes of one record (for user ring buffers), members left out zero. */
  encode(record: RIn): Uint8Array;
  /**
   * Reads the records programs send through this ring buffer or perf event array as they come,
   * decoded as `R` (see docs/events.md; `pages`: each CPU's perf buffer).
   */
  events(opts?: { pages?: number }): EventReader<R>;
}

/** XDP programs among a skeleton's programs `P` (name → program type): the ones `attach` takes. */
export type XdpProgramName<P> = { [N in keyof P]: P[N] extends "xdp" ? N : never }[keyof P] & string;

/** What `attach` takes: for each XDP program to attach, where. */
export type AttachTargets<A extends string> = { readonly [N in A]?: KernelAttachXdpOptions };

/** What a skeleton has on the kernel: its programs' attachments. */
export interface KernelSkeleton<A extends string> {
  /** The attachments made through {@link attach}, by program; detached when the skeleton closes. */
  readonly links: { readonly [N in A]?: KernelXdpLink };
  /**
   * Attaches XDP programs (`{ main_prog: { iface: "veth0" } }`), each through a bpf_link; the
   * links are also in {@link links}, and closing the skeleton detaches them.
   */
  attach<T extends AttachTargets<A>>(
    targets: T & { readonly [N in Exclude<keyof T, A>]: never },
  ): Promise<{ readonly [N in keyof T & A]: KernelXdpLink }>;
}

/** What every loaded skeleton has, on either engine. */
export interface SkeletonBase<B extends BackendName, P, M> extends Disposable, AsyncDisposable {
  /** The skeleton's name (`TailCall`). */
  readonly name: string;
  /** The engine it is loaded on. */
  readonly backend: B;
  /** The collection underneath (`trace()` on the kernel, `programs` and `maps` by string). */
  readonly collection: CollectionFor<B>;
  /** The programs, by name: the engine's programs, typed. */
  readonly progs: { readonly [N in keyof P]: SkeletonProgram<P[N] & string, B> };
  /** The maps, by name, each with its typed view. */
  readonly maps: M;
  /** Releases everything (on the kernel: detaches the skeleton's links and closes every fd). */
  close(): void;
}

/**
 * A skeleton loaded on engine `B`: its programs `P` (name → program type), maps `M` and, on the
 * kernel, `attach` and `links` for its XDP programs. The generated module adds its globals.
 */
export type Skeleton<B extends BackendName, P, M> = SkeletonBase<B, P, M> &
  (B extends "kernel"
    ? [XdpProgramName<P>] extends [never]
      ? unknown
      : KernelSkeleton<XdpProgramName<P>>
    : unknown);

/** Options of `load` and `openAndLoad`: the engine and its options, as `Collection.load` takes. */
export type SkeletonLoadOptions = Partial<CollectionOptions>;

/** Options of `open`. */
export interface SkeletonOpenOptions {
  /** The object to open instead of the skeleton's own (its bytes, or a path or file URL). */
  object?: Uint8Array | string | URL;
}

/**
 * A skeleton opened and not loaded: its spec, with the global variables the generated type adds
 * settable until `load`. `K` and `V` are the loaded skeleton on the kernel and on the VM.
 */
export interface OpenSkeleton<K, V> {
  /** The skeleton's name. */
  readonly name: string;
  /** The object's spec, with the globals set so far (for what the skeleton does not cover). */
  readonly spec: CollectionSpec;
  /** Loads into the kernel: attach, pin, trace. Once; the globals are frozen after. */
  load(opts: SkeletonLoadOptions & { backend: "kernel" }): Promise<K>;
  /** Loads into the built-in VM (the default engine). Once; the globals are frozen after. */
  load(opts?: SkeletonLoadOptions & { backend?: "vm" }): Promise<V>;
  /** Loads into an engine chosen at run time; `backend` tells which one it is. */
  load(opts?: SkeletonLoadOptions): Promise<K | V>;
}

/** The constant a skeleton module exports: `open()`, and `openAndLoad()` in one step. */
export interface SkeletonModule<K, V, O> {
  /** The skeleton's name. */
  readonly name: string;
  /** Parses the object, ready to set globals and load. */
  open(opts?: SkeletonOpenOptions): O;
  /** Opens and loads into the kernel. */
  openAndLoad(opts: SkeletonLoadOptions & SkeletonOpenOptions & { backend: "kernel" }): Promise<K>;
  /** Opens and loads into the built-in VM (the default engine). */
  openAndLoad(opts?: SkeletonLoadOptions & SkeletonOpenOptions & { backend?: "vm" }): Promise<V>;
  /** Opens and loads into an engine chosen at run time. */
  openAndLoad(opts?: SkeletonLoadOptions & SkeletonOpenOptions): Promise<K | V>;
}

/** What a generated module tells `defineSkeleton` about its object, checked when it is opened. */
export interface SkeletonDescriptor {
  /** The skeleton's name. */
  readonly name: string;
  /** The object's file name, for messages. */
  readonly file: string;
  /** Where the object is: embedded (base64 lines), or at a URL read when it is opened. */
  readonly object: { readonly base64: () => readonly string[] } | { readonly url: URL };
  /**
   * What `tsbpf gen skeleton` worked out of the object that does not depend on the kernel (its
   * maps, its programs prepared for loading), so that opening parses nothing: JSON, in pieces.
   * Used while the object is the one it was made from; otherwise the object is parsed.
   */
  readonly prepared?: { readonly json: () => readonly string[] };
  /** Program name → program type name. */
  readonly programs: Readonly<Record<string, string>>;
  /** Map name → what the module's types assume of it. */
  readonly maps: Readonly<Record<string, SkeletonMapDescriptor>>;
  /** View name (`rodata`) → its section and the variables it shows. */
  readonly globals: Readonly<Record<string, SkeletonSectionDescriptor>>;
}

/** One map of a {@link SkeletonDescriptor}. */
export interface SkeletonMapDescriptor {
  /** Map type name (`hash`). */
  readonly type: string;
  readonly keySize: number;
  readonly valueSize: number;
  /** Prog arrays: the program type their slots take. */
  readonly programType?: string;
  /** Ring buffers and perf event arrays: the record type (`event`). */
  readonly record?: string;
}

/** One global-data view of a {@link SkeletonDescriptor}. */
export interface SkeletonSectionDescriptor {
  /** The section (`.rodata`). */
  readonly section: string;
  /** The variables the view shows. */
  readonly variables: readonly string[];
}
