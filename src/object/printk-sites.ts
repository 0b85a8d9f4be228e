/**
 * Where each bpf_printk call of a program takes its format from, found statically: clang loads
 * the format with `lddw r1, <.rodata + off>` shortly before `call 6` (or 177), so the last write
 * to r1 before each call names it. The kernel engine's trace filter (kernel/printk-formats.ts)
 * reads the strings there; a prepared spec carries these sites (object/prepared-spec.ts).
 */
import { PRINTK_HELPERS } from "../abi/helper-id.js";
import { helperCalled } from "../asm/instruction.js";
import { CALL, Class, classOf, LDDW } from "../asm/opcodes.js";
import type { ProgramSpec } from "./types.js";

/** A printk call's format: `offset` bytes into the value of global data map `map`. */
export interface PrintkSite {
  map: string;
  offset: number;
}

/** Whether `insn` writes register `reg` (loads, ALU results, and calls that clobber r0-r5). */
function writes(opcode: number, dst: number, reg: number): boolean {
  const cls = classOf(opcode);
  if (opcode === CALL) return reg <= 5;
  if (cls === Class.LD || cls === Class.LDX || cls === Class.ALU || cls === Class.ALU64) return dst === reg;
  return false;
}

/**
 * The format of each printk call of `p`, in order: where it is, or undefined for a call whose
 * format is not a global data value loaded right before it.
 */
export function printkSites(p: Pick<ProgramSpec, "instructions" | "references">): (PrintkSite | undefined)[] {
  const out: (PrintkSite | undefined)[] = [];
  const refAt = new Map(p.references.map((r) => [r.insn, r]));
  const insns = p.instructions;
  for (let i = 0; i < insns.length; i++) {
    const helper = helperCalled(insns[i] as (typeof insns)[number]);
    if (helper === undefined || !PRINTK_HELPERS.has(helper)) continue;
    let site: PrintkSite | undefined;
    for (let j = i - 1; j >= 0; j--) {
      const w = insns[j];
      if (w === undefined || !writes(w.opcode, w.dst, 1)) continue;
      const ref = refAt.get(j);
      if (w.opcode === LDDW && ref?.kind === "map_value") site = { map: ref.map, offset: ref.offset };
      break;
    }
    out.push(site);
  }
  return out;
}
