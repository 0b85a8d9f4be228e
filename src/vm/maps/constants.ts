/** `BPF_F_*` map creation flags the VM looks at. */
export const MapFlags = {
  NO_PREALLOC: 1,
  NO_COMMON_LRU: 2,
  NUMA_NODE: 4,
  RDONLY: 8,
  WRONLY: 16,
  ZERO_SEED: 64,
  RDONLY_PROG: 128,
  WRONLY_PROG: 256,
  MMAPABLE: 1024,
  INNER_MAP: 4096,
} as const;

/** Update flags as plain numbers (the API takes bigint; internals compare numbers). */
export const BPF_ANY = 0;
/** Create only: fail with EEXIST if the key exists. */
export const BPF_NOEXIST = 1;
/** Replace only: fail with ENOENT if the key is absent. */
export const BPF_EXIST = 2;
/** Update the value under its `bpf_spin_lock`; EINVAL unless the value has one. */
export const BPF_F_LOCK = 4;

/** Page size the kernel uses for ring buffers on the machines tsbpf targets (x86-64, arm64 4K). */
export const PAGE_SIZE = 4096;

/** Rounds `n` up to a multiple of 8, as the kernel does for per-CPU value slots. */
export function round8(n: number): number {
  return (n + 7) & ~7;
}
