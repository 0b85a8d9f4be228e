import type { BpfMap, BpfProgram } from "../../backend/types.js";

/**
 * Where a map value lives, as seen by a BPF program: `bytes[offset .. offset+size)`. `bytes` is
 * the storage block holding the value (an array's whole storage, a hash entry's own block, a ring
 * buffer's data area) and never moves, so a pointer handed to a program stays valid while the
 * entry exists; `view` is the same memory cut to exactly the value.
 */
export interface ValueRef {
  bytes: Uint8Array;
  offset: number;
  size: number;
  view: Uint8Array;
}

/** Options of {@link createVmMap}. */
export interface VmMapOptions {
  /** Number of possible CPUs: per-CPU maps hold this many values per key. */
  possibleCpus: number;
  /** Byte order integer keys and values are encoded in (the object's). */
  littleEndian: boolean;
  /**
   * Byte offset of a `struct bpf_spin_lock` inside the value, when BTF says the value has one.
   * Without it `BPF_F_LOCK` fails with EINVAL, as in the kernel.
   */
  spinLockOffset?: number;
}

/**
 * A VM map: the engine-neutral {@link BpfMap} plus the operations a BPF program's helpers need,
 * which differ from the syscall ones (in-place pointers, negative errno returns, one CPU's slot).
 */
export interface VmMap extends BpfMap {
  /** The VM handle (fd and id at once) of this map. */
  readonly handle: number;
  /** Whether programs may only read values (`BPF_F_RDONLY_PROG`, `.rodata`). */
  readonly readOnlyForProgram: boolean;
  /** Whether user space can no longer write (BPF_MAP_FREEZE). */
  readonly frozen: boolean;
  /** BPF_MAP_FREEZE: later user-space writes (and freezing again) fail with EPERM. */
  freeze(): void;
  /** `bpf_map_lookup_elem` from a program: the value in place (this CPU's slot for per-CPU maps). */
  lookupForProgram(key: Uint8Array, cpu?: number): ValueRef | undefined;
  /** `bpf_map_update_elem` from a program: 0 or a negative errno. */
  updateFromProgram(key: Uint8Array, value: Uint8Array, flags: bigint, cpu?: number): number;
  /** `bpf_map_delete_elem` from a program: 0 or a negative errno. */
  deleteFromProgram(key: Uint8Array): number;
  /** Per-CPU maps: each CPU's value of `key`, cut to value size; other maps: a one-element list. */
  lookupPerCpu(key: MapKeyInput): Uint8Array[] | undefined;
}

/** A friendly key: raw bytes or an integer. */
export type MapKeyInput = Uint8Array | number | bigint;

/** What a prog array slot or map-in-map slot may be set to from user space. */
export type SlotValue = BpfProgram | BpfMap;
