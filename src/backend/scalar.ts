/**
 * Integers to and from the bytes of a map key or value, in the object's byte order. Shared by
 * the map front (user space) and the VM (helpers and fd slots), so both encode alike.
 */
import { UsageError } from "../errors.js";

/**
 * Encodes an integer into `size` bytes. Negative values are stored in two's complement; a value
 * that does not fit is refused (naming `what`) rather than truncated.
 */
export function encodeScalar(
  x: number | bigint,
  size: number,
  littleEndian: boolean,
  what = "value",
): Uint8Array {
  if (typeof x !== "number" && typeof x !== "bigint") {
    throw new UsageError(`${what} is a ${typeof x}, not an integer or bytes`);
  }
  if (typeof x === "number" && !Number.isSafeInteger(x)) {
    throw new UsageError(`${what} ${x} is not an integer`, { hint: "use a bigint for 64-bit values" });
  }
  // Numbers into up to 6 bytes (keys, indices, fds) in exact double arithmetic: the BigInt way
  // allocates a dozen BigInts per value, on paths (filling prog-array slots) that run cold.
  if (typeof x === "number" && size >= 1 && size <= 6) {
    const span = 2 ** (size * 8);
    if (x < -span / 2 || x >= span) throw tooWide(x, size, what);
    let n = x < 0 ? x + span : x;
    const out = new Uint8Array(size);
    for (let i = 0; i < size; i++) {
      out[littleEndian ? i : size - 1 - i] = n % 256;
      n = Math.floor(n / 256);
    }
    return out;
  }
  let v = BigInt(x);
  const bits = BigInt(size * 8);
  if (size === 0 || size > 8 || v < -(1n << (bits - 1n)) || v >= 1n << bits) {
    throw tooWide(x, size, what);
  }
  if (v < 0n) v += 1n << bits;
  const out = new Uint8Array(size);
  for (let i = 0; i < size; i++) {
    out[littleEndian ? i : size - 1 - i] = Number(v & 0xffn);
    v >>= 8n;
  }
  return out;
}

/** The refusal of a value that does not fit in `size` bytes (either way of encoding it). */
function tooWide(x: number | bigint, size: number, what: string): UsageError {
  return new UsageError(`${what} ${x} does not fit in ${size} byte${size === 1 ? "" : "s"}`, {
    hint: "pass the bytes as a Uint8Array for keys or values wider than 8 bytes",
  });
}

/** Reads an unsigned integer of any width up to 6 bytes exactly (u32 indices, handles, fds). */
export function decodeUnsigned(b: Uint8Array, littleEndian: boolean): number {
  let v = 0;
  for (let i = 0; i < b.length; i++) {
    const byte = b[littleEndian ? b.length - 1 - i : i] as number;
    v = v * 256 + byte;
  }
  return v;
}

/** Short printable form of a key for messages: the integer for keys of 1–4 bytes, else hex. */
export function describeKey(key: Uint8Array, littleEndian: boolean): string {
  if (key.length >= 1 && key.length <= 4) return String(decodeUnsigned(key, littleEndian));
  let s = "0x";
  for (const b of key) s += b.toString(16).padStart(2, "0");
  return s;
}
