/** Raw map operations on the bpf() syscall: create, lookup, update, delete, next key, freeze. */
import { BpfCmd, Errno } from "../abi/index.js";
import { UsageError } from "../errors.js";
import { type MapCreateAttr, mapCreateAttr, mapElemAttr, mapFdAttr } from "./attr.js";
import { Fd } from "./fd.js";
import { isSysError, type Sys } from "./sys.js";
import { throwLoadError, throwMapError } from "./wrap-error.js";

/** Options of {@link createMap}; the fields of BPF_MAP_CREATE. */
export type CreateMapOptions = MapCreateAttr;

/** Creates a map; the returned {@link Fd} owns it. Throws LoadError with the errno and a hint. */
export function createMap(sys: Sys, opts: CreateMapOptions): Fd {
  const { attr, ptrs } = mapCreateAttr(opts);
  const what = `map ${opts.name ?? "(unnamed)"}`;
  try {
    return new Fd(sys, sys.bpf(BpfCmd.MAP_CREATE, attr, ptrs), what);
  } catch (e) {
    throwLoadError(e, `create ${what}`, opts.name === undefined ? {} : { map: opts.name });
  }
}

function checkSize(what: string, got: number, want: number): void {
  if (got !== want) throw new UsageError(`${what} is ${got} bytes, the map needs ${want}`);
}

/**
 * Looks `key` up; `undefined` when absent (ENOENT). `valueSize` is the user-space value size
 * (`BpfMap.valueBufferSize`). Other errors throw MapError with the errno.
 */
export function lookupElem(
  sys: Sys,
  mapFd: number,
  key: Uint8Array,
  valueSize: number,
  flags = 0n,
): Uint8Array | undefined {
  const value = new Uint8Array(valueSize);
  const { attr, ptrs } = mapElemAttr(mapFd, key, value, flags, true);
  try {
    sys.bpf(BpfCmd.MAP_LOOKUP_ELEM, attr, ptrs);
    return value;
  } catch (e) {
    if (isSysError(e) && e.errno === Errno.ENOENT) return undefined;
    throwMapError(e, "map lookup");
  }
}

/** Updates `key` with `flags` (BPF_ANY/NOEXIST/EXIST/F_LOCK); throws MapError with the kernel's errno. */
export function updateElem(sys: Sys, mapFd: number, key: Uint8Array, value: Uint8Array, flags = 0n): void {
  const { attr, ptrs } = mapElemAttr(mapFd, key, value, flags, false);
  try {
    sys.bpf(BpfCmd.MAP_UPDATE_ELEM, attr, ptrs);
  } catch (e) {
    throwMapError(e, "map update");
  }
}

/** Deletes `key`; throws MapError (ENOENT when absent, EINVAL for array maps). */
export function deleteElem(sys: Sys, mapFd: number, key: Uint8Array): void {
  const { attr, ptrs } = mapElemAttr(mapFd, key, undefined, 0n, false);
  try {
    sys.bpf(BpfCmd.MAP_DELETE_ELEM, attr, ptrs);
  } catch (e) {
    throwMapError(e, "map delete");
  }
}

/**
 * The key after `key` in the kernel's order, or the first key when `key` is undefined;
 * `undefined` at the end.
 */
export function nextKey(
  sys: Sys,
  mapFd: number,
  key: Uint8Array | undefined,
  keySize: number,
): Uint8Array | undefined {
  if (key !== undefined) checkSize("key", key.byteLength, keySize);
  const next = new Uint8Array(keySize);
  const { attr, ptrs } = mapElemAttr(mapFd, key, next, 0n, true);
  try {
    sys.bpf(BpfCmd.MAP_GET_NEXT_KEY, attr, ptrs);
    return next;
  } catch (e) {
    if (isSysError(e) && e.errno === Errno.ENOENT) return undefined;
    throwMapError(e, "map next key");
  }
}

/** Iterates all keys with BPF_MAP_GET_NEXT_KEY. */
export function* mapKeys(sys: Sys, mapFd: number, keySize: number): Generator<Uint8Array> {
  let k = nextKey(sys, mapFd, undefined, keySize);
  while (k !== undefined) {
    yield k;
    k = nextKey(sys, mapFd, k, keySize);
  }
}

/** Makes the map read-only for user space (BPF_MAP_FREEZE); programs may still write unless RDONLY_PROG. */
export function freezeMap(sys: Sys, mapFd: number): void {
  const { attr, ptrs } = mapFdAttr(mapFd);
  try {
    sys.bpf(BpfCmd.MAP_FREEZE, attr, ptrs);
  } catch (e) {
    throwMapError(e, "map freeze");
  }
}
