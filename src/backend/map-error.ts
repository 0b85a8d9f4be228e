/**
 * The one shape of a failed map operation, on both engines: `map counters: update key 7: E2BIG`,
 * the errno and its name on the error, and what the engine knows of the cause as the hint.
 */
import { errnoName } from "../abi/errno.js";
import { MapError } from "../errors.js";

/** What else a {@link mapErrnoError} may carry. */
export interface MapErrnoDetail {
  /** The engine's explanation (the VM knows the exact rule; the kernel engine an errno hint). */
  hint?: string | undefined;
  cause?: unknown;
}

/** Builds the {@link MapError} for `op` (such as `update key 7`) failing with `errno` on map `map`. */
export function mapErrnoError(map: string, op: string, errno: number, detail: MapErrnoDetail = {}): MapError {
  const code = errnoName(errno);
  const e = new MapError(`map ${map}: ${op}: ${code}`, {
    map,
    ...(detail.hint === undefined ? {} : { hint: detail.hint }),
    ...(detail.cause === undefined ? {} : { cause: detail.cause }),
  });
  e.errno = errno;
  e.code = code;
  return e;
}
