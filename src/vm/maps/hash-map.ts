import { Errno, MapFlag, perCpuValueStride } from "../../abi/index.js";
import type { MapSpec } from "../../object/types.js";
import { checkUpdateFlags, errnoOf, EXIST, flagsToNumber, LOCK, NOEXIST, VmMapBase } from "./base.js";
import { MapFailure } from "./errno.js";
import { CommonLru } from "./common-lru.js";
import { hashNextKey } from "./hash-next-key.js";
import { keyString } from "./scalar.js";
import type { ValueRef, VmMapOptions } from "./types.js";

/** One element: its key, its value block (all CPUs' slots for per-CPU maps) and the LRU ref bit. */
interface HashEntry {
  key: Uint8Array;
  block: Uint8Array;
  ref: boolean;
}

/** Which of the four hash flavours a {@link HashMap} is. */
export interface HashKind {
  percpu: boolean;
  lru: boolean;
}

/**
 * `BPF_MAP_TYPE_HASH`, `PERCPU_HASH`, `LRU_HASH` and `LRU_PERCPU_HASH` with kernel/bpf/hashtab.c's
 * semantics:
 * - a new key in a full map fails with E2BIG (plain hashes) or evicts an element (LRU);
 * - `NOEXIST` on a present key fails with EEXIST, `EXIST` on an absent one with ENOENT;
 * - a plain LRU hash takes a free element *before* it looks at the key, so any update of a full
 *   LRU hash evicts one element, even one that then fails or replaces an existing key (the
 *   kernel does this too; an LRU-percpu hash only does it when the flags are not `EXIST`);
 * - program updates of a per-CPU hash write the current CPU's slot, zeroing the others for a
 *   new key.
 *
 * Iteration (GET_NEXT_KEY) order is insertion order; the kernel's is bucket order, which depends
 * on a random hash seed, so no caller can rely on it. A key that is not in the map yields the
 * first key, like the kernel.
 *
 * LRU eviction approximates the kernel's (kernel/bpf/bpf_lru_list.c): elements are kept in
 * recency order (insertion or replacement makes an element newest), a program lookup sets the
 * element's reference bit, and the victim is the oldest element without the bit, clearing bits
 * and giving a second chance on the way. With updates from one CPU this evicts the same elements
 * the kernel does. The common LRU's free lists are modelled for the VM's one CPU (see
 * `acquireNode`): eviction happens in batches of `target_free`, as on the kernel; the kernel's
 * other CPUs' local lists (a node freed on one CPU and taken on another) are not.
 *
 * Values are updated in place, so a program's pointer to a value sees later updates (the kernel
 * swaps in a new element for plain hashes; that difference is only visible to racing programs).
 */
export class HashMap extends VmMapBase {
  readonly kind: HashKind;
  /** How many elements fit: max_entries, rounded to a multiple of the CPUs for per-CPU LRU lists. */
  readonly capacity: number;
  readonly #stride: number;
  /** Elements in insertion order (the iteration order). */
  readonly #entries = new Map<string, HashEntry>();
  /** LRU only: elements from oldest to newest. */
  readonly #recency = new Map<string, HashEntry>();

  constructor(spec: MapSpec, opts: VmMapOptions, kind: HashKind) {
    super(spec, opts);
    this.kind = kind;
    this.#stride = perCpuValueStride(spec.valueSize);
    let cap = spec.maxEntries;
    if (kind.lru && (spec.flags & MapFlag.NO_COMMON_LRU) !== 0) {
      const n = opts.possibleCpus;
      const up = Math.ceil(cap / n) * n;
      cap = up <= 0xffffffff ? up : Math.floor(cap / n) * n;
    }
    this.capacity = cap;
    if (kind.lru && (spec.flags & MapFlag.NO_COMMON_LRU) === 0) {
      this.#lru = new CommonLru(cap, opts.possibleCpus, (ks) => {
        this.#entries.delete(ks);
        this.#recency.delete(ks);
      });
    }
  }

  /** The common LRU's node lists (LRU maps without BPF_F_NO_COMMON_LRU). */
  readonly #lru: CommonLru | undefined;

  /** Number of elements present. */
  get size(): number {
    return this.#entries.size;
  }

  protected lookupRaw(key: Uint8Array): Uint8Array | undefined {
    const e = this.#entries.get(keyString(key));
    return e === undefined ? undefined : e.block.slice();
  }

  protected updateRaw(key: Uint8Array, value: Uint8Array, flags: number): void {
    this.upsert(key, flags, (block) => {
      if (this.kind.percpu) {
        block.set(value);
        return;
      }
      this.copyValue(block, value);
    });
  }

  protected deleteRaw(key: Uint8Array): void {
    if (!this.remove_(key)) throw new MapFailure(Errno.ENOENT, "no such key");
  }

  protected nextKeyRaw(key: Uint8Array | undefined): Uint8Array | undefined {
    return hashNextKey(this.#entries, key);
  }

  /** Iterates a snapshot: GET_NEXT_KEY on an insertion-ordered hash costs O(n) a key. */
  override *keys(): IterableIterator<Uint8Array> {
    this.nextKey(undefined); // the first GET_NEXT_KEY: its access check and error
    for (const e of [...this.#entries.values()]) yield e.key.slice();
  }

  lookupForProgram(key: Uint8Array, cpu?: number): ValueRef | undefined {
    const e = this.#entries.get(keyString(key));
    if (e === undefined) return undefined;
    if (this.kind.lru) {
      e.ref = true;
      this.#lru?.reference(keyString(key));
    }
    const offset = this.kind.percpu ? this.cpuIndex(cpu) * this.#stride : 0;
    const size = this.spec.valueSize;
    return { bytes: e.block, offset, size, view: e.block.subarray(offset, offset + size) };
  }

  updateFromProgram(key: Uint8Array, value: Uint8Array, flags: bigint, cpu?: number): number {
    return errnoOf(() => {
      if (this.readOnlyForProgram) throw new MapFailure(Errno.EPERM, "read-only for programs");
      if (key.length !== this.spec.keySize) throw new MapFailure(Errno.EINVAL, "wrong key size");
      const f = flagsToNumber(flags);
      const c = this.kind.percpu ? this.cpuIndex(cpu) : 0;
      const v = value.subarray(0, this.spec.valueSize);
      this.upsert(key, f, (block, fresh) => {
        if (!this.kind.percpu) {
          this.copyValue(block, v);
          return;
        }
        if (fresh) block.fill(0);
        block.set(v, c * this.#stride);
      });
    });
  }

  deleteFromProgram(key: Uint8Array): number {
    return this.remove_(key) ? 0 : -Errno.ENOENT;
  }

  /**
   * The update path shared by syscall and program: flag checks, eviction or E2BIG, then `write`
   * into the (new or existing) element's block.
   */
  private upsert(key: Uint8Array, flags: number, write: (block: Uint8Array, fresh: boolean) => void): void {
    const f = checkUpdateFlags(flags);
    if ((flags & LOCK) !== 0 && this.spinLockOffset === undefined) {
      throw new MapFailure(Errno.EINVAL, "LOCK on a value without bpf_spin_lock");
    }
    const ks = keyString(key);
    // The LRU flavours pop a free element before looking the key up; when none is free, that evicts.
    const popsFirst = this.kind.lru && (!this.kind.percpu || f !== EXIST);
    let acquired = false;
    if (popsFirst) {
      if (this.#lru !== undefined) {
        this.#lru.acquire();
        acquired = true;
      } else if (this.#entries.size >= this.capacity) this.evictOne();
    }
    const old = this.#entries.get(ks);
    const refuse = (errno: number, why: string): never => {
      if (acquired) this.#lru?.unuse(); // the popped node goes back to the local free list
      throw new MapFailure(errno, why);
    };
    if (old !== undefined && f === NOEXIST) refuse(Errno.EEXIST, "key exists");
    if (old === undefined && f === EXIST) refuse(Errno.ENOENT, "no such key");
    if (old !== undefined) {
      if (this.#lru !== undefined) {
        if (this.kind.percpu) {
          // An LRU-percpu hash updates in place, marks the element referenced and frees any
          // node it popped.
          if (acquired) this.#lru.unuse();
          this.#lru.reference(ks);
        } else if (acquired) {
          // A plain LRU hash puts the new node in place and frees the old one.
          this.#lru.release(ks);
          this.#lru.use(ks);
        }
      }
      write(old.block, false);
      if (this.kind.lru) {
        if (this.kind.percpu) {
          old.ref = true;
        } else {
          // A plain LRU hash replaces the element with a fresh one: newest, unreferenced.
          old.ref = false;
          this.#recency.delete(ks);
          this.#recency.set(ks, old);
        }
      }
      return;
    }
    if (this.#lru !== undefined && !acquired) this.#lru.acquire();
    else if (this.#lru === undefined && this.#entries.size >= this.capacity) {
      throw new MapFailure(Errno.E2BIG, `map is full (max_entries ${this.spec.maxEntries})`);
    }
    const block = new Uint8Array(this.kind.percpu ? this.#stride * this.possibleCpus : this.spec.valueSize);
    write(block, true);
    const e: HashEntry = { key: key.slice(), block, ref: false };
    this.#entries.set(ks, e);
    this.#lru?.use(ks);
    if (this.kind.lru) this.#recency.set(ks, e);
  }

  /** Second-chance eviction of the oldest unreferenced element; false when there is none. */
  private evictOne(): boolean {
    for (let guard = this.#recency.size * 2 + 1; guard > 0; guard--) {
      const first = this.#recency.entries().next();
      if (first.done) return false;
      const [ks, e] = first.value;
      this.#recency.delete(ks);
      if (e.ref) {
        e.ref = false;
        this.#recency.set(ks, e);
        continue;
      }
      this.#entries.delete(ks);
      return true;
    }
    return false;
  }

  private remove_(key: Uint8Array): boolean {
    const ks = keyString(key);
    if (!this.#entries.delete(ks)) return false;
    this.#recency.delete(ks);
    this.#lru?.release(ks);
    return true;
  }

  /** Copies a value, leaving a `bpf_spin_lock` field untouched as the kernel does. */
  private copyValue(block: Uint8Array, src: Uint8Array): void {
    const lock = this.spinLockOffset;
    if (lock === undefined) {
      block.set(src.subarray(0, this.spec.valueSize));
      return;
    }
    block.set(src.subarray(0, lock));
    block.set(src.subarray(lock + 4, this.spec.valueSize), lock + 4);
  }
}
