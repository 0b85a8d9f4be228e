/**
 * Reverse lookup for the ABI tables: from a number back to its name, for messages and output.
 * `prefix` is put back where the table's keys drop it (`BPF_`, `XDP_`).
 */
export function nameLookup(
  table: Readonly<Record<string, number>>,
  prefix = "",
): (n: number) => string | undefined {
  const names = new Map<number, string>(Object.entries(table).map(([k, v]) => [v, prefix + k]));
  return (n) => names.get(n);
}
