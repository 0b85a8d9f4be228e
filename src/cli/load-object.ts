import { readFile } from "node:fs/promises";
import { basename } from "node:path";
import { UsageError } from "../errors.js";
import { loadCollectionSpec } from "../object/load-collection-spec.js";
import type { CollectionSpec } from "../object/types.js";

/** Reads and parses an object named on the command line; a missing file is a one-line error. */
export async function readObject(
  path: string | undefined,
  command: string,
): Promise<{ spec: CollectionSpec; bytes: Uint8Array }> {
  if (path === undefined)
    throw new UsageError(`${command}: missing the object file (tsbpf ${command} OBJ ...)`);
  let bytes: Uint8Array;
  try {
    bytes = new Uint8Array(await readFile(path));
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    throw new UsageError(
      `cannot read ${path}: ${code === "ENOENT" ? "no such file" : code === "EISDIR" ? "is a directory" : (code ?? String(e))}`,
    );
  }
  return { spec: loadCollectionSpec(bytes, { file: basename(path) }), bytes };
}
