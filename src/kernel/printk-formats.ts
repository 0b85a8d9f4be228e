/**
 * The bpf_printk format strings a collection's programs can print, found statically, so that a
 * reader of the global trace pipe can keep the lines that are ours and drop other programs'.
 * clang loads the format with `lddw r1, <.rodata + off>` shortly before `call 6` (or 177), so
 * the last write to r1 before each call names the string.
 */
import { PRINTK_HELPERS } from "../abi/helper-id.js";
import { helperCalled } from "../asm/instruction.js";
import { CALL, Class, classOf, LDDW } from "../asm/opcodes.js";
import type { CollectionSpec, ProgramSpec } from "../object/types.js";

/** Whether `insn` writes register `reg` (loads, ALU results, and calls that clobber r0-r5). */
function writes(opcode: number, dst: number, reg: number): boolean {
  const cls = classOf(opcode);
  if (opcode === CALL) return reg <= 5;
  if (cls === Class.LD || cls === Class.LDX || cls === Class.ALU || cls === Class.ALU64) return dst === reg;
  return false;
}

function cString(data: Uint8Array, off: number): string | undefined {
  if (off < 0 || off >= data.byteLength) return undefined;
  const end = data.indexOf(0, off);
  return new TextDecoder().decode(data.subarray(off, end < 0 ? data.byteLength : end));
}

/** The format of each printk call in `p`, or `undefined` for a call whose format is not a constant. */
export function printkFormatsOf(spec: CollectionSpec, p: ProgramSpec): (string | undefined)[] {
  const out: (string | undefined)[] = [];
  const refAt = new Map(p.references.map((r) => [r.insn, r]));
  p.instructions.forEach((insn, i) => {
    const helper = helperCalled(insn);
    if (helper === undefined || !PRINTK_HELPERS.has(helper)) return;
    let fmt: string | undefined;
    for (let j = i - 1; j >= 0; j--) {
      const w = p.instructions[j];
      if (w === undefined || !writes(w.opcode, w.dst, 1)) continue;
      const ref = refAt.get(j);
      if (w.opcode === LDDW && ref?.kind === "map_value") {
        const m = spec.maps[ref.map];
        if (m?.readOnly === true && m.initialData !== undefined) fmt = cString(m.initialData, ref.offset);
      }
      break;
    }
    out.push(fmt);
  });
  return out;
}

/**
 * A regular expression for the messages a printk format can produce: the literal text exactly,
 * each conversion as any text. `%%` stands for `%`.
 */
export function formatPattern(fmt: string): RegExp {
  let re = "";
  const conv = /%(%|[-+ 0]*\d*(?:ll|l|h|hh)?[diuxXcs]|[-+ 0]*\d*p[a-zA-Z0-9]*)/y;
  let i = 0;
  while (i < fmt.length) {
    if (fmt[i] === "%") {
      conv.lastIndex = i;
      const m = conv.exec(fmt);
      if (m !== null) {
        re += m[1] === "%" ? "%" : "[\\s\\S]*?";
        i += m[0].length;
        continue;
      }
    }
    re += (fmt[i] as string).replace(/[.*+?^${}()|[\]\\/]/g, "\\$&");
    i++;
  }
  return new RegExp(`^${re}\\n?$`);
}

/**
 * A predicate that says whether a trace message came from one of the collection's formats;
 * `undefined` when some call's format is unknown (then nothing can be filtered safely).
 */
export function ownMessageFilter(spec: CollectionSpec): ((message: string) => boolean) | undefined {
  const patterns: RegExp[] = [];
  for (const p of Object.values(spec.programs)) {
    for (const f of printkFormatsOf(spec, p)) {
      if (f === undefined) return undefined;
      patterns.push(formatPattern(f));
    }
  }
  return (message) => patterns.some((re) => re.test(message));
}
