import { Errno, perCpuValueStride } from "../../abi/index.js";
import type { MapSpec } from "../../object/types.js";
import { checkUpdateFlags, errnoOf, flagsToNumber, LOCK, NOEXIST, VmMapBase } from "./base.js";
import { MapFailure } from "./errno.js";
import { decodeUnsigned } from "../../backend/scalar.js";
import type { ValueRef, VmMapOptions } from "./types.js";

/**
 * `BPF_MAP_TYPE_ARRAY` and `BPF_MAP_TYPE_PERCPU_ARRAY`, global data (`.data`, `.rodata`, `.bss`,
 * `.kconfig`) included. Every index always exists and starts zeroed; elements cannot be deleted
 * (EINVAL); `NOEXIST` always fails with EEXIST; an index past `max_entries` fails an update
 * with E2BIG and a lookup with ENOENT (as kernel/bpf/arraymap.c does). Values live in one block
 * per CPU that never moves, so pointers handed to programs stay valid for the map's life.
 */
export class ArrayMap extends VmMapBase {
  /** Distance between consecutive elements in a block: the kernel rounds elements up to 8 bytes. */
  readonly stride: number;
  /** One storage block per CPU for per-CPU arrays, else a single block. */
  readonly blocks: Uint8Array[];
  readonly #percpu: boolean;

  constructor(spec: MapSpec, opts: VmMapOptions, percpu: boolean) {
    super(spec, opts);
    this.#percpu = percpu;
    this.stride = perCpuValueStride(spec.valueSize);
    const n = percpu ? opts.possibleCpus : 1;
    this.blocks = [];
    for (let c = 0; c < n; c++) this.blocks.push(new Uint8Array(this.stride * spec.maxEntries));
    const init = spec.initialData;
    if (init !== undefined && spec.maxEntries > 0) {
      for (const b of this.blocks) b.set(init.subarray(0, spec.valueSize));
    }
  }

  /** The index a key names (u32 in the object's byte order). */
  indexOf(key: Uint8Array): number {
    return decodeUnsigned(key, this.littleEndian);
  }

  protected lookupRaw(key: Uint8Array): Uint8Array | undefined {
    const i = this.indexOf(key);
    if (i >= this.spec.maxEntries) return undefined;
    const vs = this.spec.valueSize;
    if (!this.#percpu) return (this.blocks[0] as Uint8Array).slice(i * this.stride, i * this.stride + vs);
    const out = new Uint8Array(this.valueBufferSize);
    this.blocks.forEach((b, c) => {
      out.set(b.subarray(i * this.stride, i * this.stride + vs), c * this.stride);
    });
    return out;
  }

  protected updateRaw(key: Uint8Array, value: Uint8Array, flags: number): void {
    const i = this.checkedIndexForUpdate(key, flags);
    const vs = this.spec.valueSize;
    if (!this.#percpu) {
      this.copyValue(this.blocks[0] as Uint8Array, i * this.stride, value.subarray(0, vs), flags);
      return;
    }
    this.blocks.forEach((b, c) => {
      b.set(value.subarray(c * this.stride, c * this.stride + vs), i * this.stride);
    });
  }

  protected deleteRaw(_key: Uint8Array): void {
    throw new MapFailure(Errno.EINVAL, "array elements cannot be deleted");
  }

  protected nextKeyRaw(key: Uint8Array | undefined): Uint8Array | undefined {
    const max = this.spec.maxEntries;
    const i = key === undefined ? max : this.indexOf(key);
    let next: number;
    if (i >= max) next = 0;
    else if (i === max - 1) return undefined;
    else next = i + 1;
    if (max === 0) return undefined;
    return this.encodeIndex(next);
  }

  lookupForProgram(key: Uint8Array, cpu?: number): ValueRef | undefined {
    const i = this.indexOf(key);
    if (key.length !== this.spec.keySize || i >= this.spec.maxEntries) return undefined;
    const bytes = this.blocks[this.#percpu ? this.cpuIndex(cpu) : 0] as Uint8Array;
    const offset = i * this.stride;
    const size = this.spec.valueSize;
    return { bytes, offset, size, view: bytes.subarray(offset, offset + size) };
  }

  updateFromProgram(key: Uint8Array, value: Uint8Array, flags: bigint, cpu?: number): number {
    return errnoOf(() => {
      if (this.readOnlyForProgram) throw new MapFailure(Errno.EPERM, "read-only for programs");
      const f = flagsToNumber(flags);
      const i = this.checkedIndexForUpdate(key, f);
      const bytes = this.blocks[this.#percpu ? this.cpuIndex(cpu) : 0] as Uint8Array;
      this.copyValue(bytes, i * this.stride, value.subarray(0, this.spec.valueSize), f);
    });
  }

  deleteFromProgram(_key: Uint8Array): number {
    return -Errno.EINVAL;
  }

  /** `array_map_update_elem`'s checks, in the kernel's order. */
  private checkedIndexForUpdate(key: Uint8Array, flags: number): number {
    const f = checkUpdateFlags(flags);
    const i = this.indexOf(key);
    if (i >= this.spec.maxEntries) {
      throw new MapFailure(Errno.E2BIG, `index past max_entries ${this.spec.maxEntries}`);
    }
    if (f === NOEXIST) throw new MapFailure(Errno.EEXIST, "array elements always exist");
    if ((flags & LOCK) !== 0 && this.spinLockOffset === undefined) {
      throw new MapFailure(Errno.EINVAL, "LOCK on a value without bpf_spin_lock");
    }
    return i;
  }

  /** Copies a value in place, leaving a `bpf_spin_lock` field untouched as the kernel does. */
  private copyValue(dst: Uint8Array, off: number, src: Uint8Array, _flags: number): void {
    const lock = this.spinLockOffset;
    if (lock === undefined) {
      dst.set(src, off);
      return;
    }
    dst.set(src.subarray(0, lock), off);
    dst.set(src.subarray(lock + 4), off + lock + 4);
  }

  private encodeIndex(i: number): Uint8Array {
    const out = new Uint8Array(this.spec.keySize);
    new DataView(out.buffer).setUint32(0, i, this.littleEndian);
    return out;
  }
}
