import { readFileSync, writeFile } from "node:fs";
import { basename } from "node:path";
import { UsageError } from "../errors.js";
import { readFailure, readFileAsync } from "../pipeline/files.js";
import { loadCollectionSpec } from "../object/load-collection-spec.js";
import type { CollectionSpec } from "../object/types.js";

/** Reads and parses an object named on the command line; a missing file is a one-line error. */
export async function readObject(
  path: string | undefined,
  command: string,
): Promise<{ spec: CollectionSpec; bytes: Uint8Array }> {
  if (path === undefined)
    throw new UsageError(`${command}: missing the object file (tsbpf ${command} OBJ ...)`);
  // Read at once: an object is small, and an asynchronous read made its four steps (open, stat,
  // read, close) each wait for Node's thread pool and a turn of the event loop before the load.
  let bytes: Uint8Array;
  try {
    bytes = ownBytes(readFileSync(path));
  } catch (e) {
    throw unreadable("cannot read", path, e);
  }
  return { spec: loadCollectionSpec(bytes, { file: basename(path) }), bytes };
}

/** The file's own buffer when it has one to itself (a large file is not copied again). */
function ownBytes(b: Buffer): Uint8Array {
  return b.byteOffset === 0 && b.byteLength === b.buffer.byteLength
    ? new Uint8Array(b.buffer, 0, b.byteLength)
    : new Uint8Array(b);
}

/** Reads a file named on the command line; failures are one-line usage errors naming it. */
export async function readInputFile(path: string, what: string): Promise<Uint8Array> {
  try {
    return ownBytes(await readFileAsync(path));
  } catch (e) {
    throw unreadable(what, path, e);
  }
}

/** The one usage line for a file named on the command line that could not be read. */
function unreadable(what: string, path: string, e: unknown): UsageError {
  return new UsageError(`${what} ${path}: ${readFailure(e)}`);
}

/**
 * Writes a file named on the command line (`what` is its flag, e.g. `--data-out`); a failure is
 * one usage line naming it, not an internal error.
 */
export async function writeOutputFile(path: string, data: Uint8Array | string, what: string): Promise<void> {
  try {
    await new Promise<void>((resolvePromise, reject) =>
      writeFile(path, data, (e) => (e === null ? resolvePromise() : reject(e))),
    );
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    const why =
      code === "ENOENT"
        ? "no such directory"
        : code === "EISDIR"
          ? "is a directory"
          : code === "EACCES"
            ? "permission denied"
            : (code ?? String(e));
    throw new UsageError(`${what} ${path}: cannot write: ${why}`);
  }
}
