/** Small timing utilities shared by the benchmark parts. */

/** Median of a non-empty list (the mean of the middle two for an even count). */
export function median(xs: readonly number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  const n = s.length;
  if (n === 0) return Number.NaN;
  const m = n >> 1;
  return n % 2 === 1 ? (s[m] as number) : ((s[m - 1] as number) + (s[m] as number)) / 2;
}

/** Smallest value of a non-empty list. */
export function min(xs: readonly number[]): number {
  return xs.reduce((a, b) => Math.min(a, b), Number.POSITIVE_INFINITY);
}

/** Monotonic nanoseconds as a number (exact well past a year of uptime). */
export function nowNs(): number {
  return Number(process.hrtime.bigint());
}

/** Rounds for display: 3 significant digits, no exponent. */
export function fmt(x: number | undefined): string {
  if (x === undefined || !Number.isFinite(x)) return "-";
  if (x >= 100) return x.toFixed(0);
  if (x >= 10) return x.toFixed(1);
  return x.toFixed(2);
}

/** `a / b` formatted as a ratio ("12.3×"), or "-" when either side is missing. */
export function ratio(a: number | undefined, b: number | undefined): string {
  if (a === undefined || b === undefined || !(b > 0)) return "-";
  return `${fmt(a / b)}×`;
}
