import { nameLookup } from "./names.js";

/**
 * `enum bpf_map_type` (include/uapi/linux/bpf.h). Names are libbpf's and bpftool's (`prog_array`),
 * which is also how tsbpf prints them; the enum is append-only, so the numbers never change.
 */
export const MapType = {
  unspec: 0,
  hash: 1,
  array: 2,
  prog_array: 3,
  perf_event_array: 4,
  percpu_hash: 5,
  percpu_array: 6,
  stack_trace: 7,
  cgroup_array: 8,
  lru_hash: 9,
  lru_percpu_hash: 10,
  lpm_trie: 11,
  array_of_maps: 12,
  hash_of_maps: 13,
  devmap: 14,
  sockmap: 15,
  cpumap: 16,
  xskmap: 17,
  sockhash: 18,
  cgroup_storage: 19,
  reuseport_sockarray: 20,
  percpu_cgroup_storage: 21,
  queue: 22,
  stack: 23,
  sk_storage: 24,
  devmap_hash: 25,
  struct_ops: 26,
  ringbuf: 27,
  inode_storage: 28,
  task_storage: 29,
  bloom_filter: 30,
  user_ringbuf: 31,
  cgrp_storage: 32,
  arena: 33,
} as const;

/** A map type's name, such as `prog_array`. */
export type MapTypeName = keyof typeof MapType;

const mapTypeNames = nameLookup(MapType);

/** The name of map type `type` (`prog_array`), or `unknown(N)` for a number tsbpf does not know. */
export function mapTypeName(type: number): string {
  return mapTypeNames(type) ?? `unknown(${type})`;
}

const PER_CPU: ReadonlySet<number> = new Set([
  MapType.percpu_hash,
  MapType.percpu_array,
  MapType.lru_percpu_hash,
  MapType.percpu_cgroup_storage,
]);

/** Whether each key of a map of this type holds one value per possible CPU. */
export function isPerCpuMapType(type: number): boolean {
  return PER_CPU.has(type);
}

const FD_VALUED: ReadonlySet<number> = new Set([
  MapType.prog_array,
  MapType.array_of_maps,
  MapType.hash_of_maps,
]);

/**
 * Whether user space writes a map of this type with file descriptors (programs into a prog array,
 * maps into a map of maps) and reads back object ids, both 4 bytes.
 */
export function isFdValuedMapType(type: number): boolean {
  return FD_VALUED.has(type);
}

/**
 * The distance between two CPUs' copies of a per-CPU value in a user-space buffer: the kernel
 * rounds every copy up to 8 bytes (`round_up(value_size, 8)` in `bpf_map_value_size`).
 */
export function perCpuValueStride(valueSize: number): number {
  return (valueSize + 7) & ~7;
}
