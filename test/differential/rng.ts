/**
 * A seeded random source for the differential runner and the fuzzers: the same seed gives the
 * same packets, programs and mutations, so any mismatch or finding can be replayed exactly.
 */
export class Rng {
  private s: number;
  constructor(seed: number) {
    this.s = seed >>> 0 || 0x9e3779b9;
  }

  /** mulberry32: 32 random bits. */
  u32(): number {
    this.s = (this.s + 0x6d2b79f5) >>> 0;
    let t = this.s;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return (t ^ (t >>> 14)) >>> 0;
  }

  /** An integer in [0, n). */
  int(n: number): number {
    return n <= 0 ? 0 : Math.floor((this.u32() / 0x1_0000_0000) * n);
  }

  /** An integer in [lo, hi]. */
  range(lo: number, hi: number): number {
    return lo + this.int(hi - lo + 1);
  }

  /** True with probability p. */
  chance(p: number): boolean {
    return this.u32() / 0x1_0000_0000 < p;
  }

  /** One element of a non-empty list. */
  pick<T>(xs: readonly T[]): T {
    return xs[this.int(xs.length)] as T;
  }

  /** `n` random bytes. */
  bytes(n: number): Uint8Array {
    const out = new Uint8Array(n);
    for (let i = 0; i < n; i++) out[i] = this.u32() & 0xff;
    return out;
  }

  /** A signed 32-bit value biased toward the edges (0, ±1, limits) where arithmetic bugs live. */
  edgyI32(): number {
    switch (this.int(6)) {
      case 0:
        return this.pick([0, 1, -1, 0x7fffffff, -0x80000000, 0x80, 0xff, 0xffff, 63, 64, 32]);
      case 1:
        return this.range(-16, 16);
      default:
        return this.u32() | 0;
    }
  }

  /** A u64 biased toward the edges. */
  edgyU64(): bigint {
    switch (this.int(5)) {
      case 0:
        return this.pick([
          0n,
          1n,
          0xffff_ffff_ffff_ffffn,
          0x8000_0000_0000_0000n,
          0x7fff_ffff_ffff_ffffn,
          0xffff_ffffn,
        ]);
      case 1:
        return BigInt(this.edgyI32()) & 0xffff_ffff_ffff_ffffn;
      default:
        return (BigInt(this.u32()) << 32n) | BigInt(this.u32());
    }
  }
}
