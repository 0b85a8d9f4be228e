import { Errno } from "../../abi/index.js";
import type { MapSpec } from "../../object/types.js";
import { ANY, VmMapBase } from "./base.js";
import { MapFailure } from "./errno.js";
import { vmHandleOf, vmObjectOf } from "./handles.js";
import { decodeUnsigned, encodeScalar } from "../../backend/scalar.js";
import type { ValueRef, VmMapOptions } from "./types.js";

/**
 * What the slots of an fd array hold and how an object is accepted into one. Prog arrays and
 * arrays of maps share everything else (kernel/bpf/arraymap.c's "fd array" code).
 */
export interface SlotPolicy<T extends object> {
  /** Noun for messages: "program" or "map". */
  readonly noun: string;
  /** Whether `obj` is of the kind the slots hold. */
  accepts(obj: object): obj is T;
}

/**
 * An array whose slots hold references: `BPF_MAP_TYPE_PROG_ARRAY` (programs) and
 * `BPF_MAP_TYPE_ARRAY_OF_MAPS` (maps). From user space a slot is written with a handle (the
 * VM's fd) as a 4-byte value, or friendlily with the object itself, and read back as the
 * object's id (in the VM the handle again); only `ANY` is accepted (EINVAL otherwise), an
 * index past `max_entries` fails an update or delete with E2BIG, and deleting an empty slot
 * fails with ENOENT. A handle of the wrong kind of object fails with EINVAL and a number that
 * names no live object with EBADF, as a wrong or closed fd does in the kernel. Iteration visits
 * every index, empty or not, like array GET_NEXT_KEY.
 */
export class FdArrayMap<T extends object> extends VmMapBase {
  /** Filled slots only: a prog array may declare billions of entries and fill two. */
  readonly #slots = new Map<number, T>();
  readonly #policy: SlotPolicy<T>;
  readonly #watchers: (() => void)[] = [];

  constructor(spec: MapSpec, opts: VmMapOptions, policy: SlotPolicy<T>) {
    super(spec, opts);
    this.#policy = policy;
  }

  /** The object in slot `index`, or `undefined` when the slot is empty or out of range. */
  at(index: number): T | undefined {
    if (!Number.isInteger(index) || index < 0 || index >= this.spec.maxEntries) return undefined;
    return this.#slots.get(index);
  }

  /** Indices of the filled slots, ascending. */
  filledIndices(): number[] {
    return [...this.#slots.keys()].sort((a, b) => a - b);
  }

  /** Empties every slot (what the kernel does when the last user reference to a prog array goes). */
  clear(): void {
    this.#slots.clear();
    this.changed();
  }

  /**
   * Calls `fn` after every change of a slot: the wasm tier mirrors prog-array slots in its memory
   * (src/vm/wasm/tail-calls.ts) and forgets them then. A watcher returns false once it no longer
   * needs to hear (its memory went to another interpreter), and is dropped.
   */
  watch(fn: () => boolean): void {
    this.#watchers.push(fn);
  }

  private changed(): void {
    const ws = this.#watchers;
    for (let i = 0; i < ws.length; ) {
      if ((ws[i] as () => boolean)()) i++;
      else ws.splice(i, 1);
    }
  }

  protected lookupRaw(key: Uint8Array): Uint8Array | undefined {
    const s = this.at(decodeUnsigned(key, this.littleEndian));
    if (s === undefined) return undefined;
    return encodeScalar(vmHandleOf(s), 4, this.littleEndian);
  }

  protected updateRaw(key: Uint8Array, value: Uint8Array, flags: number): void {
    const handle = decodeUnsigned(value, this.littleEndian);
    this.put(key, this.resolve(handle), flags);
  }

  /** Stores an object already resolved from a handle, after the kernel's checks. */
  protected put(key: Uint8Array, obj: () => T, flags: number): void {
    if (flags !== ANY) throw new MapFailure(Errno.EINVAL, "fd arrays take only ANY");
    const i = decodeUnsigned(key, this.littleEndian);
    if (i >= this.spec.maxEntries) {
      throw new MapFailure(Errno.E2BIG, `index past max_entries ${this.spec.maxEntries}`);
    }
    const o = obj();
    this.checkSlot(o);
    this.#slots.set(i, o);
    this.changed();
  }

  protected deleteRaw(key: Uint8Array): void {
    const i = decodeUnsigned(key, this.littleEndian);
    if (i >= this.spec.maxEntries) {
      throw new MapFailure(Errno.E2BIG, `index past max_entries ${this.spec.maxEntries}`);
    }
    if (!this.#slots.delete(i)) throw new MapFailure(Errno.ENOENT, "slot is empty");
    this.changed();
  }

  protected nextKeyRaw(key: Uint8Array | undefined): Uint8Array | undefined {
    const max = this.spec.maxEntries;
    if (max === 0) return undefined;
    const i = key === undefined ? max : decodeUnsigned(key, this.littleEndian);
    if (i === max - 1) return undefined;
    return encodeScalar(i >= max ? 0 : i + 1, 4, this.littleEndian);
  }

  /** Throws a MapFailure (EINVAL) when `obj` may not go into this map; subclasses add checks. */
  protected checkSlot(_obj: T): void {}

  /** Programs cannot read a prog array or array of maps' slot as a value (the verifier forbids it). */
  lookupForProgram(_key: Uint8Array): ValueRef | undefined {
    return undefined;
  }

  updateFromProgram(): number {
    return -Errno.EINVAL;
  }

  deleteFromProgram(): number {
    return -Errno.EINVAL;
  }

  /** Resolves a handle the way `fdget` + type check do: EBADF for nothing, EINVAL for the wrong kind. */
  private resolve(handle: number): () => T {
    return () => {
      const obj = vmObjectOf(handle);
      if (obj === undefined) throw new MapFailure(Errno.EBADF, `handle ${handle} names nothing`);
      if (!this.#policy.accepts(obj)) {
        throw new MapFailure(Errno.EINVAL, `handle ${handle} is not a ${this.#policy.noun}`);
      }
      return obj;
    };
  }
}
