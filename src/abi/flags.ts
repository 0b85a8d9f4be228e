/**
 * Flag bits of the bpf() ABI. Keys are the uapi names without `BPF_`/`BPF_F_`/`XDP_FLAGS_`.
 * Update flags are `bigint` because the syscall's and the map API's `flags` are u64.
 */

/** `BPF_ANY`, `BPF_NOEXIST`, `BPF_EXIST`, `BPF_F_LOCK`: the flags of a map update. */
export const UpdateFlag = { ANY: 0n, NOEXIST: 1n, EXIST: 2n, LOCK: 4n } as const;

/** `map_flags` of BPF_MAP_CREATE. */
export const MapFlag = {
  NO_PREALLOC: 1 << 0,
  NO_COMMON_LRU: 1 << 1,
  NUMA_NODE: 1 << 2,
  RDONLY: 1 << 3,
  WRONLY: 1 << 4,
  STACK_BUILD_ID: 1 << 5,
  ZERO_SEED: 1 << 6,
  RDONLY_PROG: 1 << 7,
  WRONLY_PROG: 1 << 8,
  CLONE: 1 << 9,
  MMAPABLE: 1 << 10,
  PRESERVE_ELEMS: 1 << 11,
  INNER_MAP: 1 << 12,
  LINK: 1 << 13,
  PATH_FD: 1 << 14,
  VTYPE_BTF_OBJ_FD: 1 << 15,
  TOKEN_FD: 1 << 16,
  SEGV_ON_FAULT: 1 << 17,
  NO_USER_CONV: 1 << 18,
} as const;

/** `prog_flags` of BPF_PROG_LOAD. */
export const ProgFlag = {
  STRICT_ALIGNMENT: 1 << 0,
  ANY_ALIGNMENT: 1 << 1,
  TEST_RND_HI32: 1 << 2,
  TEST_STATE_FREQ: 1 << 3,
  SLEEPABLE: 1 << 4,
  XDP_HAS_FRAGS: 1 << 5,
} as const;

/** XDP attach flags (if_link.h), used by both bpf_link and netlink attachment. */
export const XdpFlag = {
  UPDATE_IF_NOEXIST: 1 << 0,
  SKB_MODE: 1 << 1,
  DRV_MODE: 1 << 2,
  HW_MODE: 1 << 3,
  REPLACE: 1 << 4,
} as const;

/** `BPF_OBJ_NAME_LEN`: program and map names are at most 15 bytes plus NUL. */
export const OBJ_NAME_LEN = 16;

/** `flags` of BPF_LINK_UPDATE: `REPLACE` swaps only if the link still runs `old_prog_fd`'s program. */
export const LinkUpdateFlag = { REPLACE: 1 << 2 } as const;

/**
 * `flags` of BPF_PROG_TEST_RUN. `XDP_LIVE_FRAMES` runs an XDP program on real frames: what it
 * returns (XDP_TX, XDP_REDIRECT) is carried out, so the frames leave through `ingress_ifindex`.
 */
export const TestRunFlag = { RUN_ON_CPU: 1 << 0, XDP_LIVE_FRAMES: 1 << 1 } as const;
