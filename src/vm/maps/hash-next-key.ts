import { keyString } from "./scalar.js";

/**
 * GET_NEXT_KEY over a hash kept in insertion order, shared by the hash maps and the hash of maps:
 * the key after `key`, or the first key when `key` is absent or not present (as the kernel restarts
 * from the first bucket for a missing key), or `undefined` past the last one.
 */
export function hashNextKey(
  entries: ReadonlyMap<string, { readonly key: Uint8Array }>,
  key: Uint8Array | undefined,
): Uint8Array | undefined {
  const it = entries.values();
  if (key !== undefined && entries.has(keyString(key))) {
    const ks = keyString(key);
    for (const e of it) if (keyString(e.key) === ks) break;
  }
  const n = it.next();
  return n.done ? undefined : n.value.key.slice();
}
