/**
 * Linux errno values and the explanations tsbpf gives for them. The numbers are the generic
 * Linux ones (x86-64, arm64, riscv64 share them).
 */

/** errno values the kernel backend meets, by name. */
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
  EPROTO: 71,
  EOPNOTSUPP: 95,
  EADDRNOTAVAIL: 99,
  ENETDOWN: 100,
  ETIMEDOUT: 110,
  /** Kernel-internal "not supported" that leaks out of bpf() for some map types. */
  ENOTSUPP: 524,
} as const;

const NAMES = new Map<number, string>(Object.entries(Errno).map(([k, v]) => [v, k]));

/** The symbolic name of an errno, or `errno N` when unknown. */
export function errnoName(errno: number): string {
  return NAMES.get(errno) ?? `errno ${errno}`;
}

/** Linux capability numbers that matter for BPF. */
export const Cap = { NET_ADMIN: 12, SYS_ADMIN: 21, PERFMON: 38, BPF: 39 } as const;

/** The capabilities the kernel backend needs, named as in `capabilities(7)`. */
const NEEDED: ReadonlyArray<readonly [string, number]> = [
  ["CAP_BPF", Cap.BPF],
  ["CAP_NET_ADMIN", Cap.NET_ADMIN],
  ["CAP_PERFMON", Cap.PERFMON],
];

/** Parses the `CapEff:` line of /proc/self/status; `undefined` when absent or malformed. */
export function parseCapEff(status: string): bigint | undefined {
  const m = /^CapEff:\s*([0-9a-fA-F]+)\s*$/m.exec(status);
  return m?.[1] === undefined ? undefined : BigInt(`0x${m[1]}`);
}

/** Names of the needed capabilities missing from `capEff`. CAP_SYS_ADMIN stands in for all of them. */
export function missingCaps(capEff: bigint): string[] {
  const has = (c: number): boolean => ((capEff >> BigInt(c)) & 1n) === 1n;
  if (has(Cap.SYS_ADMIN)) return [];
  return NEEDED.filter(([, c]) => !has(c)).map(([n]) => n);
}

/**
 * A hint explaining EPERM/EACCES on a privileged bpf() command: which capabilities are missing,
 * or, when none are, the other usual causes.
 */
export function permissionHint(capEff: bigint | undefined): string {
  const base = "needs root, or CAP_BPF with CAP_NET_ADMIN and CAP_PERFMON";
  if (capEff === undefined) return `${base} (effective capabilities unknown)`;
  const missing = missingCaps(capEff);
  const hex = capEff.toString(16).padStart(16, "0");
  if (missing.length > 0) return `${base}; this process lacks ${missing.join(", ")} (CapEff ${hex})`;
  return `${base}; this process has them (CapEff ${hex}), so look at kernel lockdown, an LSM policy, or RLIMIT_MEMLOCK on kernels before 5.11`;
}

/**
 * A short explanation of `errno` for the operation `op`; `undefined` when tsbpf knows nothing
 * better than the errno's name. `capEff` is only used for EPERM/EACCES.
 */
export function errnoHint(errno: number, op: string, capEff?: bigint): string | undefined {
  switch (errno) {
    case Errno.EPERM:
    case Errno.EACCES:
      return permissionHint(capEff);
    case Errno.E2BIG:
      return `${op}: a size or index is larger than the kernel allows (key past max_entries, or a value/attr too big)`;
    case Errno.EINVAL:
      return `${op}: the kernel rejected an argument (wrong sizes or flags for this map/program type, or a feature this kernel lacks)`;
    case Errno.ENOENT:
      return `${op}: no such element, object or path`;
    case Errno.EEXIST:
      return `${op}: it already exists (BPF_NOEXIST on a present key, or a pin path in use)`;
    case Errno.EBUSY:
      return `${op}: busy; for XDP, another program is already attached to this interface (detach it, or attach in a different mode)`;
    case Errno.ENOSPC:
      return `${op}: a buffer was too small (verifier log, test_run output) or the map is full`;
    case Errno.EFAULT:
      return `${op}: the kernel could not read or write a buffer tsbpf passed (a tsbpf bug: please report it)`;
    case Errno.EBADF:
      return `${op}: a file descriptor is not open (was the map or program closed?)`;
    case Errno.ENOTSUPP:
    case Errno.EOPNOTSUPP:
      return `${op}: not supported for this object type or on this kernel`;
    case Errno.ENOMEM:
      return `${op}: out of memory (or map too large for this kernel's limits)`;
    default:
      return undefined;
  }
}
