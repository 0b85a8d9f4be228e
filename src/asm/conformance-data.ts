/**
 * Reader for the `.data` test files of the bpf_conformance suite: `-- asm`, `-- raw`, `-- mem`,
 * `-- result` and `-- error` sections, `#` comments. tsbpf's conformance runner and the VM tests
 * use it; it only splits and decodes the file, assembling is {@link assemble}'s job.
 */
import { ParseError } from "../errors.js";

/** The sections of one conformance test file. */
export interface ConformanceData {
  /** The `-- asm` text (comments removed), for {@link assemble}. */
  asm?: string;
  /** The `-- raw` program bytes; the suite prefers them over `asm` when both are present. */
  raw?: Uint8Array;
  /** The `-- mem` bytes: the memory the program gets in r1 (empty when absent). */
  mem: Uint8Array;
  /** The `-- result` value of r0, as an unsigned 64-bit number. */
  result?: bigint;
  /** The `-- error` text: the program must fail (the text may be empty). */
  error?: string;
}

type Section = "asm" | "raw" | "mem" | "result" | "error" | "ignored";

const SECTIONS: Record<string, Section> = {
  asm: "asm",
  raw: "raw",
  mem: "mem",
  result: "result",
  error: "error",
  // C source of a test and a note for runtimes without register offsets; neither is needed to run it.
  c: "ignored",
  "no register offset": "ignored",
};

/**
 * Splits a `.data` file into its sections. Raw programs are accepted as one little-endian `0x`
 * u64 per instruction (the suite's format) or as two-digit hex bytes. Unknown `-- x` directives,
 * bad hex and bad numbers raise a {@link ParseError} naming the line.
 */
export function parseConformanceData(text: string): ConformanceData {
  const buf: Record<Exclude<Section, "ignored">, string[] | undefined> = {
    asm: undefined,
    raw: undefined,
    mem: undefined,
    result: undefined,
    error: undefined,
  };
  const lines: Record<Exclude<Section, "ignored">, number[]> = {
    asm: [],
    raw: [],
    mem: [],
    result: [],
    error: [],
  };
  let section: Section = "ignored";
  const rows = text.split(/\r?\n/);
  for (let i = 0; i < rows.length; i++) {
    const line = (rows[i] as string).replace(/#.*$/, "").trimEnd();
    const directive = /^--\s*(.*?)\s*$/.exec(line);
    if (directive) {
      const name = directive[1] as string;
      const s = SECTIONS[name];
      if (s === undefined) {
        throw new ParseError(`conformance data line ${i + 1}: unknown directive "-- ${name}"`, {
          hint: `known sections: ${Object.keys(SECTIONS).join(", ")}`,
        });
      }
      section = s;
      if (s !== "ignored") buf[s] ??= [];
      continue;
    }
    if (section === "ignored") continue;
    (buf[section] as string[]).push(line);
    lines[section].push(i + 1);
  }

  const out: ConformanceData = { mem: new Uint8Array(0) };
  if (buf.asm) out.asm = buf.asm.join("\n");
  if (buf.raw) out.raw = decodeRaw(buf.raw, lines.raw);
  if (buf.mem) out.mem = decodeBytes(buf.mem, lines.mem, "mem");
  if (buf.result) {
    const values = buf.result.map((l) => l.trim()).filter((l) => l !== "");
    const last = values[values.length - 1];
    if (last !== undefined) out.result = parseResult(last, lines.result[buf.result.lastIndexOf(last)] ?? 0);
  }
  if (buf.error)
    out.error = buf.error
      .map((l) => l.trim())
      .filter((l) => l !== "")
      .join("\n");
  return out;
}

function parseResult(text: string, line: number): bigint {
  const m = /^(-?)(0x[0-9a-fA-F]+|\d+)$/.exec(text);
  if (!m) throw new ParseError(`conformance data line ${line}: invalid result "${text}"`);
  const v = BigInt(m[2] as string);
  if (v > 0xffff_ffff_ffff_ffffn)
    throw new ParseError(`conformance data line ${line}: result ${text} exceeds 64 bits`);
  return BigInt.asUintN(64, m[1] === "-" ? -v : v);
}

function decodeBytes(rows: string[], lineNos: number[], what: string): Uint8Array {
  const bytes: number[] = [];
  rows.forEach((row, k) => {
    for (const tok of row.trim().split(/\s+/)) {
      if (tok === "") continue;
      if (!/^[0-9a-fA-F]{1,2}$/.test(tok)) {
        throw new ParseError(`conformance data line ${lineNos[k]}: invalid ${what} byte "${tok}"`);
      }
      bytes.push(Number.parseInt(tok, 16));
    }
  });
  return Uint8Array.from(bytes);
}

function decodeRaw(rows: string[], lineNos: number[]): Uint8Array {
  const out: number[] = [];
  rows.forEach((row, k) => {
    for (const tok of row.trim().split(/\s+/)) {
      if (tok === "") continue;
      if (/^0x[0-9a-fA-F]{1,16}$/.test(tok)) {
        let v = BigInt(tok);
        for (let b = 0; b < 8; b++) {
          out.push(Number(v & 0xffn));
          v >>= 8n;
        }
      } else if (/^[0-9a-fA-F]{2}$/.test(tok)) {
        out.push(Number.parseInt(tok, 16));
      } else {
        throw new ParseError(`conformance data line ${lineNos[k]}: invalid raw instruction "${tok}"`, {
          hint: "write one 0x-prefixed 64-bit instruction or two-digit hex bytes",
        });
      }
    }
  });
  if (out.length % 8 !== 0) {
    throw new ParseError(`conformance data: raw program is ${out.length} bytes, not a multiple of 8`);
  }
  return Uint8Array.from(out);
}
