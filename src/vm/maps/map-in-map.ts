import { Errno, MapFlag, MapType } from "../../abi/index.js";
import type { MapSpec } from "../../object/types.js";
import { checkUpdateFlags, EXIST, NOEXIST, VmMapBase } from "./base.js";
import { MapFailure } from "./errno.js";
import { FdArrayMap } from "./fd-array-map.js";
import { vmHandleOf, vmObjectOf } from "./handles.js";
import { hashNextKey } from "./hash-next-key.js";
import { decodeUnsigned, encodeScalar } from "../../backend/scalar.js";
import { keyString } from "./scalar.js";
import type { ValueRef, VmMapOptions } from "./types.js";

/** Maps of maps cannot nest: the kernel refuses a second level with EINVAL. */
const NOT_INNER = new Set<number>([MapType.array_of_maps, MapType.hash_of_maps]);

/**
 * The kernel's `bpf_map_meta_equal`: an inner map must match the template in type, key and value
 * size and flags, and in max_entries unless the template carries `BPF_F_INNER_MAP`. Without a
 * template (an object that declares none) the first map stored becomes it.
 */
export class InnerMapTemplate {
  #spec: MapSpec | undefined;
  constructor(spec: MapSpec | undefined) {
    this.#spec = spec;
  }

  /** Throws a MapFailure (EINVAL) when `m` does not fit the template. */
  check(m: VmMapBase): void {
    if (NOT_INNER.has(m.spec.type)) {
      throw new MapFailure(Errno.EINVAL, `a ${m.spec.typeName} cannot be an inner map`);
    }
    const t = this.#spec;
    if (t === undefined) {
      this.#spec = m.spec;
      return;
    }
    const s = m.spec;
    const why =
      s.type !== t.type
        ? `type ${s.typeName} is not ${t.typeName}`
        : s.keySize !== t.keySize
          ? `key size ${s.keySize} is not ${t.keySize}`
          : s.valueSize !== t.valueSize
            ? `value size ${s.valueSize} is not ${t.valueSize}`
            : s.flags !== t.flags
              ? `flags ${s.flags} are not ${t.flags}`
              : (t.flags & MapFlag.INNER_MAP) === 0 && s.maxEntries !== t.maxEntries
                ? `max_entries ${s.maxEntries} is not ${t.maxEntries}`
                : undefined;
    if (why !== undefined) throw new MapFailure(Errno.EINVAL, `inner map ${s.name} does not match: ${why}`);
  }
}

function isVmMap(obj: object): obj is VmMapBase {
  return obj instanceof VmMapBase;
}

/**
 * `BPF_MAP_TYPE_ARRAY_OF_MAPS`: an fd array of maps. User space stores a map (or its handle) and
 * reads back the inner map's id (its handle); programs look a slot up to get the inner map.
 */
export class ArrayOfMaps extends FdArrayMap<VmMapBase> {
  readonly #template: InnerMapTemplate;

  constructor(spec: MapSpec, opts: VmMapOptions) {
    super(spec, opts, { noun: "map", accepts: isVmMap });
    this.#template = new InnerMapTemplate(spec.innerMap);
  }

  protected override checkSlot(m: VmMapBase): void {
    this.#template.check(m);
  }

  /** `bpf_map_lookup_elem` on the outer map from a program: the inner map, if the slot is set. */
  lookupMapForProgram(key: Uint8Array): VmMapBase | undefined {
    return this.at(decodeUnsigned(key, this.littleEndian));
  }
}

/**
 * `BPF_MAP_TYPE_HASH_OF_MAPS`: a hash whose values are maps. Updates follow the hash's flag rules
 * (`NOEXIST`/`EXIST`, E2BIG when full), but the handle is resolved first, so a bad
 * handle fails with EBADF/EINVAL before any flag check, as in `bpf_fd_htab_map_update_elem`.
 */
export class HashOfMaps extends VmMapBase {
  readonly #entries = new Map<string, { key: Uint8Array; map: VmMapBase }>();
  readonly #template: InnerMapTemplate;

  constructor(spec: MapSpec, opts: VmMapOptions) {
    super(spec, opts);
    this.#template = new InnerMapTemplate(spec.innerMap);
  }

  /** Number of elements present. */
  get size(): number {
    return this.#entries.size;
  }

  protected lookupRaw(key: Uint8Array): Uint8Array | undefined {
    const e = this.#entries.get(keyString(key));
    return e === undefined ? undefined : encodeScalar(vmHandleOf(e.map), 4, this.littleEndian);
  }

  protected updateRaw(key: Uint8Array, value: Uint8Array, flags: number): void {
    const handle = decodeUnsigned(value, this.littleEndian);
    const obj = vmObjectOf(handle);
    if (obj === undefined) throw new MapFailure(Errno.EBADF, `handle ${handle} names nothing`);
    if (!isVmMap(obj)) throw new MapFailure(Errno.EINVAL, `handle ${handle} is not a map`);
    this.put(key, obj, flags);
  }

  private put(key: Uint8Array, m: VmMapBase, flags: number): void {
    this.#template.check(m);
    const f = checkUpdateFlags(flags);
    const ks = keyString(key);
    const old = this.#entries.get(ks);
    if (old !== undefined && f === NOEXIST) throw new MapFailure(Errno.EEXIST, "key exists");
    if (old === undefined && f === EXIST) throw new MapFailure(Errno.ENOENT, "no such key");
    if (old !== undefined) {
      old.map = m;
      return;
    }
    if (this.#entries.size >= this.spec.maxEntries) {
      throw new MapFailure(Errno.E2BIG, `map is full (max_entries ${this.spec.maxEntries})`);
    }
    this.#entries.set(ks, { key: key.slice(), map: m });
  }

  protected deleteRaw(key: Uint8Array): void {
    if (!this.#entries.delete(keyString(key))) throw new MapFailure(Errno.ENOENT, "no such key");
  }

  protected nextKeyRaw(key: Uint8Array | undefined): Uint8Array | undefined {
    return hashNextKey(this.#entries, key);
  }

  /** `bpf_map_lookup_elem` on the outer map from a program: the inner map, if present. */
  lookupMapForProgram(key: Uint8Array): VmMapBase | undefined {
    return this.#entries.get(keyString(key))?.map;
  }

  lookupForProgram(_key: Uint8Array): ValueRef | undefined {
    return undefined;
  }

  updateFromProgram(): number {
    return -Errno.EINVAL;
  }

  deleteFromProgram(): number {
    return -Errno.EINVAL;
  }
}
