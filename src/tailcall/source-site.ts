import { enclosingSourceLocationAt, functionAt } from "../object/insn-location.js";
import type { ProgramSpec, TailCallSite } from "../object/types.js";
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

/**
 * {@link sourceSite} of a tail-call site's own instruction, from the line the analysis gave the
 * site (the same line, found the same way): a spec opened from a prepared text carries its sites,
 * and reading its line info instead would decode the whole object (issue 14).
 */
export function tailCallSourceSite(site: TailCallSite): SourceSite {
  return { insn: site.insn, file: site.source?.file.replace(/^.*\//, ""), line: site.source?.line };
}
