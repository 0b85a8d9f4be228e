import { nameLookup } from "./names.js";

/**
 * Linux errno values (the generic numbers, shared by x86-64, arm64 and riscv64) and their names.
 * The VM reports the numbers the kernel would, so both engines name them through this table.
 */
export const Errno = {
  EPERM: 1,
  ENOENT: 2,
  ESRCH: 3,
  EINTR: 4,
  EIO: 5,
  ENXIO: 6,
  E2BIG: 7,
  EBADF: 9,
  EAGAIN: 11,
  ENOMEM: 12,
  EACCES: 13,
  EFAULT: 14,
  EBUSY: 16,
  EEXIST: 17,
  ENODEV: 19,
  ENOTDIR: 20,
  EINVAL: 22,
  EMFILE: 24,
  ENOSPC: 28,
  ERANGE: 34,
  ENAMETOOLONG: 36,
  ELOOP: 40,
  ENOLINK: 67,
  EPROTO: 71,
  EOPNOTSUPP: 95,
  EADDRNOTAVAIL: 99,
  ENETDOWN: 100,
  ETIMEDOUT: 110,
  EALREADY: 114,
  /** Kernel-internal "not supported" (not in the uapi headers) that leaks out of bpf() for some map types. */
  ENOTSUPP: 524,
} as const;

const errnoNames = nameLookup(Errno);

/** The symbolic name of an errno (`ENOENT`); `errno N` for a number tsbpf does not name. */
export function errnoName(errno: number): string {
  return errnoNames(errno) ?? `errno ${errno}`;
}
