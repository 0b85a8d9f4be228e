import type { Finding } from "./plan.js";

/**
 * A finding as a compiler prints a diagnostic, so editors and people read it the same way:
 * `tail_call.bpf.c:52: warning: prog_array[1] is empty: packets to this site fall through [empty-slot]`.
 * `where` stands in for the source line when the finding has none (a name in the pipeline that
 * is not there, an object without BTF line info): the object or pipeline file.
 */
export function formatFinding(f: Finding, where: string): string {
  const place =
    f.site?.file !== undefined && f.site.line !== undefined ? `${f.site.file}:${f.site.line}` : where;
  return `${place}: ${f.severity}: ${f.message} [${f.code}]`;
}
