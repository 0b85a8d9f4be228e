import type { ErrorContext } from "../errors.js";
import { asciiText, ByteReader } from "./bytes.js";

/**
 * A section of NUL-terminated strings (ELF section and symbol names, BTF names). clang's names
 * are plain ASCII, so the table is decoded once and each name is a slice of it, which matters
 * when Node runs cold; a table with other bytes is decoded name by name, as ByteReader does.
 */
export class StringTable {
  readonly #r: ByteReader;
  #text: string | null | undefined;

  /** `ctx` and `baseOffset` place errors in the file, as for a ByteReader. */
  constructor(bytes: Uint8Array, ctx: ErrorContext, baseOffset: number) {
    this.#r = new ByteReader(bytes, true, ctx, baseOffset);
  }

  /** The NUL-terminated string at `off`, with the same checks as ByteReader.cstring. */
  at(off: number, what: string): string {
    return this.tryAt(off) ?? this.#r.cstring(off, what);
  }

  /**
   * The string at `off` when the table is ASCII and `off` starts a terminated string in it, else
   * `undefined` (then {@link at} decodes it or raises the error). Callers with many names use it
   * first, so that the text naming each one in errors is built only when needed.
   */
  tryAt(off: number): string | undefined {
    if (this.#text === undefined) this.#text = asciiText(this.#r.bytes);
    const t = this.#text;
    if (t === null || !Number.isInteger(off) || off < 0 || off > t.length) return undefined;
    const end = t.indexOf("\0", off);
    return end < 0 ? undefined : t.slice(off, end);
  }
}
