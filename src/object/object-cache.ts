/**
 * The object cache: what a program remembers of the objects it parsed, for its next run. An
 * object's prepared spec (prepared-spec.ts, what a generated skeleton carries) is kept under the
 * object's exact bytes, in the library's code cache file after V8's data (docs/code-cache.md,
 * "The object cache").
 *
 * Parsing is cheap once V8 has run the parser a few times, but a process parses an object once,
 * cold: 2–4 ms for the seed's 12 KB object against libbpf's 0.6 (issue 14), of which 0.3 is the
 * parse itself. Opening the prepared text of the same bytes costs about what a skeleton's open
 * costs. The host that loaded tsbpf's bundle (bin/tsbpf.js) owns the file (where it goes, its
 * key, writing it atomically, never failing the program); this module owns what is in it. The
 * parser knows nothing of either, and without a bundle (the module graph, a bundler's output)
 * there is no host and every object is parsed.
 */
import { Buffer } from "node:buffer";

/**
 * What the host gives the library for its object cache (bin/tsbpf.js's `objectCacheHost`). The
 * content comes with the code cache, read at start-up in the same file: an open that hits reads
 * no file of its own (a file read is 0.1 ms here) and runs none of the host's functions, which
 * V8 would compile then (the host is not in a code cache).
 */
export interface ObjectCacheHost {
  /** What the cache file held after V8's data, or undefined (none, or made for another bundle). */
  readonly content: Uint8Array | undefined;
  /** Replaces that content: the host writes it with the code cache at exit. */
  write(data: Uint8Array): void;
  /** Runs `fn` when the process exits, before the host writes its cache file. */
  atExit(fn: () => void): void;
  /** Says what happened; undefined unless the user asked (TSBPF_CODE_CACHE_TRACE=1). */
  readonly trace: ((message: string) => void) | undefined;
}

/** An object cache as `loadCollectionSpec` uses it. */
export interface ObjectMemo {
  /**
   * The prepared text kept for exactly these bytes (every byte compared), with the cache's own
   * copy of them (never changed: a lazy spec can decode from it), or undefined.
   */
  find(bytes: Uint8Array): { text: string; object: Uint8Array } | undefined;
  /**
   * Remembers `bytes` (the caller's own copy, never changed after): `text` is called when the
   * process exits, and what it returns (undefined: nothing) is kept for the next process.
   */
  remember(bytes: Uint8Array, text: () => string | undefined): void;
}

/** How many objects the cache holds (the newest), and the largest object it takes. */
export const OBJECTS_KEPT = 8;
export const OBJECT_MAX_BYTES = 1 << 20;

interface Entry {
  object: Uint8Array;
  text: Uint8Array;
}

const same = (a: Uint8Array, b: Uint8Array): boolean =>
  a.byteLength === b.byteLength && Buffer.compare(a, b) === 0;

/**
 * The content's layout: one line of JSON, `[[objectBytes, textBytes], ...]`, newest first, then
 * each object's bytes and its text's (UTF-8), in that order. Undefined when it does not add up.
 */
function entriesOf(data: Uint8Array): Entry[] | undefined {
  // Typed-array methods and JSON only: V8's own, where Buffer's are JavaScript that a cold process
  // compiles on first use (about 0.2 ms here, inside the open the cache is for).
  const end = data.indexOf(10);
  if (end < 0 || end > 4096) return undefined;
  let index: unknown;
  try {
    index = JSON.parse(String.fromCharCode.apply(null, data.subarray(0, end) as unknown as number[]));
  } catch {
    return undefined;
  }
  if (!Array.isArray(index)) return undefined;
  const entries: Entry[] = [];
  let at = end + 1;
  for (let i = 0; i < index.length; i++) {
    const e: unknown = index[i];
    if (!Array.isArray(e)) return undefined;
    const [o, t] = e as unknown[];
    if (!Number.isSafeInteger(o) || !Number.isSafeInteger(t) || (o as number) < 0 || (t as number) < 0)
      return undefined;
    const textAt = at + (o as number);
    entries.push({ object: data.subarray(at, textAt), text: data.subarray(textAt, textAt + (t as number)) });
    at = textAt + (t as number);
  }
  return at === data.byteLength ? entries : undefined;
}

function contentOf(entries: readonly Entry[]): Uint8Array {
  const index = JSON.stringify(entries.map((e) => [e.object.byteLength, e.text.byteLength]));
  return Buffer.concat([Buffer.from(`${index}\n`, "latin1"), ...entries.flatMap((e) => [e.object, e.text])]);
}

/** Node's UTF-8 decoder itself, which `Buffer#toString` reaches through JavaScript of its own. */
const utf8Slice = (
  Buffer.prototype as unknown as { utf8Slice(this: Uint8Array, start: number, end: number): string }
).utf8Slice;

function textOf(e: Entry): string {
  return utf8Slice.call(e.text, 0, e.text.byteLength);
}

/** The entry of `entries` for exactly `bytes`. */
function entryFor(entries: readonly Entry[], bytes: Uint8Array): Entry | undefined {
  for (let i = 0; i < entries.length; i++) {
    const e = entries[i] as Entry;
    if (same(e.object, bytes)) return e;
  }
  return undefined;
}

/**
 * The object cache kept through `host`: read when an object is first looked up, written at exit
 * when an object was parsed (the texts are made then, when no caller waits on them), merged with
 * what the file held, at most {@link OBJECTS_KEPT} objects.
 */
export function objectCache(host: ObjectCacheHost): ObjectMemo {
  let kept: Entry[] | undefined;
  const pending: { bytes: Uint8Array; text: () => string | undefined }[] = [];
  const read = (): Entry[] => {
    if (kept !== undefined) return kept;
    const data = host.content;
    kept = data === undefined ? [] : entriesOf(data);
    if (kept === undefined) {
      host.trace?.("unreadable: parsing");
      kept = [];
    }
    return kept;
  };
  const writeAtExit = (): void => {
    const made: Entry[] = [];
    for (const { bytes, text } of pending) {
      const t = text();
      if (t !== undefined) made.push({ object: bytes, text: Buffer.from(t, "utf8") });
    }
    if (made.length === 0) return;
    const older = read().filter((e) => !made.some((m) => same(m.object, e.object)));
    const content = contentOf([...made, ...older].slice(0, OBJECTS_KEPT));
    // Read back as the next process will, which also has V8 compile that code before the host
    // writes its code cache (a code cache holds only what its process ran).
    const first = made[0] as Entry;
    const back = entriesOf(content);
    const again = back === undefined ? undefined : entryFor(back, first.object);
    if (again === undefined || textOf(again) !== textOf(first)) {
      host.trace?.("not written: the content does not read back");
      return;
    }
    host.write(content);
  };
  return {
    find(bytes) {
      const e = entryFor(read(), bytes);
      if (e === undefined) return undefined;
      host.trace?.(`hit (${bytes.byteLength} bytes)`);
      return { text: textOf(e), object: e.object };
    },
    remember(bytes, text) {
      if (bytes.byteLength > OBJECT_MAX_BYTES || pending.some((p) => same(p.bytes, bytes))) return;
      if (pending.length === 0) host.atExit(writeAtExit);
      pending.unshift({ bytes, text });
      if (pending.length > OBJECTS_KEPT) pending.pop();
    },
  };
}

// The bundle's wrapper (scripts/bundle.mjs) takes the host as a parameter of this name; in the
// module graph it is not declared, and `typeof` of it is "undefined".
declare const __tsbpfObjectCache: ObjectCacheHost | undefined;

/** The object cache of the host that loaded this bundle, or undefined (the module graph, no host). */
export const hostObjectCache: ObjectMemo | undefined =
  typeof __tsbpfObjectCache === "undefined" || __tsbpfObjectCache === undefined
    ? undefined
    : objectCache(__tsbpfObjectCache);
