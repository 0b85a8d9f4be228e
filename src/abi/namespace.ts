/**
 * The fixed inode numbers the kernel gives its initial namespaces (include/linux/proc_ns.h,
 * `PROC_*_INIT_INO`): a process whose `/proc/self/ns/<kind>` has this inode runs in the host's
 * namespace of that kind. The mount namespace's is numbered so since Linux 6.18.
 */
export const InitNamespaceInode = Object.freeze({
  /** PROC_USER_INIT_INO: only capabilities held in it count for bpf(). */
  user: 0xeffffffd,
  /** PROC_PID_INIT_INO: in it, the pids a process sees are the ones tracefs records. */
  pid: 0xeffffffc,
  /** PROC_MNT_INIT_INO (6.18+). */
  mnt: 0xeffffff8,
} as const);
