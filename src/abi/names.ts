/**
 * Reverse lookup for the ABI tables: from a number back to its name, for messages and output.
 * `prefix` is put back where the table's keys drop it (`BPF_`, `XDP_`).
 */
export function nameLookup(
  table: Readonly<Record<string, number>>,
  prefix = "",
): (n: number) => string | undefined {
  // Built on the first lookup, which most processes never make (names are for messages): nine
  // tables' maps cost a command's start-up about 0.5 ms when Node runs cold (issue 14).
  let names: Map<number, string> | undefined;
  return (n) => {
    names ??= new Map(Object.entries(table).map(([k, v]) => [v, prefix + k]));
    return names.get(n);
  };
}
