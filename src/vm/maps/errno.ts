import { MapError } from "../../errors.js";

/**
 * The Linux errno values map operations can fail with. The VM reports the same numbers the kernel
 * would, so code written against one engine handles the other's errors unchanged.
 */
export const Errno = {
  EPERM: 1,
  ENOENT: 2,
  E2BIG: 7,
  EBADF: 9,
  EAGAIN: 11,
  ENOMEM: 12,
  EBUSY: 16,
  EEXIST: 17,
  EINVAL: 22,
  ENOSPC: 28,
  EOPNOTSUPP: 95,
  /** Kernel-internal "not supported" (not in the uapi headers); bpf() leaks it for ring buffers. */
  ENOTSUPP: 524,
} as const;

/** Symbolic name of an errno, such as `"ENOENT"`; `"E<n>"` for numbers tsbpf does not name. */
export function errnoName(errno: number): string {
  for (const [name, n] of Object.entries(Errno)) if (n === errno) return name;
  return `E${errno}`;
}

/**
 * Builds the MapError for a failed operation: `map counters: update key 7: E2BIG (index past ...)`.
 * `op` names the operation and its subject (`update key 7`).
 */
export function mapError(map: string, op: string, errno: number, why?: string, hint?: string): MapError {
  const code = errnoName(errno);
  const msg = `map ${map}: ${op}: ${code}${why === undefined ? "" : ` (${why})`}`;
  const e = new MapError(msg, hint === undefined ? { map } : { map, hint });
  e.errno = errno;
  e.code = code;
  return e;
}

/** Thrown internally by shared checks; converted to a {@link MapError} or a negative errno by callers. */
export class MapFailure {
  constructor(
    readonly errno: number,
    readonly why?: string,
  ) {}
}
