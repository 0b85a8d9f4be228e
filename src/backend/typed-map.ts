/**
 * Typed views of live maps: keys and values read and written as JS values shaped by the map's
 * BTF (`__type(key, ...)`, `__type(value, ...)`), and global variables by name. Built only on the
 * engine-neutral {@link BpfMap}, so the VM and the kernel give the same answers.
 */
import { type BtfValue, decodeBtfValue, encodeBtfValue } from "../btf/codec.js";
import { btfSizeof, btfTypeById, resolveBtfType } from "../btf/type-helpers.js";
import type { Btf } from "../btf/types.js";
import { ParseError, UsageError, isMapError, isTsbpfError } from "../errors.js";
import type { CollectionSpec, MapSpec, VariableSpec } from "../object/types.js";
import { Errno, perCpuValueStride } from "../abi/index.js";
import type { BpfMap, LoadedCollection } from "./types.js";

/** `V`'s element type when `V` is a per-CPU array of values; what one CPU holds. */
export type PerCpuElement<V> = V extends readonly (infer E)[] ? E : never;

/**
 * What `set` takes for a value of type `V`: members may be left out (they are stored as zero),
 * at any depth. Enumerator names and raw bytes are accepted too, though the type cannot say so.
 */
export type TypedInput<V> = V extends bigint | number | string | boolean | Uint8Array
  ? V
  : V extends readonly (infer E)[]
    ? TypedInput<E>[]
    : V extends object
      ? { [P in keyof V]?: TypedInput<V[P]> }
      : V;

/** The parsed BTF of a collection spec, when it has any. */
export function specBtf(spec: CollectionSpec): Btf | undefined {
  return spec.btf?.btf;
}

/**
 * One map with JS keys and values. Where BTF gives the key or value type, they are converted by
 * {@link decodeBtfValue}/{@link encodeBtfValue}; where it does not, bytes pass through unchanged
 * (keys may also be integers, encoded to the key size). Per-CPU maps read as one value per CPU.
 *
 * `K` and `V` only annotate; nothing checks them at run time. For a per-CPU map `V` is the array
 * (`TypedMap<number, Counter[]>`).
 */
export class TypedMap<K = BtfValue, V = BtfValue> implements Iterable<[K, V]> {
  /** The live map underneath, for raw access. */
  readonly map: BpfMap;
  /** Whether each key holds one value per CPU. */
  readonly perCpu: boolean;
  /** BTF type id of keys; `undefined` when keys are raw bytes. */
  readonly keyTypeId: number | undefined;
  /** BTF type id of values (one CPU's value); `undefined` when values are raw bytes. */
  readonly valueTypeId: number | undefined;
  readonly #btf: Btf | undefined;
  readonly #le: boolean;

  constructor(map: BpfMap, btf: Btf | undefined) {
    this.map = map;
    this.#btf = btf;
    this.#le = map.byteOrder === "little";
    this.perCpu = map.perCpu;
    this.keyTypeId = this.#checkedType(map.spec.keyTypeId, map.spec.keySize, "key");
    this.valueTypeId = this.#checkedType(map.spec.valueTypeId, map.spec.valueSize, "value");
  }

  /** A type id is used only when its size is the map's; a mismatch means broken BTF. */
  #checkedType(id: number | undefined, size: number, what: string): number | undefined {
    if (id === undefined || id === 0 || this.#btf === undefined) return undefined;
    let got: number;
    try {
      got = btfSizeof(this.#btf, id);
    } catch (e) {
      throw isTsbpfError(e) ? e.withContext({ map: this.map.name }) : e;
    }
    if (got !== size) {
      throw new ParseError(`${what} type ${id} is ${got} bytes but the map's ${what} size is ${size}`, {
        map: this.map.name,
      });
    }
    return id;
  }

  /** The map's name. */
  get name(): string {
    return this.map.name;
  }

  /** Encodes a key as the map stores it. */
  encodeKey(key: K): Uint8Array {
    const k = key as unknown as BtfValue;
    if (this.keyTypeId !== undefined && this.#btf !== undefined) {
      return this.#ctx(() =>
        encodeBtfValue(this.#btf as Btf, this.keyTypeId as number, k, this.#le, { path: "key" }),
      );
    }
    return encodeRaw(k, this.map.spec.keySize, this.#le, "key", this.map.name);
  }

  /** Decodes key bytes. */
  decodeKey(bytes: Uint8Array): K {
    if (this.keyTypeId === undefined || this.#btf === undefined) return bytes as unknown as K;
    const btf = this.#btf;
    const id = this.keyTypeId;
    return this.#ctx(() => decodeBtfValue(btf, id, bytes, this.#le, { path: "key" })) as K;
  }

  /**
   * Decodes a raw value as {@link BpfMap.lookup} returns it: per-CPU maps give an array with one
   * value per CPU (the kernel's 8-byte-aligned slots, padding dropped).
   */
  decodeValue(bytes: Uint8Array): V {
    if (!this.perCpu) return this.#decodeOne(bytes) as V;
    const size = this.map.spec.valueSize;
    const stride = perCpuValueStride(size);
    if (bytes.byteLength % stride !== 0) {
      throw new ParseError(`per-CPU value of ${bytes.byteLength} bytes is not a multiple of ${stride}`, {
        map: this.map.name,
      });
    }
    const out: BtfValue[] = [];
    for (let o = 0; o < bytes.byteLength; o += stride) out.push(this.#decodeOne(bytes.slice(o, o + size)));
    return out as V;
  }

  #decodeOne(bytes: Uint8Array): BtfValue {
    if (this.valueTypeId === undefined || this.#btf === undefined) return bytes;
    const btf = this.#btf;
    const id = this.valueTypeId;
    return this.#ctx(() => decodeBtfValue(btf, id, bytes, this.#le, { path: "value" }));
  }

  /**
   * Encodes a value for {@link BpfMap.update}. On a per-CPU map, one value is stored on every
   * CPU and an array holds one value per CPU (for an array-typed value: an array of arrays).
   */
  encodeValue(value: TypedInput<V> | TypedInput<PerCpuElement<V>>): Uint8Array {
    const v = value as unknown as BtfValue;
    if (!this.perCpu) return this.#encodeOne(v, "value");
    const size = this.map.spec.valueSize;
    const stride = perCpuValueStride(size);
    const cpus = this.map.possibleCpus;
    if (v instanceof Uint8Array && v.byteLength === stride * cpus) return v;
    const list = this.#isPerCpuList(v) ? (v as BtfValue[]) : undefined;
    if (list !== undefined && list.length !== cpus) {
      throw new UsageError(`${list.length} per-CPU values given, the map has ${cpus} CPUs`, {
        map: this.map.name,
        hint: "give one value for every CPU, or a single value to store on all of them",
      });
    }
    const out = new Uint8Array(stride * cpus);
    for (let c = 0; c < cpus; c++) {
      const one = list === undefined ? v : (list[c] as BtfValue);
      out.set(this.#encodeOne(one, list === undefined ? "value" : `value[${c}]`), c * stride);
    }
    return out;
  }

  #isPerCpuList(v: BtfValue): boolean {
    if (!Array.isArray(v)) return false;
    if (this.valueTypeId === undefined || this.#btf === undefined) return true;
    const t = this.#ctx(() => resolveBtfType(this.#btf as Btf, this.valueTypeId as number));
    // An array-typed value is itself a JS array: only an array of arrays is a per-CPU list.
    return (
      t.kind !== "ARRAY" ||
      v.every((e) => Array.isArray(e) || e instanceof Uint8Array || typeof e === "string")
    );
  }

  #encodeOne(v: BtfValue, path: string): Uint8Array {
    if (this.valueTypeId !== undefined && this.#btf !== undefined) {
      const btf = this.#btf;
      const id = this.valueTypeId;
      return this.#ctx(() => encodeBtfValue(btf, id, v, this.#le, { path }));
    }
    return encodeRaw(v, this.map.spec.valueSize, this.#le, path, this.map.name);
  }

  /** The value under `key` (per-CPU maps: one per CPU), or `undefined` when absent. */
  get(key: K): V | undefined {
    const raw = this.map.lookup(this.encodeKey(key));
    return raw === undefined ? undefined : this.decodeValue(raw);
  }

  /** Whether `key` is present. */
  has(key: K): boolean {
    return this.map.lookup(this.encodeKey(key)) !== undefined;
  }

  /**
   * Stores `value` under `key` with the kernel's flag semantics (`UpdateFlags`). Unspecified
   * struct members are zero: this replaces the whole value, it does not merge.
   */
  set(key: K, value: TypedInput<V> | TypedInput<PerCpuElement<V>>, flags = 0n): this {
    this.map.update(this.encodeKey(key), this.encodeValue(value), flags);
    return this;
  }

  /** Deletes `key`; `false` when it was absent. Arrays cannot delete (the engine's EINVAL). */
  delete(key: K): boolean {
    try {
      this.map.delete(this.encodeKey(key));
      return true;
    } catch (e) {
      if (isMapError(e) && e.errno === Errno.ENOENT) return false;
      throw e;
    }
  }

  /** Keys in the engine's order. */
  *keys(): IterableIterator<K> {
    for (const k of this.map.keys()) yield this.decodeKey(k);
  }

  /** Values in key order; keys deleted while iterating are skipped. */
  *values(): IterableIterator<V> {
    for (const [, v] of this.entries()) yield v;
  }

  /** [key, value] pairs; keys deleted while iterating are skipped. */
  *entries(): IterableIterator<[K, V]> {
    for (const k of this.map.keys()) {
      const v = this.map.lookup(k);
      if (v !== undefined) yield [this.decodeKey(k), this.decodeValue(v)];
    }
  }

  [Symbol.iterator](): IterableIterator<[K, V]> {
    return this.entries();
  }

  #ctx<T>(fn: () => T): T {
    try {
      return fn();
    } catch (e) {
      throw isTsbpfError(e) ? e.withContext({ map: this.map.name }) : e;
    }
  }
}

/** A typed view of `map`; `btf` is the object's BTF (`undefined` leaves everything raw). */
export function typedMap<K = BtfValue, V = BtfValue>(map: BpfMap, btf: Btf | undefined): TypedMap<K, V> {
  return new TypedMap<K, V>(map, btf);
}

/** The typed view of the map called `name` in a loaded collection, on either engine. */
export function typed<K = BtfValue, V = BtfValue>(coll: LoadedCollection, name: string): TypedMap<K, V> {
  const map = coll.maps[name];
  if (map === undefined) {
    throw new UsageError(`no map '${name}' in the collection`, {
      hint: `maps: ${Object.keys(coll.maps).join(", ") || "(none)"}`,
    });
  }
  return typedMap<K, V>(map, specBtf(coll.spec));
}

/**
 * The variables of one global-data section (`.data`, `.bss`, `.rodata`, `.data.custom`...) of a
 * loaded collection, read and written by name. Reads always see the live map.
 */
export class GlobalVariables {
  /** The global-data map underneath. */
  readonly map: BpfMap;
  readonly #btf: Btf | undefined;
  readonly #le: boolean;
  readonly #vars: ReadonlyMap<string, VariableSpec>;

  constructor(map: BpfMap, btf: Btf | undefined, littleEndian: boolean) {
    if (map.spec.origin !== "global-data") {
      throw new UsageError(`map ${map.name} is not a global-data section`, { map: map.name });
    }
    this.map = map;
    this.#btf = btf;
    this.#le = littleEndian;
    this.#vars = new Map(map.spec.variables.map((v) => [v.name, v] as const));
  }

  /** Variable names in section order. */
  get names(): string[] {
    return [...this.#vars.keys()];
  }

  #bytes(): Uint8Array {
    const v = this.map.lookup(new Uint8Array(this.map.spec.keySize));
    if (v === undefined)
      throw new UsageError(`section ${this.map.name} has no value`, { map: this.map.name });
    return v;
  }

  #var(name: string): VariableSpec {
    const v = this.#vars.get(name);
    if (v === undefined) {
      throw new UsageError(`section ${this.map.name} has no variable '${name}'`, {
        map: this.map.name,
        hint: `variables: ${this.names.join(", ") || "(none)"}`,
      });
    }
    return v;
  }

  /** One variable, decoded by its BTF type (raw bytes when it has none). */
  get(name: string): BtfValue {
    return decodeVariable(this.#var(name), this.#bytes(), this.#btf, this.#le, this.map.name);
  }

  /** Every variable by name. */
  read(): Record<string, BtfValue> {
    const bytes = this.#bytes();
    const out: Record<string, BtfValue> = {};
    for (const v of this.#vars.values()) {
      const value = decodeVariable(v, bytes, this.#btf, this.#le, this.map.name);
      Object.defineProperty(out, v.name, { value, enumerable: true, writable: true, configurable: true });
    }
    return out;
  }

  /**
   * Writes one variable, keeping the others (a read-modify-write of the section; a program
   * running at the same time may interleave). Read-only sections are frozen once loaded: change
   * them with {@link rewriteGlobals} before loading.
   */
  set(name: string, value: BtfValue): void {
    if (this.map.spec.readOnly) {
      throw new UsageError(`section ${this.map.name} is read-only once loaded`, {
        map: this.map.name,
        hint: "set it in the spec before Collection.load: rewriteGlobals(spec, section, { name: value })",
      });
    }
    const v = this.#var(name);
    const bytes = this.#bytes();
    bytes.set(encodeVariable(v, value, this.#btf, this.#le, this.map.name), v.offset);
    this.map.update(new Uint8Array(this.map.spec.keySize), bytes);
  }
}

/** The variables of global-data section `section` of a loaded collection. */
export function globals(coll: LoadedCollection, section: string): GlobalVariables {
  const map = findSectionMap(coll.maps, section, (m) => m.spec);
  return new GlobalVariables(map, specBtf(coll.spec), coll.spec.byteOrder === "little");
}

/**
 * Sets global variables in a spec before it is loaded: the way to configure `const volatile`
 * (`.rodata`) values, which are frozen once loaded, and the initial value of any other global.
 * Mutates the section's initial data in place.
 */
export function rewriteGlobals(
  spec: CollectionSpec,
  section: string,
  values: Record<string, BtfValue>,
): void {
  const ms = findSectionMap(spec.maps, section, (m) => m);
  const btf = specBtf(spec);
  const le = spec.byteOrder === "little";
  const data = new Uint8Array(ms.valueSize);
  if (ms.initialData !== undefined) data.set(ms.initialData.subarray(0, ms.valueSize));
  for (const [name, value] of Object.entries(values)) {
    const v = ms.variables.find((x) => x.name === name);
    if (v === undefined) {
      throw new UsageError(`section ${ms.name} has no variable '${name}'`, {
        map: ms.name,
        hint: `variables: ${ms.variables.map((x) => x.name).join(", ") || "(none)"}`,
      });
    }
    data.set(encodeVariable(v, value, btf, le, ms.name), v.offset);
  }
  ms.initialData = data;
}

/**
 * The global variables of a spec's section as it would be loaded: its initial values (with what
 * {@link rewriteGlobals} set), decoded by name; only `names` when given. The counterpart of
 * {@link rewriteGlobals}.
 */
export function readGlobals(
  spec: CollectionSpec,
  section: string,
  names?: readonly string[],
): Record<string, BtfValue> {
  const ms = findSectionMap(spec.maps, section, (m) => m);
  const btf = specBtf(spec);
  const le = spec.byteOrder === "little";
  const data = new Uint8Array(ms.valueSize);
  if (ms.initialData !== undefined) data.set(ms.initialData.subarray(0, ms.valueSize));
  const out: Record<string, BtfValue> = {};
  for (const v of ms.variables) {
    if (names !== undefined && !names.includes(v.name)) continue;
    const value = decodeVariable(v, data, btf, le, ms.name);
    Object.defineProperty(out, v.name, { value, enumerable: true, writable: true, configurable: true });
  }
  return out;
}

/** The global-data map of `section` (`.data`) or of that map name; `specOf` reads either kind. */
function findSectionMap<M>(maps: Record<string, M>, section: string, specOf: (m: M) => MapSpec): M {
  const found = Object.values(maps).find(
    (m) =>
      specOf(m).origin === "global-data" && (specOf(m).section === section || specOf(m).name === section),
  );
  if (found === undefined) {
    const have = Object.values(maps)
      .map(specOf)
      .filter((s) => s.origin === "global-data")
      .map((s) => s.section ?? s.name);
    throw new UsageError(`no global-data section '${section}'`, {
      hint: have.length ? `sections: ${have.join(", ")}` : "the object has no global variables",
    });
  }
  return found;
}

function checkBounds(v: VariableSpec, size: number, map: string): void {
  if (v.offset < 0 || v.offset + v.size > size) {
    throw new ParseError(`variable ${v.name} (${v.size} bytes at ${v.offset}) lies outside the section`, {
      map,
    });
  }
}

function varTypeId(v: VariableSpec, btf: Btf | undefined, map: string): number | undefined {
  if (btf === undefined || v.typeId === undefined || v.typeId === 0) return undefined;
  let size: number;
  try {
    // A VAR's own id is accepted too; its size is its type's.
    const t = btfTypeById(btf, v.typeId);
    size = btfSizeof(btf, t.kind === "VAR" ? t.type : v.typeId);
  } catch (e) {
    throw isTsbpfError(e) ? e.withContext({ map }) : e;
  }
  if (size !== v.size) {
    throw new ParseError(`variable ${v.name}: its type is ${size} bytes, the section gives it ${v.size}`, {
      map,
    });
  }
  return v.typeId;
}

function decodeVariable(
  v: VariableSpec,
  section: Uint8Array,
  btf: Btf | undefined,
  le: boolean,
  map: string,
) {
  checkBounds(v, section.byteLength, map);
  const bytes = section.slice(v.offset, v.offset + v.size);
  const id = varTypeId(v, btf, map);
  if (id === undefined || btf === undefined) return bytes;
  try {
    return decodeBtfValue(btf, id, bytes, le, { path: v.name });
  } catch (e) {
    throw isTsbpfError(e) ? e.withContext({ map }) : e;
  }
}

function encodeVariable(v: VariableSpec, value: BtfValue, btf: Btf | undefined, le: boolean, map: string) {
  const id = varTypeId(v, btf, map);
  if (id === undefined || btf === undefined) return encodeRaw(value, v.size, le, v.name, map);
  try {
    return encodeBtfValue(btf, id, value, le, { path: v.name });
  } catch (e) {
    throw isTsbpfError(e) ? e.withContext({ map }) : e;
  }
}

/** Bytes of exactly `size`, or an integer encoded to `size` bytes, for what BTF does not type. */
function encodeRaw(v: BtfValue, size: number, le: boolean, path: string, map: string): Uint8Array {
  if (v instanceof Uint8Array) {
    if (v.byteLength !== size)
      throw new UsageError(`${path}: ${v.byteLength} bytes given, ${size} needed`, { map });
    return v;
  }
  if ((typeof v === "number" && Number.isSafeInteger(v)) || typeof v === "bigint") {
    const n = BigInt(v);
    const bits = BigInt(size * 8);
    if (size < 1 || size > 8 || n < -(1n << (bits - 1n)) || n >= 1n << bits) {
      throw new UsageError(`${path}: ${v} does not fit ${size} bytes`, {
        map,
        hint: "the map has no BTF type here: pass the bytes as a Uint8Array",
      });
    }
    let u = BigInt.asUintN(size * 8, n);
    const out = new Uint8Array(size);
    for (let i = 0; i < size; i++) {
      out[le ? i : size - 1 - i] = Number(u & 0xffn);
      u >>= 8n;
    }
    return out;
  }
  throw new UsageError(
    `${path}: BTF does not describe this map's ${path.startsWith("key") ? "key" : "value"}`,
    {
      map,
      hint: "pass raw bytes (Uint8Array) or an integer",
    },
  );
}
