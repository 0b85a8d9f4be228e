/** CLI entry: `main(argv)` returns the exit code; the bin shim only calls it. */
export async function main(argv: string[]): Promise<number> {
  process.stderr.write(`tsbpf: not implemented yet: ${argv.join(" ")}\n`);
  return 2;
}
