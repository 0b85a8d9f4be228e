/**
 * Turns a {@link SysError} from the native layer into the typed tsbpf error a caller expects,
 * with the errno kept and a hint saying what the errno most likely means for this operation.
 */
import { Errno, errnoName } from "../abi/index.js";
import { type ErrorContext, LoadError, MapError, type TsbpfErrorOptions } from "../errors.js";
import { errnoHint } from "./errno-hint.js";
import { inOwnUserNamespace, readEffectiveCaps } from "./host.js";
import { isSysError, type SysError } from "./sys.js";

/** Hints an operation knows better than the generic ones, by errno. */
export type ErrnoHints = Readonly<Partial<Record<number, string>>>;

function hintFor(errno: number, op: string, hints: ErrnoHints = {}): string | undefined {
  const own = hints[errno];
  if (own !== undefined) return own;
  if (errno !== Errno.EPERM && errno !== Errno.EACCES) return errnoHint(errno, op);
  return errnoHint(errno, op, readEffectiveCaps(), inOwnUserNamespace());
}

/** The context, cause and errno hint every error built from a failed syscall carries. */
function syscallErrorOptions(
  e: SysError,
  op: string,
  ctx: ErrorContext,
  hints: ErrnoHints,
): TsbpfErrorOptions {
  const hint = hintFor(e.errno, op, hints);
  return { ...ctx, cause: e, ...(hint === undefined ? {} : { hint }) };
}

/** Rethrows `e` as a {@link MapError} (errno and code set) when it is a failed syscall. */
export function throwMapError(e: unknown, op: string, ctx: ErrorContext = {}, hints: ErrnoHints = {}): never {
  if (!isSysError(e)) throw e;
  const err = new MapError(`${op}: ${errnoName(e.errno)}`, syscallErrorOptions(e, op, ctx, hints));
  err.errno = e.errno;
  err.code = errnoName(e.errno);
  throw err;
}

/** Builds a {@link LoadError} for a failed syscall (errno set); other errors are returned as they are. */
export function loadErrorFrom(
  e: unknown,
  op: string,
  ctx: ErrorContext = {},
  hints: ErrnoHints = {},
): unknown {
  if (!isSysError(e)) return e;
  const err = new LoadError(`${op}: ${errnoName(e.errno)}`, syscallErrorOptions(e, op, ctx, hints));
  err.errno = e.errno;
  return err;
}

/** Rethrows `e` as a {@link LoadError} when it is a failed syscall. */
export function throwLoadError(
  e: unknown,
  op: string,
  ctx: ErrorContext = {},
  hints: ErrnoHints = {},
): never {
  throw loadErrorFrom(e, op, ctx, hints);
}
