/**
 * Turns the kernel verifier's log into a message a C programmer can act on: which program,
 * which instruction, which line of their source, what the verifier said, and (for the usual
 * mistakes) what to change. The whole log stays on the error.
 */
import { XDP_ADJUST_HELPERS } from "../abi/helper-id.js";
import { helperCalled } from "../asm/instruction.js";
import { VerifierError } from "../errors.js";
import { formatSourceLocation, sourceLocationAt } from "../object/insn-location.js";
import type { ProgramSpec } from "../object/types.js";
import { verifierSummary } from "./program-ops.js";

const INSN_LINE = /^(\d+): \([0-9a-f]{2}\)/;

/** The index of the last instruction the verifier printed before giving up, if it printed any. */
export function failingInsn(log: readonly string[]): number | undefined {
  for (let i = log.length - 1; i >= 0; i--) {
    const m = INSN_LINE.exec(log[i] ?? "");
    if (m?.[1] !== undefined) return Number(m[1]);
  }
  return undefined;
}

function callsAdjustHelper(spec: ProgramSpec): boolean {
  return spec.instructions.some((i) => XDP_ADJUST_HELPERS.has(helperCalled(i) ?? -1));
}

/** A hint for the verifier's complaint when the cause is a known, common mistake. */
export function verifierHint(log: readonly string[], spec?: ProgramSpec): string | undefined {
  const text = log.join("\n");
  if (/invalid access to packet|offset is outside of the packet/.test(text)) {
    return "check `data + N > data_end` (with N covering every byte read) before reading the packet, and return if it is out of bounds";
  }
  if (/invalid mem access '(scalar|inv)'/.test(text)) {
    if (spec !== undefined && callsAdjustHelper(spec)) {
      return "bpf_xdp_adjust_head/meta/tail invalidate every packet pointer: reload ctx->data and ctx->data_end after the call and check bounds again";
    }
    return "a register holds a plain number where a pointer is needed: a pointer was lost (e.g. through arithmetic on a scalar) or was never one";
  }
  if (/invalid mem access '(map_value_or_null|ptr_or_null|[a-z_]*_or_null)'/.test(text)) {
    return "check the result of bpf_map_lookup_elem (or the helper that may return NULL) against NULL before using it";
  }
  if (/back-edge|infinite loop|loop is not bounded|BPF program is too large/.test(text)) {
    return "give every loop a constant upper bound the verifier can see (e.g. `for (int i = 0; i < 64 && ...; i++)`), or use bpf_loop()";
  }
  if (/combined stack size/.test(text)) {
    return "the stack of all bpf-to-bpf call frames together exceeds 512 bytes (256 above a tail call): make local buffers smaller or move them to a per-CPU array map";
  }
  if (/invalid (indirect read from |write to |read from )?stack|invalid stack off|stack depth/.test(text)) {
    return "a stack access is out of range or reads uninitialised bytes: stay within 512 bytes of stack and initialise buffers (e.g. `= {}`) before passing them to helpers";
  }
  if (/unknown func/.test(text)) {
    return "this helper is not available to this program type, or not on this kernel";
  }
  if (/R0 !read_ok|R0 is not a known value/.test(text)) {
    return "every path must end by setting the return value (r0)";
  }
  return undefined;
}

/**
 * Rebuilds a verifier rejection for `spec`: the message names the program, the failing
 * instruction and the C source line; the log is kept whole in `.log`.
 */
export function explainVerifierError(e: VerifierError, spec: ProgramSpec, file?: string): VerifierError {
  const log = e.log;
  const insn = failingInsn(log);
  const src = insn === undefined ? undefined : sourceLocationAt(spec.lineInfo, insn);
  const summary = verifierSummary(log);
  let msg = `program ${spec.name}: the verifier rejected it`;
  if (insn !== undefined) msg += ` at instruction ${insn}`;
  if (src !== undefined) msg += ` (${formatSourceLocation(src)}: ${src.text})`;
  msg += `: ${summary}`;
  const hint = verifierHint(log, spec) ?? "run with --verbose (or read error.log) for the whole verifier log";
  const err = new VerifierError(msg, {
    ...(file === undefined ? {} : { file }),
    section: spec.section,
    ...(insn === undefined ? {} : { insn }),
    cause: e,
    hint,
  });
  if (e.errno !== undefined) err.errno = e.errno;
  err.log = log;
  if (src !== undefined) (err as VerifierError & { sourceLine?: string }).sourceLine = src.text;
  return err;
}
