import { disassemble } from "../asm/disasm.js";
import { LDDW } from "../asm/opcodes.js";
import { type ElfFile, parseElf, SymbolType } from "../elf/index.js";
import { UsageError } from "../errors.js";
import type { ProgramSpec } from "../object/types.js";
import { type Command, parseCommandArgs } from "./args.js";
import { readObject } from "./load-object.js";

const HELP = `usage: tsbpf disasm OBJ [--prog NAME]

Prints each program's linked instructions as '<index>: <text>', in llvm-objdump's syntax, with the
C source line from BTF line info above the instructions it produced.`;

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
 * Resolves jump labels the way llvm-objdump does: the symbol that sits at the target in the
 * original section (`LBB0_9`), else `function+0xoff`.
 */
function labeler(p: ProgramSpec, elf: ElfFile): (target: number) => string | undefined {
  const funcs = p.functions.map((f) => {
    const sym = elf.symbols.find((s) => s.name === f.name && s.type === SymbolType.FUNC);
    return { span: f, sym };
  });
  return (target) => {
    const fn = funcs.find((f) => target >= f.span.start && target < f.span.end);
    if (fn === undefined || fn.sym === undefined) return undefined;
    const off = fn.sym.value + (target - fn.span.start) * 8;
    const at = elf.symbols.find(
      (s) =>
        s.section === fn.sym?.section && s.value === off && s.name !== "" && s.type !== SymbolType.SECTION,
    );
    if (at !== undefined) return at.name;
    const rel = off - fn.sym.value;
    return rel === 0 ? fn.sym.name : `${fn.sym.name}+0x${rel.toString(16)}`;
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
    const opts = {
      ...(labelFor ? { labelFor } : {}),
      mapNameFor: (idx: number) => refs.get(idx)?.map,
    };
    // A relocated lddw is shown as the object holds it (`r1 = 30 ll`, the offset into the map
    // value), as llvm-objdump prints it, and the map named after ` #`.
    const ref = refs.get(i);
    const shown = ref === undefined ? insn : { ...insn, src: 0, imm: ref.offset, imm64: BigInt(ref.offset) };
    const text = disassemble(shown, i, opts);
    out.push(`${i}: ${text}`);
    if (insn.opcode === LDDW) i++;
  }
  return out;
}
