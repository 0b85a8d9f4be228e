import type { ProgramSpec } from "../object/types.js";
import type { SourceSite } from "./plan.js";

/**
 * Where instruction `insn` of `program` comes from in the C source, from BTF line info: the last
 * record at or before it that names a line (clang marks code it made up, such as a call merged
 * from several branches, with line 0; the line before is the one a programmer wrote). The file
 * is the source's base name, as compilers print it in diagnostics. One small function so the
 * line lookup can move to the object model in one place.
 */
export function sourceSite(program: ProgramSpec, insn: number): SourceSite {
  let best: ProgramSpec["lineInfo"][number] | undefined;
  for (const l of program.lineInfo) {
    if (l.insn <= insn && l.lineNumber > 0 && (best === undefined || l.insn >= best.insn)) best = l;
  }
  return {
    insn,
    file: best === undefined ? undefined : best.fileName.replace(/^.*\//, ""),
    line: best?.lineNumber,
  };
}
