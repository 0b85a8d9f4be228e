import { disassemble } from "../asm/disasm.js";
import { decodeInstructions, type Instruction } from "../asm/instruction.js";
import { LDDW } from "../asm/opcodes.js";
import { type ElfFile, parseElf, SymbolType } from "../elf/index.js";
import { UsageError } from "../errors.js";
import { calleeNamer, functionAt } from "../object/insn-location.js";
import type { ProgramSpec } from "../object/types.js";
import { type Command, parseCommandArgs, usage } from "./args.js";
import { readObject } from "./load-object.js";

const HELP = `usage: tsbpf disasm OBJ [--prog NAME]

Prints each program's linked instructions as '<index>: <text>', in llvm-objdump's syntax, with the
C source line from BTF line info above the instructions it produced. A bpf-to-bpf call names the
function it enters ('call 4 <add_len>'); a map reference names the map ('r1 = 0 ll # counters').`;

/** `tsbpf disasm OBJ [--prog NAME]`. */
export const disasmCommand: Command = async (args, io) => {
  const { values, positionals } = parseCommandArgs("disasm", args, {
    prog: { type: "string" },
    help: { type: "boolean", short: "h" },
  });
  if (values.help) {
    io.stdout(`${HELP}\n`);
    return 0;
  }
  if (positionals.length > 1) usage(`disasm: one object file expected, got ${positionals.length}`);
  const { spec, bytes } = await readObject(positionals[0], "disasm");
  const elf = parseElf(bytes);
  let programs = Object.values(spec.programs);
  if (values.prog !== undefined) {
    const p = spec.programs[values.prog];
    if (p === undefined) {
      throw new UsageError(`disasm: no program named '${values.prog}'`, {
        hint: `programs: ${programs.map((x) => x.name).join(", ") || "(none)"}`,
      });
    }
    programs = [p];
  }
  const blocks = programs.map((p) => disassembleWithSource(p, elf));
  io.stdout(blocks.map((b) => b.join("\n")).join("\n\n") + (blocks.length ? "\n" : ""));
  return 0;
};

/**
 * Resolves jump labels the way llvm-objdump does: the last symbol (by address, then name) at or
 * before the target in the function's own section (`LBB0_9`), with `+0x<off>` when past it.
 */
function labeler(p: ProgramSpec, elf: ElfFile): (target: number) => string | undefined {
  const funcs = p.functions.map((f) => {
    const sym = elf.symbols.find((s) => s.name === f.name && s.type === SymbolType.FUNC);
    const labels =
      sym === undefined
        ? []
        : elf.symbols
            .filter(
              (s) =>
                s.section === sym.section &&
                s.name !== "" &&
                s.type !== SymbolType.SECTION &&
                s.type !== SymbolType.FILE,
            )
            .sort((a, b) => a.value - b.value || (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
    return { span: f, sym, labels };
  });
  return (target) => {
    const fn = funcs.find((f) => target >= f.span.start && target < f.span.end);
    if (fn === undefined || fn.sym === undefined) return undefined;
    const off = fn.sym.value + (target - fn.span.start) * 8;
    let best: { name: string; value: number } | undefined;
    for (const s of fn.labels) if (s.value <= off) best = s;
    if (best === undefined) return undefined;
    return best.value === off ? best.name : `${best.name}+0x${(off - best.value).toString(16)}`;
  };
}

/** The instruction at linked index `i` as the object file holds it, before relocation. */
function originalInsn(p: ProgramSpec, elf: ElfFile): (i: number) => Instruction | undefined {
  return (i) => {
    const f = functionAt(p, i);
    const sym = f && elf.symbols.find((s) => s.name === f.name && s.type === SymbolType.FUNC);
    const sec = sym && elf.sections[sym.section];
    if (f === undefined || sym === undefined || sec === undefined) return undefined;
    const at = sym.value + (i - f.start) * 8;
    if (at < 0 || at + 16 > sec.data.length) return undefined;
    return decodeInstructions(sec.data.subarray(at, at + 16), elf.littleEndian)[0];
  };
}

/** The lines of one program: a header, then source lines and `<index>: <text>` lines. */
export function disassembleWithSource(p: ProgramSpec, elf: ElfFile | undefined): string[] {
  const refs = new Map(p.references.map((r) => [r.insn, r]));
  const lines = new Map<number, string[]>();
  for (const li of p.lineInfo) {
    const text = li.line.trim();
    if (text === "") continue;
    const at = lines.get(li.insn) ?? [];
    if (at[at.length - 1] !== text) at.push(text);
    lines.set(li.insn, at);
  }
  const fnStarts = new Map(p.functions.map((f) => [f.start, f]));
  const labelFor = elf === undefined ? undefined : labeler(p, elf);
  const calleeFor = calleeNamer(p);
  const original = elf === undefined ? undefined : originalInsn(p, elf);
  const out = [`${p.name} (section ${p.section}, ${p.instructions.length} instructions):`];
  let lastSource = "";
  for (let i = 0; i < p.instructions.length; i++) {
    const insn = p.instructions[i];
    if (insn === undefined) break;
    const fn = fnStarts.get(i);
    if (fn !== undefined && i > 0) out.push(`${fn.name}:`);
    for (const s of lines.get(i) ?? []) {
      if (s !== lastSource) out.push(`; ${s}`);
      lastSource = s;
    }
    // A relocated lddw is shown as the object holds it, as llvm-objdump prints it, with the map
    // (and the offset into its value) named after ` #`.
    const ref = refs.get(i);
    const shown = insn.opcode === LDDW && insn.src !== 0 ? (original?.(i) ?? insn) : insn;
    let text = disassemble(shown, i, { calleeFor, ...(labelFor ? { labelFor } : {}) });
    if (ref !== undefined) text += ` # ${ref.map}${ref.offset ? `+${ref.offset}` : ""}`;
    out.push(`${i}: ${text}`);
    if (insn.opcode === LDDW) i++;
  }
  return out;
}
