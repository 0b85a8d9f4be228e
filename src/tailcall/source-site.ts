import { enclosingSourceLocationAt, functionAt } from "../object/insn-location.js";
import type { ProgramSpec } from "../object/types.js";
import type { SourceSite } from "./plan.js";

/**
 * Where instruction `insn` of `program` comes from in the C source, as `check` and `graph` report
 * it: the object model's line for it (a call clang merged from several branches, at line 0,
 * takes the statement before it), with the file's base name, as compilers print diagnostics.
 */
export function sourceSite(program: ProgramSpec, insn: number): SourceSite {
  const at = enclosingSourceLocationAt(program.lineInfo, insn, functionAt(program, insn)?.start ?? 0);
  return { insn, file: at?.file.replace(/^.*\//, ""), line: at?.line };
}
