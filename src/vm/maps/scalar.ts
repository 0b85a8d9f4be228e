import { MapFailure, Errno } from "./errno.js";

/**
 * Encodes an integer into `size` bytes in the given byte order. Negative values are stored in
 * two's complement; values that do not fit fail with EINVAL rather than being truncated.
 */
export function encodeScalar(x: number | bigint, size: number, littleEndian: boolean): Uint8Array {
  if (typeof x !== "number" && typeof x !== "bigint") {
    throw new MapFailure(Errno.EINVAL, `${typeof x} is not an integer or bytes`);
  }
  if (typeof x === "number" && !Number.isSafeInteger(x)) {
    throw new MapFailure(Errno.EINVAL, `${x} is not a safe integer`);
  }
  let v = BigInt(x);
  const bits = BigInt(size * 8);
  const min = -(1n << (bits - 1n));
  const max = (1n << bits) - 1n;
  if (size === 0 || v < min || v > max) {
    throw new MapFailure(Errno.EINVAL, `${x} does not fit in ${size} byte${size === 1 ? "" : "s"}`);
  }
  if (v < 0n) v += 1n << bits;
  const out = new Uint8Array(size);
  for (let i = 0; i < size; i++) {
    out[littleEndian ? i : size - 1 - i] = Number(v & 0xffn);
    v >>= 8n;
  }
  return out;
}

/** Reads an unsigned little/big-endian integer of any width (used for u32 indices and handles). */
export function decodeUnsigned(b: Uint8Array, littleEndian: boolean): number {
  let v = 0;
  for (let i = 0; i < b.length; i++) {
    const byte = b[littleEndian ? b.length - 1 - i : i] as number;
    v = v * 256 + byte;
  }
  return v;
}

/** Short printable form of a key for messages: the integer for keys of 1–8 bytes, else hex. */
export function describeKey(key: Uint8Array, littleEndian: boolean): string {
  if (key.length >= 1 && key.length <= 4) return String(decodeUnsigned(key, littleEndian));
  let s = "0x";
  for (const b of key) s += b.toString(16).padStart(2, "0");
  return s;
}

/** A string usable as a JS Map key that is equal for equal byte sequences. */
export function keyString(key: Uint8Array): string {
  let s = "";
  for (let i = 0; i < key.length; i++) s += String.fromCharCode(key[i] as number);
  return s;
}
