import { hostObjectCache, type ObjectMemo } from "./object-cache.js";
import type { LoadCollectionSpecOptions } from "./object-types.js";
import { parseCollectionSpec } from "./parse-collection-spec.js";
import { encodePreparedSpec, openPreparedSpec } from "./prepared-spec.js";
import type { CollectionSpec } from "./types.js";

/**
 * Parses a clang-compiled BPF object into a {@link CollectionSpec}, following libbpf's
 * conventions: each global function of an executable section other than `.text` is a program;
 * `.text` functions are subprograms linked into every program that calls them; maps come from
 * BTF `.maps`, the legacy `maps` section and global data sections.
 *
 * Global data maps are named after their section (`.rodata`, `.data.foo`, `.rodata.str1.1`),
 * not libbpf's `<object prefix>.<section>`: the name is stable whatever the file is called.
 * Each `lddw` that refers to a map or global data is rewritten to `BPF_PSEUDO_MAP_FD` /
 * `BPF_PSEUDO_MAP_VALUE` (with the value offset in the second slot) and listed in `references`;
 * the backend fills in the map fd.
 *
 * When tsbpf runs from its bundle, an object this program parsed in an earlier run opens from
 * what that run remembered of the same bytes (docs/code-cache.md, "The object cache"), as a
 * generated skeleton opens: the spec is the same, its costly parts decoded when first read.
 */
export function loadCollectionSpec(bytes: Uint8Array, opts: LoadCollectionSpecOptions = {}): CollectionSpec {
  return hostObjectCache === undefined
    ? parseCollectionSpec(bytes, opts)
    : loadRemembered(hostObjectCache, bytes, opts);
}

/** {@link loadCollectionSpec} with the object cache `memo`. */
export function loadRemembered(
  memo: ObjectMemo,
  bytes: Uint8Array,
  opts: LoadCollectionSpecOptions,
): CollectionSpec {
  // The spec decodes its lazy parts from the cache's copy of the bytes (the caller's may change).
  const found = memo.find(bytes);
  if (found !== undefined) {
    const spec = openPreparedSpec(found.object, found.text, { ...opts, matched: true });
    if (spec !== undefined) return spec;
  }
  // Bad input throws here, and nothing is remembered of it.
  const spec = parseCollectionSpec(bytes, opts);
  const own = bytes.slice();
  memo.remember(own, () => {
    try {
      // Parsed again rather than encoded from `spec`, which the caller may have edited by then;
      // and opened once, so that a text that would not open is not kept (and the code that opens
      // one is compiled before the code cache is written: the host runs this first at exit).
      const text = encodePreparedSpec(parseCollectionSpec(own, opts), own);
      return openPreparedSpec(own, text, opts) === undefined ? undefined : text;
    } catch {
      // Not preparable (as a skeleton generator leaves its text out): parsed each time.
      return undefined;
    }
  });
  return spec;
}
