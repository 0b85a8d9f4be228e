import { MapType } from "./types.js";

const NAMES = new Map<number, string>(Object.entries(MapType).map(([k, v]) => [v, k]));

/** The lower-case `BPF_MAP_TYPE_*` name of `type` (`prog_array`), or `unknown(N)`. */
export function mapTypeName(type: number): string {
  return NAMES.get(type) ?? `unknown(${type})`;
}

/** `BPF_F_RDONLY_PROG`: programs may only read the map (global `.rodata`). */
export const BPF_F_RDONLY_PROG = 1 << 7;

/** `BPF_F_MMAPABLE`: the array can be mmap()ed; libbpf sets it on every global-data map. */
export const BPF_F_MMAPABLE = 1 << 10;
