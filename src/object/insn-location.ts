import type { FunctionSpan, LineInfo, ProgramSpec, TailCallSite } from "./types.js";

/**
 * Where an instruction of a linked program comes from: its function, the function a call at it
 * enters, and its C source line from BTF line info. The disassembler, the tail-call analysis, the
 * VM's faults and the verifier's messages all ask these questions; they are answered once, here.
 */

/** A C source position from BTF line info, as {@link TailCallSite.source} carries it. */
export type SourceLocation = NonNullable<TailCallSite["source"]>;

/**
 * The line_info record covering instruction `insn`: the last one starting at or before it (the
 * records describe the instructions from theirs up to the next record's).
 */
export function sourceLineAt(lines: readonly LineInfo[], insn: number): LineInfo | undefined {
  let best: LineInfo | undefined;
  for (const l of lines) if (l.insn <= insn && (best === undefined || l.insn >= best.insn)) best = l;
  return best;
}

/**
 * The C source position of instruction `insn`, when the object's line info gives one. A record
 * with line 0 gives none: as in DWARF, it marks code the compiler made without a single source
 * line (clang merges identical `bpf_tail_call`s from several lines into one call at line 0).
 */
export function sourceLocationAt(lines: readonly LineInfo[], insn: number): SourceLocation | undefined {
  const l = sourceLineAt(lines, insn);
  if (l === undefined || l.lineNumber === 0) return undefined;
  return { file: l.fileName, line: l.lineNumber, column: l.column, text: l.line.trim() };
}

/**
 * The C source position a call site belongs to: {@link sourceLocationAt}, or, where clang merged
 * calls from several lines into one (a line-0 record), the last real line before it in the same
 * function — the statement the merged calls come from (the seed's `switch`, for its two
 * `bpf_tail_call`s). Never a line of another function: `undefined` when none precedes it there.
 */
export function enclosingSourceLocationAt(
  lines: readonly LineInfo[],
  insn: number,
  functionStart: number,
): SourceLocation | undefined {
  let best: LineInfo | undefined;
  for (const l of lines) {
    if (l.lineNumber === 0 || l.insn < functionStart || l.insn > insn) continue;
    if (best === undefined || l.insn >= best.insn) best = l;
  }
  return best === undefined
    ? undefined
    : { file: best.fileName, line: best.lineNumber, column: best.column, text: best.line.trim() };
}

/** `tail_call.bpf.c:63`: the file's base name and the line, as messages and listings show it. */
export function formatSourceLocation(s: Pick<SourceLocation, "file" | "line">): string {
  return `${s.file.replace(/^.*\//, "")}:${s.line}`;
}

/** The function of `p` that instruction `insn` belongs to. */
export function functionAt(p: Pick<ProgramSpec, "functions">, insn: number): FunctionSpan | undefined {
  return p.functions.find((f) => insn >= f.start && insn < f.end);
}

/**
 * A namer for bpf-to-bpf call targets (the disassembler's `calleeFor`): the function of `p` that
 * starts at the target slot, or undefined for a target that starts none.
 */
export function calleeNamer(p: Pick<ProgramSpec, "functions">): (target: number) => string | undefined {
  const byStart = new Map(p.functions.map((f) => [f.start, f.name]));
  return (target) => byStart.get(target);
}
