import type { BpfProgram, MapScalar } from "../../backend/types.js";
import type { MapSpec } from "../../object/types.js";
import { Errno, MapFailure, mapError } from "./errno.js";
import { BPF_EXIST, BPF_F_LOCK, MapFlags, round8 } from "./constants.js";
import { vmHandleOf } from "./handles.js";
import { describeKey, encodeScalar } from "./scalar.js";
import type { MapKeyInput, ValueRef, VmMap, VmMapOptions } from "./types.js";

/**
 * What every VM map shares: the friendly API over the raw one, syscall-level checks (frozen,
 * read-only, `BPF_F_LOCK` without a lock, sizes), and conversion of internal failures to
 * {@link MapError}s that name the map and the operation.
 */
export abstract class VmMapBase implements VmMap {
  readonly name: string;
  readonly spec: MapSpec;
  readonly handle: number;
  readonly littleEndian: boolean;
  readonly possibleCpus: number;
  readonly spinLockOffset: number | undefined;
  /** Bytes of a value as user space passes it (per-CPU: all CPUs; fd maps: a u32). */
  readonly userValueSize: number;
  #frozen = false;

  /** Whether each key holds one value per CPU. */
  readonly isPerCpu: boolean;

  constructor(spec: MapSpec, opts: VmMapOptions, perCpu = false) {
    this.isPerCpu = perCpu;
    this.name = spec.name;
    this.spec = spec;
    this.littleEndian = opts.littleEndian;
    this.possibleCpus = opts.possibleCpus;
    this.spinLockOffset = opts.spinLockOffset;
    this.userValueSize = this.isPerCpu ? round8(spec.valueSize) * opts.possibleCpus : spec.valueSize;
    this.handle = vmHandleOf(this);
  }

  get readOnlyForProgram(): boolean {
    return this.spec.readOnly || (this.spec.flags & MapFlags.RDONLY_PROG) !== 0;
  }

  get frozen(): boolean {
    return this.#frozen;
  }

  freeze(): void {
    // A frozen map has lost user-space write access, which freeze checks first: EPERM, not EBUSY.
    if (this.#frozen) throw mapError(this.name, "freeze", Errno.EPERM, "already frozen");
    if ((this.spec.flags & MapFlags.RDONLY) !== 0)
      throw mapError(this.name, "freeze", Errno.EPERM, "map is read-only");
    this.#frozen = true;
  }

  // ---- what each map type implements; failures are thrown as MapFailure ----

  /** Syscall lookup of a key of the right size; `undefined` for ENOENT. */
  protected abstract lookupRaw(key: Uint8Array): Uint8Array | undefined;
  /** Syscall update with sizes checked; `flags` as a number. */
  protected abstract updateRaw(key: Uint8Array, value: Uint8Array, flags: number): void;
  /** Syscall delete with the key size checked. */
  protected abstract deleteRaw(key: Uint8Array): void;
  /** BPF_MAP_GET_NEXT_KEY: `undefined` when `key` was the last one (ENOENT). */
  abstract nextKey(key: Uint8Array | undefined): Uint8Array | undefined;

  abstract lookupForProgram(key: Uint8Array, cpu?: number): ValueRef | undefined;
  abstract updateFromProgram(key: Uint8Array, value: Uint8Array, flags: bigint, cpu?: number): number;
  abstract deleteFromProgram(key: Uint8Array): number;

  // ---- raw API ----

  lookup(key: Uint8Array): Uint8Array | undefined {
    return this.guard(`lookup key ${this.keyText(key)}`, () => {
      this.checkReadable();
      this.checkKey(key);
      return this.lookupRaw(key);
    });
  }

  update(key: Uint8Array, value: Uint8Array, flags = 0n): void {
    this.guard(`update key ${this.keyText(key)}`, () => {
      if (this.#frozen) throw new MapFailure(Errno.EPERM, "map is frozen");
      if ((this.spec.flags & MapFlags.RDONLY) !== 0) throw new MapFailure(Errno.EPERM, "map is read-only");
      const f = flagsToNumber(flags);
      if ((f & BPF_F_LOCK) !== 0 && this.spinLockOffset === undefined) {
        throw new MapFailure(Errno.EINVAL, "BPF_F_LOCK on a value without bpf_spin_lock");
      }
      this.checkKey(key);
      if (!(value instanceof Uint8Array) || value.length !== this.userValueSize) {
        throw new MapFailure(Errno.EINVAL, `value must be ${this.userValueSize} bytes`);
      }
      this.updateRaw(key, value, f);
    });
  }

  delete(key: Uint8Array): void {
    this.guard(`delete key ${this.keyText(key)}`, () => {
      if (this.#frozen) throw new MapFailure(Errno.EPERM, "map is frozen");
      if ((this.spec.flags & MapFlags.RDONLY) !== 0) throw new MapFailure(Errno.EPERM, "map is read-only");
      this.checkKey(key);
      this.deleteRaw(key);
    });
  }

  /** BPF_MAP_GET_NEXT_KEY as the syscall: throws ENOENT after the last key. */
  getNextKey(key: Uint8Array | undefined): Uint8Array {
    return this.guard(`get next key after ${key === undefined ? "none" : this.keyText(key)}`, () => {
      this.checkReadable();
      if (key !== undefined) this.checkKey(key);
      const next = this.nextKey(key);
      if (next === undefined) throw new MapFailure(Errno.ENOENT, "no next key");
      return next;
    });
  }

  *keys(): Iterable<Uint8Array> {
    let k = this.guard("iterate keys", () => {
      this.checkReadable();
      return this.nextKey(undefined);
    });
    while (k !== undefined) {
      yield k;
      const cur: Uint8Array = k;
      k = this.guard("iterate keys", () => this.nextKey(cur));
    }
  }

  // ---- friendly API ----

  get(key: MapScalar): Uint8Array | undefined {
    return this.lookup(this.encodeKey(key, "lookup"));
  }

  set(key: MapScalar, value: MapScalar | BpfProgram, flags = 0n): void {
    const k = this.encodeKey(key, "update");
    this.update(k, this.encodeValue(value, k), flags);
  }

  remove(key: MapScalar): void {
    this.delete(this.encodeKey(key, "delete"));
  }

  *entries(): Iterable<[Uint8Array, Uint8Array]> {
    for (const k of this.keys()) {
      const v = this.lookup(k);
      if (v !== undefined) yield [k, v];
    }
  }

  lookupPerCpu(key: MapKeyInput): Uint8Array[] | undefined {
    const all = this.get(key);
    if (all === undefined) return undefined;
    if (!this.isPerCpu) return [all];
    const stride = round8(this.spec.valueSize);
    const out: Uint8Array[] = [];
    for (let c = 0; c < this.possibleCpus; c++)
      out.push(all.slice(c * stride, c * stride + this.spec.valueSize));
    return out;
  }

  // ---- helpers for subclasses ----

  /** Encodes a friendly key to key size in the object's byte order. */
  encodeKey(key: MapScalar, op: string): Uint8Array {
    if (key instanceof Uint8Array) return key;
    try {
      return encodeScalar(key, this.spec.keySize, this.littleEndian);
    } catch (e) {
      if (e instanceof MapFailure) throw mapError(this.name, `${op} key ${String(key)}`, e.errno, e.why);
      throw e;
    }
  }

  /**
   * Encodes a friendly value. Per-CPU maps given one value (an integer, or bytes of value size)
   * store it on every CPU, which is what a user most often means by `set`.
   */
  protected encodeValue(value: MapScalar | BpfProgram, key: Uint8Array): Uint8Array {
    const op = `update key ${this.keyText(key)}`;
    if (typeof value === "object" && !(value instanceof Uint8Array)) {
      throw mapError(this.name, op, Errno.EINVAL, "only prog arrays and maps of maps take objects as values");
    }
    let one: Uint8Array;
    if (value instanceof Uint8Array) {
      if (!this.isPerCpu || value.length !== this.spec.valueSize) return value;
      one = value;
    } else {
      try {
        one = encodeScalar(value, this.spec.valueSize, this.littleEndian);
      } catch (e) {
        if (e instanceof MapFailure) throw mapError(this.name, op, e.errno, e.why);
        throw e;
      }
      if (!this.isPerCpu) return one;
    }
    const stride = round8(this.spec.valueSize);
    const out = new Uint8Array(this.userValueSize);
    for (let c = 0; c < this.possibleCpus; c++) out.set(one, c * stride);
    return out;
  }

  /**
   * `BPF_F_WRONLY` (like `BPF_F_RDONLY` for writes) sets the access mode of the fd that created
   * the map; a VM map is that fd, so reads through it fail with EPERM.
   */
  protected checkReadable(): void {
    if ((this.spec.flags & MapFlags.WRONLY) !== 0) throw new MapFailure(Errno.EPERM, "map is write-only");
  }

  protected checkKey(key: Uint8Array): void {
    if (!(key instanceof Uint8Array) || key.length !== this.spec.keySize) {
      throw new MapFailure(Errno.EINVAL, `key must be ${this.spec.keySize} bytes`);
    }
  }

  protected keyText(key: Uint8Array): string {
    if (!(key instanceof Uint8Array)) return String(key);
    return describeKey(key, this.littleEndian);
  }

  /** Checks a program-side CPU number; per-CPU maps index their slots by it. */
  protected cpuIndex(cpu: number | undefined): number {
    const c = cpu ?? 0;
    if (!Number.isInteger(c) || c < 0 || c >= this.possibleCpus) {
      throw mapError(this.name, "program access", Errno.EINVAL, `cpu ${c} is not a possible CPU`);
    }
    return c;
  }

  /** Runs `fn`, turning a {@link MapFailure} into a {@link MapError} naming the map and `op`. */
  protected guard<T>(op: string, fn: () => T): T {
    try {
      return fn();
    } catch (e) {
      if (e instanceof MapFailure) throw mapError(this.name, op, e.errno, e.why);
      throw e;
    }
  }
}

/** Converts u64 update flags to a number, keeping only what the checks need. */
export function flagsToNumber(flags: bigint): number {
  if (typeof flags !== "bigint") throw new MapFailure(Errno.EINVAL, "flags must be a bigint");
  if (flags < 0n || flags > 0xffffffffn) return 0x7fffffff; // unknown high bits: EINVAL downstream
  return Number(flags);
}

/**
 * The common `(flags & ~BPF_F_LOCK) > BPF_EXIST` rejection of array and hash updates.
 * Returns the flags without the lock bit.
 */
export function checkUpdateFlags(flags: number): number {
  const f = flags & ~BPF_F_LOCK;
  if (f > BPF_EXIST) throw new MapFailure(Errno.EINVAL, `flags ${flags} are not ANY, NOEXIST or EXIST`);
  return f;
}

/** Runs a program-side operation, returning 0 or the negative errno of a {@link MapFailure}. */
export function errnoOf(fn: () => void): number {
  try {
    fn();
    return 0;
  } catch (e) {
    if (e instanceof MapFailure) return -e.errno;
    throw e;
  }
}
