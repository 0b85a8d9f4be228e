/**
 * Typed errors. Every error tsbpf raises is a {@link TsbpfError} carrying where it happened
 * (file, section, program, instruction, offset) and, when the cause is known, a hint.
 * Guards check `name` rather than `instanceof` so errors survive realm and bundle boundaries.
 */

/** Where an error happened; every field is optional because each layer knows a different part. */
export interface ErrorContext {
  /** The object file, as the user named it. */
  file?: string;
  /** ELF section name. */
  section?: string;
  /** Program name. */
  program?: string;
  /** Map name. */
  map?: string;
  /** Instruction index within the program (in 8-byte slots). */
  insn?: number;
  /** Byte offset within the file or section. */
  offset?: number;
}

/** Options accepted by every tsbpf error constructor. */
export interface TsbpfErrorOptions extends ErrorContext {
  cause?: unknown;
  hint?: string;
}

/** Base class of all tsbpf errors. */
export class TsbpfError extends Error {
  override name = "TsbpfError";
  readonly context: ErrorContext;
  readonly hint: string | undefined;
  /** The message as given, before the context suffix was appended. */
  readonly detail: string;

  constructor(message: string, opts: TsbpfErrorOptions = {}) {
    const { cause, hint, ...context } = opts;
    super(message + formatContext(context), cause === undefined ? undefined : { cause });
    this.detail = message;
    this.context = context;
    this.hint = hint;
  }

  /** Returns a copy of this error with more context filled in where it was missing. */
  withContext(extra: ErrorContext): this {
    const merged = { ...extra, ...this.context };
    const Ctor = this.constructor as new (m: string, o: TsbpfErrorOptions) => this;
    const opts: TsbpfErrorOptions = { ...merged };
    if (this.cause !== undefined) opts.cause = this.cause;
    if (this.hint !== undefined) opts.hint = this.hint;
    const e = new Ctor(this.detail, opts);
    copyExtraFields(this, e);
    return e;
  }
}

function copyExtraFields(from: object, to: object): void {
  for (const [k, v] of Object.entries(from)) {
    if (k === "context" || k === "hint" || k === "detail" || k === "name") continue;
    (to as Record<string, unknown>)[k] = v;
  }
}

/** Formats the context as ` (file a.o, section xdp, insn 12)`; empty when nothing is known. */
export function formatContext(c: ErrorContext): string {
  const parts: string[] = [];
  if (c.file !== undefined) parts.push(`file ${c.file}`);
  if (c.section !== undefined) parts.push(`section ${c.section}`);
  if (c.program !== undefined) parts.push(`program ${c.program}`);
  if (c.map !== undefined) parts.push(`map ${c.map}`);
  if (c.insn !== undefined) parts.push(`insn ${c.insn}`);
  if (c.offset !== undefined) parts.push(`offset ${c.offset}`);
  return parts.length ? ` (${parts.join(", ")})` : "";
}

/** The bytes are not a well-formed ELF/BTF/BPF object. */
export class ParseError extends TsbpfError {
  override name = "ParseError";
}

/** A well-formed object uses something tsbpf (or the chosen backend) does not support. */
export class NotSupportedError extends TsbpfError {
  override name = "NotSupportedError";
}

/** A backend refused to load a map, program or collection. */
export class LoadError extends TsbpfError {
  override name = "LoadError";
  /** errno from the kernel, when the kernel refused. */
  errno?: number;
}

/** The kernel verifier (or the VM's load-time checks) rejected a program. */
export class VerifierError extends LoadError {
  override name = "VerifierError";
  /** The whole verifier log, line by line. */
  log: string[] = [];
}

/** A program faulted at run time inside the VM. */
export class VmFault extends TsbpfError {
  override name = "VmFault";
  /** The disassembled faulting instruction. */
  instruction?: string;
  /** The C source line from BTF line info, when the object carries it. */
  sourceLine?: string;
}

/** A map operation failed; carries the errno the kernel would give (ENOENT, EEXIST, E2BIG...). */
export class MapError extends TsbpfError {
  override name = "MapError";
  errno?: number;
  /** Symbolic errno name, such as "ENOENT". */
  code?: string;
}

/**
 * A pipeline file is wrong: its YAML, a field's type, or a name it gives. The message names the
 * file and the field's path (`seed.yaml: slots.prog_array.2: no program 'x' in tail_call.bpf.o`).
 */
export class PipelineError extends TsbpfError {
  override name = "PipelineError";
  /** The field's path inside the file (`slots.prog_array.2`); empty for the file as a whole. */
  field = "";
  /** The 1-based line of the field in the file, when known. */
  line?: number;
}

/** The user asked for something in a way that cannot work (bad CLI arguments, unknown names). */
export class UsageError extends TsbpfError {
  override name = "UsageError";
}

/** Whether `e` is any tsbpf error. */
export function isTsbpfError(e: unknown): e is TsbpfError {
  return e instanceof Error && typeof (e as TsbpfError).context === "object" && "detail" in e;
}

/** Whether `e` is a {@link PipelineError}. */
export const isPipelineError = (e: unknown): e is PipelineError =>
  isTsbpfError(e) && e.name === "PipelineError";
/** Whether `e` is a {@link ParseError}. */
export const isParseError = (e: unknown): e is ParseError => isTsbpfError(e) && e.name === "ParseError";
/** Whether `e` is a {@link VerifierError}. */
export const isVerifierError = (e: unknown): e is VerifierError =>
  isTsbpfError(e) && e.name === "VerifierError";
/** Whether `e` is a {@link VmFault}. */
export const isVmFault = (e: unknown): e is VmFault => isTsbpfError(e) && e.name === "VmFault";
/** Whether `e` is a {@link LoadError} (verifier errors included). */
export const isLoadError = (e: unknown): e is LoadError =>
  isTsbpfError(e) && (e.name === "LoadError" || e.name === "VerifierError");
/** Whether `e` is a {@link UsageError}. */
export const isUsageError = (e: unknown): e is UsageError => isTsbpfError(e) && e.name === "UsageError";
/** Whether `e` is a {@link MapError}. */
export const isMapError = (e: unknown): e is MapError => isTsbpfError(e) && e.name === "MapError";
