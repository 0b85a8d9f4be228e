import { VmFault, type ErrorContext } from "../errors.js";

/** Why a program faulted; lets callers branch without parsing messages. */
export type FaultCode =
  | "out-of-bounds"
  | "read-only"
  | "budget"
  | "call-depth"
  | "unknown-helper"
  | "helper"
  | "bad-instruction";

/** A {@link VmFault} that also carries a machine-readable {@link FaultCode}. */
export type CodedVmFault = VmFault & { code: FaultCode };

/** Builds a {@link VmFault} tagged with `code`. */
export function vmFault(
  code: FaultCode,
  message: string,
  ctx: ErrorContext & { hint?: string } = {},
): CodedVmFault {
  const e = new VmFault(message, ctx) as CodedVmFault;
  e.code = code;
  return e;
}

/** The fault code of `e`, when it is a VmFault raised by the VM. */
export function faultCode(e: unknown): FaultCode | undefined {
  if (e instanceof Error && e.name === "VmFault") return (e as Partial<CodedVmFault>).code;
  return undefined;
}
