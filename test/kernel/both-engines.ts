/** Running one object on both engines, for the VM-against-kernel tests. */
import { readFileSync } from "node:fs";
import type { BackendName, LoadedCollection } from "../../src/backend/types.js";
import { Collection } from "../../src/collection.js";
import { loadCollectionSpec } from "../../src/object/load-collection-spec.js";
import type { CollectionSpec } from "../../src/object/types.js";
import { traceLock } from "./attach-support.js";

/** The engines compared, kernel first: the kernel is the oracle and fails loudest. */
export const BACKENDS: readonly BackendName[] = ["kernel", "vm"];

/** Parses an object file; a fresh spec for each load, since loading may rewrite it. */
export function loadSpec(file: string): CollectionSpec {
  return loadCollectionSpec(new Uint8Array(readFileSync(file)), { file });
}

/** Bytes as lower-case hex, so packets compare and print readably in `deepEqual`. */
export const hex = (b: Uint8Array): string => Buffer.from(b).toString("hex");

/**
 * Loads a collection with `load` on each engine in turn, runs `body` on it and closes it, and
 * returns both results; one engine's collection is closed before the other's is loaded.
 */
export async function onEachEngine<T>(
  load: (backend: BackendName) => Promise<LoadedCollection>,
  body: (c: LoadedCollection, backend: BackendName) => Promise<T>,
): Promise<Record<BackendName, T>> {
  const out: Partial<Record<BackendName, T>> = {};
  for (const backend of BACKENDS) {
    const c = await load(backend);
    try {
      out[backend] = await body(c, backend);
    } finally {
      c.close();
    }
  }
  return out as Record<BackendName, T>;
}

/**
 * Runs `body` on `file` loaded in both engines (kernel first) while holding the trace lock, since
 * the kernel engine's printk capture must not race other tests reading the trace pipe.
 */
export async function onBoth<T>(
  file: string,
  body: (c: LoadedCollection, backend: BackendName) => Promise<T>,
): Promise<Record<BackendName, T>> {
  const unlock = await traceLock();
  try {
    return await onEachEngine((backend) => Collection.load(loadSpec(file), { backend }), body);
  } finally {
    await unlock();
  }
}
