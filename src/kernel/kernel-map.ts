/**
 * A live kernel map behind the engine-neutral {@link BpfMap} API. Friendly keys and values are
 * encoded to the map's sizes in the object's byte order; prog arrays take programs, maps of maps
 * take maps, both as their fds, which is what the kernel wants from user space.
 */
import type { BpfMap, BpfProgram, MapScalar } from "../backend/types.js";
import { MapError, UsageError } from "../errors.js";
import type { ByteOrder, MapSpec } from "../object/types.js";
import { MapType, OBJ_NAME_LEN } from "./constants.js";
import type { Fd } from "./fd.js";
import { deleteElem, lookupElem, mapKeys, updateElem, valueBufferSize } from "./map-ops.js";
import { pinObject } from "./object-ops.js";
import type { Sys } from "./sys.js";

/** Something that owns a kernel fd: a {@link KernelMap} or a loaded program. */
export interface HasFd {
  readonly fd: number;
}

/**
 * The kernel name of a map: at most 15 characters from `[A-Za-z0-9_.]`. Global data maps get
 * libbpf's shape, the object name's first 8 characters then the section (`tail_cal.rodata`), so
 * bpftool shows the same names as for a libbpf loader.
 */
export function kernelMapName(spec: MapSpec, objectName: string | undefined): string {
  const clean = (s: string): string => s.replace(/[^A-Za-z0-9_.]/g, "_");
  if (spec.origin === "global-data" && spec.name.startsWith(".")) {
    const base = objectName === undefined ? "" : clean(objectName.replace(/\..*$/, "")).slice(0, 8);
    return (base + clean(spec.name)).slice(0, OBJ_NAME_LEN - 1);
  }
  return clean(spec.name).slice(0, OBJ_NAME_LEN - 1);
}

/** Encodes an integer key or value to `size` bytes in `order`; bytes must already have that size. */
export function encodeScalar(v: MapScalar, size: number, order: ByteOrder, what: string): Uint8Array {
  if (v instanceof Uint8Array) {
    if (v.byteLength !== size)
      throw new UsageError(`${what} is ${v.byteLength} bytes, the map needs ${size}`);
    return v;
  }
  if (typeof v === "number" && !Number.isSafeInteger(v)) {
    throw new UsageError(`${what} ${v} is not an integer`);
  }
  const n = BigInt(v);
  const bits = BigInt(size * 8);
  if (size === 0 || size > 8 || n < -(1n << (bits - 1n)) || n >= 1n << bits) {
    throw new UsageError(`${what} ${v} does not fit in ${size} bytes`, {
      hint: "pass the bytes as a Uint8Array for keys or values wider than 8 bytes",
    });
  }
  const u = BigInt.asUintN(Number(bits), n);
  const out = new Uint8Array(size);
  for (let i = 0; i < size; i++) {
    const byte = Number((u >> BigInt(8 * i)) & 0xffn);
    out[order === "little" ? i : size - 1 - i] = byte;
  }
  return out;
}

function hasFd(v: unknown): v is HasFd {
  return typeof v === "object" && v !== null && !(v instanceof Uint8Array) && "fd" in v;
}

/** A map created (or reopened from a pin) in the kernel; the owning collection closes it. */
export class KernelMap implements BpfMap {
  readonly name: string;
  readonly spec: MapSpec;
  /** The name the kernel knows the map by (15 characters at most). */
  readonly kernelName: string;
  /** Where the map is pinned, when it is. */
  pinnedAt: string | undefined;
  /** Whether it was reused from an existing pin rather than created by this collection. */
  readonly reused: boolean;
  readonly #sys: Sys;
  readonly #fd: Fd;
  readonly #order: ByteOrder;

  constructor(
    sys: Sys,
    fd: Fd,
    spec: MapSpec,
    opts: { order: ByteOrder; kernelName: string; pinnedAt?: string; reused?: boolean },
  ) {
    this.#sys = sys;
    this.#fd = fd;
    this.spec = spec;
    this.name = spec.name;
    this.#order = opts.order;
    this.kernelName = opts.kernelName;
    this.pinnedAt = opts.pinnedAt;
    this.reused = opts.reused === true;
  }

  /** The map's file descriptor (throws after close). */
  get fd(): number {
    return this.#fd.value;
  }

  /** Whether the collection closed it. */
  get closed(): boolean {
    return this.#fd.closed;
  }

  /** Bytes a value occupies in user space (all CPUs' values for per-CPU maps). */
  get valueBufferSize(): number {
    return valueBufferSize(this.spec.type, this.spec.valueSize);
  }

  #ctx<T>(fn: () => T): T {
    try {
      return fn();
    } catch (e) {
      if (e instanceof MapError || e instanceof UsageError) throw e.withContext({ map: this.name });
      throw e;
    }
  }

  #key(k: Uint8Array): Uint8Array {
    if (k.byteLength !== this.spec.keySize) {
      throw new UsageError(`key is ${k.byteLength} bytes, the map needs ${this.spec.keySize}`, {
        map: this.name,
      });
    }
    return k;
  }

  /** Raw lookup. For prog arrays and maps of maps the kernel answers with the id of what is in the slot. */
  lookup(key: Uint8Array): Uint8Array | undefined {
    const size = this.#isFdMap() ? 4 : this.valueBufferSize;
    return this.#ctx(() => lookupElem(this.#sys, this.fd, this.#key(key), size));
  }

  /** Raw update; for prog arrays and maps of maps the value is a 4-byte fd. */
  update(key: Uint8Array, value: Uint8Array, flags = 0n): void {
    const size = this.#isFdMap() ? 4 : this.valueBufferSize;
    if (value.byteLength !== size) {
      throw new UsageError(`value is ${value.byteLength} bytes, the map needs ${size}`, { map: this.name });
    }
    this.#ctx(() => updateElem(this.#sys, this.fd, this.#key(key), value, flags));
  }

  /** Raw delete. */
  delete(key: Uint8Array): void {
    this.#ctx(() => deleteElem(this.#sys, this.fd, this.#key(key)));
  }

  /** Keys in the kernel's order. */
  *keys(): Iterable<Uint8Array> {
    yield* mapKeys(this.#sys, this.fd, this.spec.keySize);
  }

  /** Friendly lookup. */
  get(key: MapScalar): Uint8Array | undefined {
    return this.lookup(this.#encodeKey(key));
  }

  /**
   * Friendly update. A program (prog arrays) or map (maps of maps) is stored as its fd; an
   * integer on a per-CPU map is written to every CPU's copy.
   */
  set(key: MapScalar, value: MapScalar | BpfProgram | KernelMap, flags = 0n): void {
    const k = this.#encodeKey(key);
    if (hasFd(value)) {
      if (!this.#isFdMap()) {
        throw new UsageError(
          `map ${this.name} is a ${this.spec.typeName}; only prog arrays and maps of maps take objects`,
        );
      }
      this.update(k, encodeScalar(value.fd, 4, "little", "fd"), flags);
      return;
    }
    if (typeof value === "object" && !(value instanceof Uint8Array)) {
      throw new UsageError(
        `map ${this.name}: the value is a ${this.#describe(value)}, not a kernel program or map`,
        {
          hint: "programs and maps of another engine (the VM) cannot go into a kernel map",
        },
      );
    }
    if (this.#isFdMap() && !(value instanceof Uint8Array)) {
      throw new UsageError(`map ${this.name} is a ${this.spec.typeName}: set a program or map, not a number`);
    }
    const one = encodeScalar(value, this.spec.valueSize, this.#order, "value");
    const size = this.valueBufferSize;
    if (value instanceof Uint8Array || size === one.byteLength) {
      this.update(k, value instanceof Uint8Array ? value : one, flags);
      return;
    }
    // Per-CPU: one copy per possible CPU, each rounded up to 8 bytes.
    const buf = new Uint8Array(size);
    const stride = Math.ceil(this.spec.valueSize / 8) * 8;
    for (let o = 0; o < size; o += stride) buf.set(one, o);
    this.update(k, buf, flags);
  }

  /** Friendly delete. */
  remove(key: MapScalar): void {
    this.delete(this.#encodeKey(key));
  }

  /** [key, value] pairs; keys that vanish while iterating are skipped. */
  *entries(): Iterable<[Uint8Array, Uint8Array]> {
    for (const k of this.keys()) {
      const v = this.lookup(k);
      if (v !== undefined) yield [k, v];
    }
  }

  /** Pins the map at `path` in bpffs. */
  pin(path: string): void {
    this.#ctx(() => pinObject(this.#sys, this.fd, path));
    this.pinnedAt = path;
  }

  /** For prog arrays: the slots that hold a program now. */
  filledSlots(): number[] {
    if (this.spec.type !== MapType.PROG_ARRAY || this.closed) return [];
    const out: number[] = [];
    for (let i = 0; i < this.spec.maxEntries; i++) {
      if (this.lookup(encodeScalar(i, 4, this.#order, "key")) !== undefined) out.push(i);
    }
    return out;
  }

  /** Closes the fd (idempotent). The collection calls this. */
  close(): void {
    this.#fd.close();
  }

  #isFdMap(): boolean {
    const t = this.spec.type;
    return t === MapType.PROG_ARRAY || t === MapType.ARRAY_OF_MAPS || t === MapType.HASH_OF_MAPS;
  }

  #encodeKey(key: MapScalar): Uint8Array {
    return encodeScalar(key, this.spec.keySize, this.#order, "key");
  }

  #describe(v: object): string {
    return v.constructor?.name ?? "object";
  }
}
