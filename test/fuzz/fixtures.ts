import { readdirSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";

/** Where fuzzing findings are kept as regression inputs. */
export const REGRESSION_DIR = join("test", "fuzz", "regressions");

/** One stored finding: what kind of input, the input and packet bytes, and why it was kept. */
export interface RegressionCase {
  file: string;
  kind: "object" | "bytecode";
  input: Uint8Array;
  packet: Uint8Array;
  note: string;
}

/**
 * Reads every `*.hex` fixture: `kind:`, `packet:` and `input:` lines (hex, whitespace allowed
 * across continuation lines that start with a space), `#` comment lines.
 */
export function readRegressions(dir = REGRESSION_DIR): RegressionCase[] {
  let names: string[] = [];
  try {
    names = readdirSync(dir).filter((n) => n.endsWith(".hex"));
  } catch {
    return [];
  }
  return names.sort().map((n) => {
    const text = readFileSync(join(dir, n), "utf8");
    const fields: Record<string, string> = {};
    let last = "";
    const notes: string[] = [];
    for (const line of text.split("\n")) {
      if (line.startsWith("#")) notes.push(line.slice(1).trim());
      else if (/^\s/.test(line) && last !== "") fields[last] += line.trim();
      else {
        const m = /^(\w+):\s*(.*)$/.exec(line);
        if (m !== null) {
          last = m[1] as string;
          fields[last] = (m[2] as string).trim();
        }
      }
    }
    const hex = (s: string | undefined) => Uint8Array.from(Buffer.from((s ?? "").replace(/\s+/g, ""), "hex"));
    const kind = fields.kind === "bytecode" ? "bytecode" : "object";
    return { file: n, kind, input: hex(fields.input), packet: hex(fields.packet), note: notes.join(" ") };
  });
}

/** Writes a finding as `name.hex`, the input wrapped at 64 bytes a line. */
export function writeRegression(name: string, c: Omit<RegressionCase, "file">, dir = REGRESSION_DIR): string {
  const wrap = (b: Uint8Array) =>
    (
      Buffer.from(b)
        .toString("hex")
        .match(/.{1,128}/g) ?? [""]
    ).join("\n ");
  const text = `# ${c.note}\nkind: ${c.kind}\npacket: ${Buffer.from(c.packet).toString("hex")}\ninput: ${wrap(c.input)}\n`;
  const path = join(dir, `${name}.hex`);
  writeFileSync(path, text);
  return path;
}
