/**
 * `a` sorted in place by `cmp`, as `a.sort(cmp)` does, but only when it is not in order already.
 * The lists a loader sorts (functions, references, func and line info, section variables) come
 * out of clang in order; the check is one pass, whereas `Array.prototype.sort` costs tens of
 * microseconds on its first use in a process, which every cold load pays. Same result: the sort
 * is stable, so a list already in order is left as it is either way.
 */
export function sortedInPlace<T>(a: T[], cmp: (x: T, y: T) => number): T[] {
  for (let i = 1; i < a.length; i++) {
    if (cmp(a[i - 1] as T, a[i] as T) > 0) return a.sort(cmp);
  }
  return a;
}
