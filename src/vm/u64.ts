/**
 * 64-bit integer helpers over (hi, lo) pairs of signed 32-bit words. The interpreter keeps every
 * register as two Int32 halves so that no operation allocates; these helpers convert at the edges
 * and cover the few operations too long to inline by hand.
 */

/** Converts a u64 (or any bigint, taken modulo 2^64) to its low word, as a signed int32. */
export function loOf(v: bigint): number {
  return Number(BigInt.asIntN(32, v));
}

/** Converts a u64 (or any bigint, taken modulo 2^64) to its high word, as a signed int32. */
export function hiOf(v: bigint): number {
  return Number(BigInt.asIntN(32, v >> 32n));
}

/** Joins two words into an unsigned 64-bit bigint. */
export function toU64(hi: number, lo: number): bigint {
  return (BigInt(hi >>> 0) << 32n) | BigInt(lo >>> 0);
}

/** Joins two words into a signed 64-bit bigint. */
export function toI64(hi: number, lo: number): bigint {
  return (BigInt(hi | 0) << 32n) | BigInt(lo >>> 0);
}

/**
 * High 32 bits of the unsigned 64-bit product of two u32 values. Split into 16-bit limbs so every
 * partial product stays exact in a double.
 */
export function mulHiU32(a: number, b: number): number {
  const a0 = a & 0xffff;
  const a1 = a >>> 16;
  const b0 = b & 0xffff;
  const b1 = b >>> 16;
  const p01 = a0 * b1;
  const p10 = a1 * b0;
  const mid = ((a0 * b0) >>> 16) + (p01 & 0xffff) + (p10 & 0xffff);
  return (a1 * b1 + (p01 >>> 16) + (p10 >>> 16) + Math.floor(mid / 0x10000)) | 0;
}

/** Reverses the bytes of a 32-bit word. */
export function bswap32(x: number): number {
  return ((x & 0xff) << 24) | ((x & 0xff00) << 8) | ((x >>> 8) & 0xff00) | (x >>> 24);
}

/** Reverses the bytes of the low 16 bits; the result is zero-extended. */
export function bswap16(x: number): number {
  return ((x & 0xff) << 8) | ((x >>> 8) & 0xff);
}
