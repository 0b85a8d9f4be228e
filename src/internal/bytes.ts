import { Buffer, isAscii } from "node:buffer";
import { ParseError, type ErrorContext } from "../errors.js";

/** Creates a DataView over exactly the bytes of `b`, even when `b` is a slice of a larger buffer. */
export function viewOf(b: Uint8Array): DataView {
  return new DataView(b.buffer, b.byteOffset, b.byteLength);
}

/**
 * Stores the 32-bit integer `v` (signed or not) at `off` of `b`, byte by byte: for the attr fields
 * and instruction immediates a load writes, where a DataView is the first of its process (tens of
 * microseconds here, cold) and makes V8 move a small array's bytes into an ArrayBuffer of their
 * own. Four stores, no loop: this runs interpreted, several times per bpf() call.
 */
export function putU32(b: Uint8Array, off: number, v: number, littleEndian: boolean): void {
  if (littleEndian) {
    b[off] = v;
    b[off + 1] = v >>> 8;
    b[off + 2] = v >>> 16;
    b[off + 3] = v >>> 24;
  } else {
    b[off] = v >>> 24;
    b[off + 1] = v >>> 16;
    b[off + 2] = v >>> 8;
    b[off + 3] = v;
  }
}

/** The 32-bit unsigned integer at `off` of `b`, read byte by byte (see {@link putU32}). */
export function getU32(b: Uint8Array, off: number, littleEndian: boolean): number {
  let v = 0;
  for (let i = 0; i < 4; i++) v = v * 256 + (b[littleEndian ? off + 3 - i : off + i] as number);
  return v;
}

/** Whether this machine stores integers little-endian first. */
export const HOST_LITTLE_ENDIAN = new Uint8Array(Uint16Array.of(1).buffer)[0] === 1;

/**
 * A bounds-checked little/big-endian reader. Every read past the end raises a {@link ParseError}
 * with the offending offset, so hostile input never surfaces as a RangeError from deep inside.
 */
export class ByteReader {
  readonly view: DataView;
  constructor(
    readonly bytes: Uint8Array,
    readonly littleEndian: boolean,
    readonly context: ErrorContext = {},
    /** Added to offsets in error messages, so they name the position in the whole file. */
    readonly baseOffset = 0,
  ) {
    this.view = viewOf(bytes);
  }

  get length(): number {
    return this.bytes.byteLength;
  }

  /** Throws unless `[off, off+len)` lies inside the buffer. */
  check(off: number, len: number, what: string): void {
    if (!Number.isInteger(off) || off < 0 || len < 0 || off + len > this.bytes.byteLength) {
      throw new ParseError(
        `${what}: ${len} bytes at offset ${off} run past the end (${this.bytes.byteLength} bytes)`,
        {
          ...this.context,
          offset: this.baseOffset + off,
        },
      );
    }
  }

  u8(off: number, what = "u8"): number {
    this.check(off, 1, what);
    return this.view.getUint8(off);
  }
  u16(off: number, what = "u16"): number {
    this.check(off, 2, what);
    return this.view.getUint16(off, this.littleEndian);
  }
  u32(off: number, what = "u32"): number {
    this.check(off, 4, what);
    return this.view.getUint32(off, this.littleEndian);
  }
  i32(off: number, what = "i32"): number {
    this.check(off, 4, what);
    return this.view.getInt32(off, this.littleEndian);
  }
  u64(off: number, what = "u64"): bigint {
    this.check(off, 8, what);
    return this.view.getBigUint64(off, this.littleEndian);
  }
  /** Reads a u64 that must fit a JS number (sizes and offsets); larger values are a parse error. */
  u64n(off: number, what = "u64"): number {
    const v = this.u64(off, what);
    if (v > BigInt(Number.MAX_SAFE_INTEGER)) {
      throw new ParseError(`${what}: value ${v} is too large`, {
        ...this.context,
        offset: this.baseOffset + off,
      });
    }
    return Number(v);
  }
  /** A sub-slice sharing memory; bounds-checked. */
  slice(off: number, len: number, what = "slice"): Uint8Array {
    this.check(off, len, what);
    return this.bytes.subarray(off, off + len);
  }
  /** A NUL-terminated string starting at `off`; the terminator must exist within the buffer. */
  cstring(off: number, what = "string"): string {
    this.check(off, 0, what);
    const end = this.bytes.indexOf(0, off);
    if (end < 0) {
      throw new ParseError(`${what}: string at offset ${off} is not NUL-terminated`, {
        ...this.context,
        offset: this.baseOffset + off,
      });
    }
    return latin1OrUtf8(this.bytes.subarray(off, end));
  }
}

const utf8 = new TextDecoder("utf-8", { fatal: false });

/**
 * `b` as a string when every byte is ASCII (what clang writes in string tables), else `null`.
 * Checked natively (node:buffer's isAscii) rather than with a regular expression over the text:
 * V8 compiles each regular expression on its first use, which every process pays cold.
 */
export function asciiText(b: Uint8Array): string | null {
  return isAscii(b) ? utf8.decode(b) : null;
}

/** Decodes bytes as UTF-8 (invalid sequences become U+FFFD rather than throwing). */
export function latin1OrUtf8(b: Uint8Array): string {
  return utf8.decode(b);
}

/** Lower-case hex of `b` with no separators. */
export function toHex(b: Uint8Array): string {
  let s = "";
  for (let i = 0; i < b.length; i++) s += (b[i] as number).toString(16).padStart(2, "0");
  return s;
}

/** Parses hex, ignoring whitespace; throws a ParseError on odd length or bad digits. */
export function fromHex(s: string, what = "hex"): Uint8Array {
  const clean = s.replace(/\s+/g, "");
  if (clean.length % 2 !== 0 || /[^0-9a-fA-F]/.test(clean)) {
    throw new ParseError(`${what}: not a hex string`);
  }
  const out = new Uint8Array(clean.length / 2);
  for (let i = 0; i < out.length; i++) out[i] = Number.parseInt(clean.slice(i * 2, i * 2 + 2), 16);
  return out;
}

/** Node's base64 decoder itself: `Buffer.from(s, "base64")` reaches it through JavaScript that a cold process compiles on first use. */
const base64Write = (
  Buffer.prototype as unknown as {
    base64Write(this: Uint8Array, s: string, offset: number, length: number): number;
  }
).base64Write;

/**
 * The bytes of the base64 text `s` in a Uint8Array of their own (not a pooled Buffer). A skeleton's
 * prepared spec and the object cache decode one when a program opens an object (issue 14).
 */
export function fromBase64(s: string): Uint8Array {
  if (s.length % 4 === 0) {
    const pad = s.endsWith("==") ? 2 : s.endsWith("=") ? 1 : 0;
    const out = new Uint8Array((s.length / 4) * 3 - pad);
    if (base64Write.call(out, s, 0, out.byteLength) === out.byteLength) return out;
  }
  // Unpadded, or with characters base64 does not have: Node's lenient decoding, as before.
  return new Uint8Array(Buffer.from(s, "base64"));
}
