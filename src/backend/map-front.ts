/**
 * The one user-facing map API over both engines. An engine implements only the syscall-level
 * operations (lookup, update, delete, next key, and how an object goes into an fd slot); this
 * class adds everything a user touches — size checks, integer keys and values, per-CPU values,
 * programs into prog arrays, iteration — once, so the same call gives the same result and the
 * same error on the VM and the kernel.
 */
import { MapType, isFdValuedMapType, isPerCpuMapType, perCpuValueStride } from "../abi/map-type.js";
import { UsageError, isMapError, isTsbpfError } from "../errors.js";
import type { ByteOrder, MapSpec } from "../object/types.js";
import { mapErrnoError } from "./map-error.js";
import { describeKey, encodeScalar } from "./scalar.js";
import type { BpfMap, BpfProgram, MapScalar } from "./types.js";

/** What every map needs to know beyond its spec. */
export interface MapFrontOptions {
  /** Byte order integers are encoded in: the object's. */
  byteOrder: ByteOrder;
  /**
   * CPUs a per-CPU map holds values for (see {@link hostPossibleCpus} for the default). A function
   * is called once, when first needed: at once for per-CPU maps, on first read otherwise, so that
   * loading maps that never ask costs no file read.
   */
  possibleCpus: number | (() => number);
}

function checkCpus(n: number, map: string): void {
  if (!Number.isInteger(n) || n < 1)
    throw new UsageError(`possibleCpus ${n} must be a positive integer`, { map });
}

/** Whether `v` is a live program of either engine (what a prog array slot takes). */
export function isBpfProgram(v: unknown): v is BpfProgram {
  const p = v as Partial<BpfProgram> | null;
  return typeof p === "object" && p !== null && typeof p.run === "function" && typeof p.spec === "object";
}

/** Whether `v` is a live map of either engine (what a map-of-maps slot takes). */
export function isBpfMap(v: unknown): v is BpfMap {
  return v instanceof MapFront;
}

/**
 * A live map. Engines subclass it and implement the `raw*` operations and {@link slotValue};
 * every public method is here. Raw methods take bytes of exactly the user-space sizes (all CPUs'
 * values for per-CPU maps, 4-byte fds or ids for fd maps); friendly ones take integers too.
 */
export abstract class MapFront implements BpfMap {
  readonly name: string;
  readonly spec: MapSpec;
  readonly byteOrder: ByteOrder;
  #possibleCpus: number | (() => number);
  /** Whether each key holds one value per possible CPU. */
  readonly perCpu: boolean;
  /** Bytes of a value in user space: all CPUs' copies for per-CPU maps, 4 for fd maps. */
  readonly valueBufferSize: number;

  constructor(spec: MapSpec, opts: MapFrontOptions) {
    this.name = spec.name;
    this.spec = spec;
    this.byteOrder = opts.byteOrder;
    this.#possibleCpus = opts.possibleCpus;
    if (typeof opts.possibleCpus === "number") checkCpus(opts.possibleCpus, spec.name);
    this.perCpu = isPerCpuMapType(spec.type);
    this.valueBufferSize = this.perCpu
      ? perCpuValueStride(spec.valueSize) * this.possibleCpus
      : spec.valueSize;
  }

  /** CPUs a per-CPU map holds values for (the host's possible CPUs by default). */
  get possibleCpus(): number {
    let n = this.#possibleCpus;
    if (typeof n === "number") return n;
    n = n();
    checkCpus(n, this.spec.name);
    this.#possibleCpus = n;
    return n;
  }

  // ---- what an engine implements: sizes are already checked; failures throw MapError with errno ----

  /** BPF_MAP_LOOKUP_ELEM; `undefined` for ENOENT. */
  protected abstract rawLookup(key: Uint8Array): Uint8Array | undefined;
  /** BPF_MAP_UPDATE_ELEM with the kernel's flag semantics. */
  protected abstract rawUpdate(key: Uint8Array, value: Uint8Array, flags: bigint): void;
  /** BPF_MAP_DELETE_ELEM. */
  protected abstract rawDelete(key: Uint8Array): void;
  /** BPF_MAP_GET_NEXT_KEY: the first key for `undefined`; `undefined` after the last. */
  protected abstract rawNextKey(key: Uint8Array | undefined): Uint8Array | undefined;
  /**
   * The 4-byte value that puts `obj` (a program or map of this engine) into an fd slot: its fd
   * on the kernel, its handle on the VM; `undefined` for an object of another engine.
   */
  protected abstract slotValue(obj: BpfProgram | BpfMap): Uint8Array | undefined;

  // ---- raw API ----

  /** Raw lookup; `undefined` when the key is absent. Per-CPU maps give all CPUs' values concatenated. */
  lookup(key: Uint8Array): Uint8Array | undefined {
    const k = this.#checkKey(key);
    return this.#engine("lookup key", k, () => this.rawLookup(k));
  }

  /** Raw update with the kernel's flag semantics (`UpdateFlag`). */
  update(key: Uint8Array, value: Uint8Array, flags = 0n): void {
    const k = this.#checkKey(key);
    if (!(value instanceof Uint8Array) || value.byteLength !== this.valueBufferSize) {
      throw this.#usage(
        `${this.#opText("update key", k)}: value is ${value instanceof Uint8Array ? `${value.byteLength} bytes` : kindOf(value)}, the map needs ${this.valueBufferSize} bytes`,
        this.perCpu
          ? `a per-CPU value holds ${this.possibleCpus} copies of ${perCpuValueStride(this.spec.valueSize)} bytes`
          : undefined,
      );
    }
    if (typeof flags !== "bigint") {
      throw this.#usage(`${this.#opText("update key", k)}: flags must be a bigint (UpdateFlag)`);
    }
    this.#engine("update key", k, () => this.rawUpdate(k, value, flags));
  }

  /** Raw delete: the engine's ENOENT when absent, EINVAL for arrays. */
  delete(key: Uint8Array): void {
    const k = this.#checkKey(key);
    this.#engine("delete key", k, () => this.rawDelete(k));
  }

  /** BPF_MAP_GET_NEXT_KEY: the key after `key` (the first for `undefined`), `undefined` at the end. */
  nextKey(key: Uint8Array | undefined): Uint8Array | undefined {
    const k = key === undefined ? undefined : this.#checkKey(key);
    return this.#engine("next key after", k, () => this.rawNextKey(k));
  }

  /** Keys in the engine's order (BPF_MAP_GET_NEXT_KEY). */
  *keys(): IterableIterator<Uint8Array> {
    let k = this.nextKey(undefined);
    while (k !== undefined) {
      yield k;
      k = this.nextKey(k);
    }
  }

  // ---- friendly API ----

  /** Lookup with an integer key encoded to key size. */
  get(key: MapScalar): Uint8Array | undefined {
    return this.lookup(this.#encodeKey(key));
  }

  /** Per-CPU maps: each CPU's value of `key`, cut to value size; other maps: a one-element list. */
  lookupPerCpu(key: MapScalar): Uint8Array[] | undefined {
    const all = this.get(key);
    if (all === undefined || !this.perCpu) return all === undefined ? undefined : [all];
    const stride = perCpuValueStride(this.spec.valueSize);
    const out: Uint8Array[] = [];
    for (let c = 0; c < this.possibleCpus; c++)
      out.push(all.slice(c * stride, c * stride + this.spec.valueSize));
    return out;
  }

  /**
   * Friendly update. Prog arrays take a program and maps of maps a map, of the same engine
   * (`progArray.set(0, coll.programs.port8080_prog)`); a per-CPU map given one value (an integer,
   * or bytes of value size) stores it on every CPU.
   */
  set(key: MapScalar, value: MapScalar | BpfProgram | BpfMap, flags = 0n): void {
    const k = this.#encodeKey(key);
    this.update(k, this.#encodeValue(value, k), flags);
  }

  /** Friendly delete. */
  remove(key: MapScalar): void {
    this.delete(this.#encodeKey(key));
  }

  /** [key, value] pairs; keys deleted while iterating are skipped. */
  *entries(): IterableIterator<[Uint8Array, Uint8Array]> {
    for (const k of this.keys()) {
      const v = this.lookup(k);
      if (v !== undefined) yield [k, v];
    }
  }

  // ---- the one place user input becomes bytes ----

  #encodeKey(key: MapScalar): Uint8Array {
    if (key instanceof Uint8Array) return key;
    return this.#user(() => encodeScalar(key, this.spec.keySize, this.byteOrder === "little", "key"));
  }

  #encodeValue(value: MapScalar | BpfProgram | BpfMap, key: Uint8Array): Uint8Array {
    // The operation's text is made only for an error: a set on a warm path builds no string.
    const op = (): string => this.#opText("update key", key);
    const fdMap = isFdValuedMapType(this.spec.type);
    const wants = this.spec.type === MapType.prog_array ? "program" : "map";
    if (typeof value === "object" && !(value instanceof Uint8Array)) {
      if (!fdMap) {
        throw this.#usage(
          `${op()}: a ${this.spec.typeName} holds bytes, not a ${describe(value)}`,
          "only prog arrays and maps of maps take programs or maps",
        );
      }
      const ok = wants === "program" ? isBpfProgram(value) : isBpfMap(value);
      if (!ok)
        throw this.#usage(`${op()}: a ${this.spec.typeName} takes a ${wants}, not a ${describe(value)}`);
      const slot = this.slotValue(value);
      if (slot === undefined) {
        throw this.#usage(
          `${op()}: ${value.name} is a ${wants} of another engine`,
          `a ${this.spec.typeName} holds ${wants}s loaded into the same engine (the VM or the kernel) as itself`,
        );
      }
      return slot;
    }
    if (fdMap && !(value instanceof Uint8Array)) {
      throw this.#usage(
        `${op()}: a ${this.spec.typeName} takes a ${wants}, not a number`,
        `set(key, coll.${wants === "program" ? "programs" : "maps"}.NAME), or the raw 4-byte ${wants === "program" ? "program" : "map"} fd as bytes`,
      );
    }
    const le = this.byteOrder === "little";
    let one: Uint8Array;
    if (value instanceof Uint8Array) {
      if (!this.perCpu || value.byteLength !== this.spec.valueSize) return value;
      one = value;
    } else {
      one = this.#user(() => encodeScalar(value, this.spec.valueSize, le, "value"));
      if (!this.perCpu) return one;
    }
    const stride = perCpuValueStride(this.spec.valueSize);
    const out = new Uint8Array(this.valueBufferSize);
    for (let c = 0; c < this.possibleCpus; c++) out.set(one, c * stride);
    return out;
  }

  #checkKey(key: Uint8Array): Uint8Array {
    if (!(key instanceof Uint8Array) || key.byteLength !== this.spec.keySize) {
      const got = key instanceof Uint8Array ? `${key.byteLength} bytes` : kindOf(key);
      throw this.#usage(`key is ${got}, the map needs ${this.spec.keySize} bytes`);
    }
    return key;
  }

  #keyText(key: Uint8Array): string {
    return describeKey(key, this.byteOrder === "little");
  }

  #usage(message: string, hint?: string): UsageError {
    return new UsageError(
      `map ${this.name}: ${message}`,
      hint === undefined ? { map: this.name } : { map: this.name, hint },
    );
  }

  /** Runs a user-input conversion, naming the map on its UsageError. */
  #user<T>(fn: () => T): T {
    try {
      return fn();
    } catch (e) {
      if (isTsbpfError(e) && e.name === "UsageError") throw this.#usage(e.detail, e.hint);
      throw e;
    }
  }

  /** Runs an engine operation; its errno becomes the one MapError shape, whichever engine said it. */
  /** "update key 7", "next key after none": how errors name the operation. */
  #opText(verb: string, key: Uint8Array | undefined): string {
    return `${verb} ${key === undefined ? "none" : this.#keyText(key)}`;
  }

  /**
   * Runs an engine operation, naming it (`verb` and the key, made into text only when it fails)
   * in the map's errors.
   */
  #engine<T>(verb: string, key: Uint8Array | undefined, fn: () => T): T {
    try {
      return fn();
    } catch (e) {
      const op = this.#opText(verb, key);
      if (isMapError(e) && e.errno !== undefined) {
        throw mapErrnoError(this.name, op, e.errno, { hint: e.hint, cause: e.cause ?? e });
      }
      if (isTsbpfError(e) && e.name === "UsageError") throw this.#usage(`${op}: ${e.detail}`, e.hint);
      throw e;
    }
  }
}

/** `an array`, `a string`...: what a wrong argument was, for messages. */
function kindOf(v: unknown): string {
  if (Array.isArray(v)) return "an array";
  if (v === null || v === undefined) return String(v);
  return typeof v === "object" ? "an object" : `a ${typeof v}`;
}

function describe(v: object): string {
  if (isBpfProgram(v)) return `program (${v.name})`;
  if (isBpfMap(v)) return `map (${v.name})`;
  return v.constructor?.name ?? "object";
}
