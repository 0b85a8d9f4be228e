import { Errno, MapFlag, UpdateFlag } from "../../abi/index.js";
import { MapFront } from "../../backend/map-front.js";
import { mapErrnoError } from "../../backend/map-error.js";
import { describeKey, encodeScalar } from "../../backend/scalar.js";
import type { BpfMap, BpfProgram } from "../../backend/types.js";
import type { MapSpec } from "../../object/types.js";
import { MapFailure } from "./errno.js";
import { isVmObject, markVmObject, vmHandleOf } from "./handles.js";
import type { ValueRef, VmMap, VmMapOptions } from "./types.js";

/** `BPF_ANY`: the update flags as the numbers VM map code compares (the API's are u64 bigints). */
export const ANY = Number(UpdateFlag.ANY);
/** `BPF_NOEXIST`. */
export const NOEXIST = Number(UpdateFlag.NOEXIST);
/** `BPF_EXIST`. */
export const EXIST = Number(UpdateFlag.EXIST);
/** `BPF_F_LOCK`. */
export const LOCK = Number(UpdateFlag.LOCK);

/**
 * What every VM map shares below the map front: the syscall-level checks the kernel makes
 * (frozen, read-only, `BPF_F_LOCK` without a lock) and the conversion of internal failures to
 * the kernel's errno. Each map type implements the `*Raw` operations and the program-side ones.
 */
export abstract class VmMapBase extends MapFront implements VmMap {
  readonly handle: number;
  readonly littleEndian: boolean;
  readonly spinLockOffset: number | undefined;
  #frozen = false;

  constructor(spec: MapSpec, opts: VmMapOptions) {
    super(spec, { byteOrder: opts.littleEndian ? "little" : "big", possibleCpus: opts.possibleCpus });
    this.littleEndian = opts.littleEndian;
    this.spinLockOffset = opts.spinLockOffset;
    this.handle = vmHandleOf(this);
    markVmObject(this);
  }

  get readOnlyForProgram(): boolean {
    return this.spec.readOnly || (this.spec.flags & MapFlag.RDONLY_PROG) !== 0;
  }

  get frozen(): boolean {
    return this.#frozen;
  }

  freeze(): void {
    // A frozen map has lost user-space write access, which freeze checks first: EPERM, not EBUSY.
    if (this.#frozen) throw mapErrnoError(this.name, "freeze", Errno.EPERM, { hint: "already frozen" });
    if ((this.spec.flags & MapFlag.RDONLY) !== 0)
      throw mapErrnoError(this.name, "freeze", Errno.EPERM, { hint: "map is read-only" });
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
  protected abstract nextKeyRaw(key: Uint8Array | undefined): Uint8Array | undefined;

  abstract lookupForProgram(key: Uint8Array, cpu?: number): ValueRef | undefined;
  abstract updateFromProgram(key: Uint8Array, value: Uint8Array, flags: bigint, cpu?: number): number;
  abstract deleteFromProgram(key: Uint8Array): number;

  // ---- the engine operations under the map front ----

  protected rawLookup(key: Uint8Array): Uint8Array | undefined {
    return vmErrno(() => {
      this.checkReadable();
      return this.lookupRaw(key);
    });
  }

  protected rawUpdate(key: Uint8Array, value: Uint8Array, flags: bigint): void {
    vmErrno(() => {
      if (this.#frozen) throw new MapFailure(Errno.EPERM, "map is frozen");
      if ((this.spec.flags & MapFlag.RDONLY) !== 0) throw new MapFailure(Errno.EPERM, "map is read-only");
      const f = flagsToNumber(flags);
      if ((f & LOCK) !== 0 && this.spinLockOffset === undefined) {
        throw new MapFailure(Errno.EINVAL, "BPF_F_LOCK on a value without bpf_spin_lock");
      }
      this.updateRaw(key, value, f);
    });
  }

  protected rawDelete(key: Uint8Array): void {
    vmErrno(() => {
      if (this.#frozen) throw new MapFailure(Errno.EPERM, "map is frozen");
      if ((this.spec.flags & MapFlag.RDONLY) !== 0) throw new MapFailure(Errno.EPERM, "map is read-only");
      this.deleteRaw(key);
    });
  }

  protected rawNextKey(key: Uint8Array | undefined): Uint8Array | undefined {
    return vmErrno(() => {
      this.checkReadable();
      return this.nextKeyRaw(key);
    });
  }

  /** A VM object's handle is what the VM's fd slots hold; another engine's object has none. */
  protected slotValue(obj: BpfProgram | BpfMap): Uint8Array | undefined {
    return isVmObject(obj) ? encodeScalar(vmHandleOf(obj), 4, this.littleEndian) : undefined;
  }

  /** BPF_MAP_GET_NEXT_KEY as the syscall: throws the MapError ENOENT after the last key. */
  getNextKey(key: Uint8Array | undefined): Uint8Array {
    const next = this.nextKey(key);
    if (next === undefined) {
      const after = key === undefined ? "none" : describeKey(key, this.littleEndian);
      throw mapErrnoError(this.name, `next key after ${after}`, Errno.ENOENT, { hint: "no next key" });
    }
    return next;
  }

  // ---- helpers for subclasses ----

  /**
   * `BPF_F_WRONLY` (like `BPF_F_RDONLY` for writes) sets the access mode of the fd that created
   * the map; a VM map is that fd, so reads through it fail with EPERM.
   */
  protected checkReadable(): void {
    if ((this.spec.flags & MapFlag.WRONLY) !== 0) throw new MapFailure(Errno.EPERM, "map is write-only");
  }

  protected keyText(key: Uint8Array): string {
    return describeKey(key, this.littleEndian);
  }

  /** Checks a program-side CPU number; per-CPU maps index their slots by it. */
  protected cpuIndex(cpu: number | undefined): number {
    const c = cpu ?? 0;
    if (!Number.isInteger(c) || c < 0 || c >= this.possibleCpus) {
      throw mapErrnoError(this.name, "program access", Errno.EINVAL, {
        hint: `cpu ${c} is not a possible CPU`,
      });
    }
    return c;
  }
}

/** Runs a raw operation, turning a {@link MapFailure} into the kernel-shaped MapError (the front names the op). */
function vmErrno<T>(fn: () => T): T {
  try {
    return fn();
  } catch (e) {
    if (e instanceof MapFailure)
      throw mapErrnoError("", "", e.errno, e.why === undefined ? {} : { hint: e.why });
    throw e;
  }
}

/** Converts u64 update flags to a number, keeping only what the checks need. */
export function flagsToNumber(flags: bigint): number {
  if (flags < 0n || flags > 0xffffffffn) return 0x7fffffff; // unknown high bits: EINVAL downstream
  return Number(flags);
}

/**
 * The common `(flags & ~BPF_F_LOCK) > BPF_EXIST` rejection of array and hash updates.
 * Returns the flags without the lock bit.
 */
export function checkUpdateFlags(flags: number): number {
  const f = flags & ~LOCK;
  if (f > EXIST) throw new MapFailure(Errno.EINVAL, `flags ${flags} are not ANY, NOEXIST or EXIST`);
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

/**
 * A map user space cannot read or write element by element (ring buffer, perf event array):
 * every element operation fails as the kernel's does, syscalls with ENOTSUPP and programs'
 * lookups, updates and deletes with nothing or -EINVAL; readers go through the map's own API.
 */
export abstract class NoElementsMap extends VmMapBase {
  /** Why the syscall `op` is refused (the error's hint). */
  protected abstract noElements(op: "lookup" | "update" | "delete" | "next-key"): string;

  protected lookupRaw(): Uint8Array | undefined {
    throw new MapFailure(Errno.ENOTSUPP, this.noElements("lookup"));
  }
  protected updateRaw(): void {
    throw new MapFailure(Errno.ENOTSUPP, this.noElements("update"));
  }
  protected deleteRaw(): void {
    throw new MapFailure(Errno.ENOTSUPP, this.noElements("delete"));
  }
  protected nextKeyRaw(): Uint8Array | undefined {
    throw new MapFailure(Errno.ENOTSUPP, this.noElements("next-key"));
  }
  lookupForProgram(): ValueRef | undefined {
    return undefined;
  }
  updateFromProgram(): number {
    return -Errno.EINVAL;
  }
  deleteFromProgram(): number {
    return -Errno.EINVAL;
  }
}
