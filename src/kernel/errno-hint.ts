/**
 * What tsbpf tells a user about a failed bpf() call: the explanation of an errno for the
 * operation, and which capabilities a permission error points at.
 */
import { Cap, Errno } from "../abi/index.js";

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
 * or, when none are, the other usual causes. `ownUserNamespace`: the process runs in a user
 * namespace of its own, where the capabilities it has do not count for bpf().
 */
export function permissionHint(capEff: bigint | undefined, ownUserNamespace = false): string {
  const base = "needs root, or CAP_BPF with CAP_NET_ADMIN and CAP_PERFMON";
  if (capEff === undefined) return `${base} (effective capabilities unknown)`;
  const missing = missingCaps(capEff);
  const hex = capEff.toString(16).padStart(16, "0");
  if (missing.length > 0) return `${base}; this process lacks ${missing.join(", ")} (CapEff ${hex})`;
  if (ownUserNamespace) {
    return `${base} in the host's user namespace; this process has them (CapEff ${hex}) only in a user namespace of its own (a rootless container's), which bpf() does not count: run it as root on the host, or in a container the host gives these capabilities`;
  }
  return `${base}; this process has them (CapEff ${hex}), so look at kernel lockdown, an LSM policy, or RLIMIT_MEMLOCK on kernels before 5.11`;
}

/**
 * A short explanation of `errno` for the operation `op`; `undefined` when tsbpf knows nothing
 * better than the errno's name. `capEff` and `ownUserNamespace` are only used for EPERM/EACCES
 * (see {@link permissionHint}).
 */
export function errnoHint(
  errno: number,
  op: string,
  capEff?: bigint,
  ownUserNamespace = false,
): string | undefined {
  switch (errno) {
    case Errno.EPERM:
    case Errno.EACCES:
      return permissionHint(capEff, ownUserNamespace);
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
