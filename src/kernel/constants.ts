/** Numbers from include/uapi/linux/bpf.h and if_link.h that the kernel backend sends. */

/** `enum bpf_cmd`. */
export const BpfCmd = {
  MAP_CREATE: 0,
  MAP_LOOKUP_ELEM: 1,
  MAP_UPDATE_ELEM: 2,
  MAP_DELETE_ELEM: 3,
  MAP_GET_NEXT_KEY: 4,
  PROG_LOAD: 5,
  OBJ_PIN: 6,
  OBJ_GET: 7,
  PROG_TEST_RUN: 10,
  PROG_GET_NEXT_ID: 11,
  MAP_GET_NEXT_ID: 12,
  PROG_GET_FD_BY_ID: 13,
  MAP_GET_FD_BY_ID: 14,
  OBJ_GET_INFO_BY_FD: 15,
  BTF_LOAD: 18,
  MAP_FREEZE: 22,
  LINK_CREATE: 28,
  LINK_GET_FD_BY_ID: 30,
  LINK_DETACH: 34,
} as const;

/** `enum bpf_map_type` (the ones tsbpf knows by name). */
export const MapType = {
  HASH: 1,
  ARRAY: 2,
  PROG_ARRAY: 3,
  PERF_EVENT_ARRAY: 4,
  PERCPU_HASH: 5,
  PERCPU_ARRAY: 6,
  STACK_TRACE: 7,
  CGROUP_ARRAY: 8,
  LRU_HASH: 9,
  LRU_PERCPU_HASH: 10,
  LPM_TRIE: 11,
  ARRAY_OF_MAPS: 12,
  HASH_OF_MAPS: 13,
  DEVMAP: 14,
  SOCKMAP: 15,
  CPUMAP: 16,
  XSKMAP: 17,
  SOCKHASH: 18,
  QUEUE: 22,
  STACK: 23,
  DEVMAP_HASH: 25,
  RINGBUF: 27,
  BLOOM_FILTER: 30,
} as const;

/** `enum bpf_prog_type` (the ones tsbpf knows by name). */
export const ProgType = {
  SOCKET_FILTER: 1,
  KPROBE: 2,
  SCHED_CLS: 3,
  SCHED_ACT: 4,
  TRACEPOINT: 5,
  XDP: 6,
  PERF_EVENT: 7,
  CGROUP_SKB: 8,
  RAW_TRACEPOINT: 17,
  TRACING: 26,
  LSM: 29,
} as const;

/** `enum bpf_attach_type` (the ones tsbpf uses). */
export const AttachType = { XDP: 37 } as const;

/** Flags of BPF_MAP_UPDATE_ELEM. */
export const UpdateFlag = { ANY: 0n, NOEXIST: 1n, EXIST: 2n, LOCK: 4n } as const;

/** Map creation flags (`map_flags`). */
export const MapFlag = {
  NO_PREALLOC: 1 << 0,
  NO_COMMON_LRU: 1 << 1,
  NUMA_NODE: 1 << 2,
  RDONLY: 1 << 3,
  WRONLY: 1 << 4,
  RDONLY_PROG: 1 << 7,
  WRONLY_PROG: 1 << 8,
  MMAPABLE: 1 << 10,
} as const;

/** XDP attach flags (if_link.h), used by both bpf_link and netlink attachment. */
export const XdpFlag = {
  UPDATE_IF_NOEXIST: 1 << 0,
  SKB_MODE: 1 << 1,
  DRV_MODE: 1 << 2,
  HW_MODE: 1 << 3,
  REPLACE: 1 << 4,
} as const;

/** `BPF_OBJ_NAME_LEN`: names are at most 15 bytes plus NUL. */
export const OBJ_NAME_LEN = 16;
