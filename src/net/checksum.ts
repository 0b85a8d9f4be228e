/** The one's-complement sum of 16-bit big-endian words (odd trailing byte padded), not yet folded. */
export function onesSum(bytes: Uint8Array, initial = 0): number {
  let sum = initial;
  const n = bytes.length & ~1;
  for (let i = 0; i < n; i += 2) sum += ((bytes[i] as number) << 8) | (bytes[i + 1] as number);
  if (bytes.length & 1) sum += (bytes[bytes.length - 1] as number) << 8;
  // Fold often enough that the sum never loses precision on huge inputs.
  while (sum > 0xffff) sum = (sum & 0xffff) + Math.floor(sum / 0x10000);
  return sum;
}

/** The RFC 1071 Internet checksum of `bytes` (plus an unfolded `initial` sum, e.g. a pseudo-header). */
export function internetChecksum(bytes: Uint8Array, initial = 0): number {
  return ~onesSum(bytes, initial) & 0xffff;
}

/** The sum of the TCP/UDP/ICMPv6 pseudo-header for IPv4 (4-byte) or IPv6 (16-byte) addresses. */
export function pseudoHeaderSum(src: Uint8Array, dst: Uint8Array, protocol: number, length: number): number {
  let sum = onesSum(src) + onesSum(dst) + protocol;
  sum +=
    src.length === 16
      ? onesSum(Uint8Array.of(length >>> 24, (length >>> 16) & 0xff, (length >>> 8) & 0xff, length & 0xff))
      : length;
  return sum;
}
