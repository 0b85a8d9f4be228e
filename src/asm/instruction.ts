import { ParseError, type ErrorContext } from "../errors.js";
import { CALL, LDDW, PseudoCall } from "./opcodes.js";

/**
 * One 8-byte instruction slot, decoded. A `lddw` occupies two slots: the first carries the whole
 * 64-bit constant in `imm64`, the second is kept as its own slot (opcode 0) so that indices match
 * the kernel's, llvm-objdump's and the verifier log's.
 */
export interface Instruction {
  opcode: number;
  dst: number;
  src: number;
  /** Signed 16-bit offset. */
  off: number;
  /** Signed 32-bit immediate. */
  imm: number;
  /** For the first slot of `lddw`: the 64-bit constant (low imm | next imm << 32), unsigned. */
  imm64?: bigint;
}

/** Size in bytes of one instruction slot. */
export const INSN_SIZE = 8;

/** Decodes `bytes` (a multiple of 8) into instruction slots with the given byte order. */
export function decodeInstructions(
  bytes: Uint8Array,
  littleEndian = true,
  ctx: ErrorContext = {},
): Instruction[] {
  if (bytes.byteLength % INSN_SIZE !== 0) {
    throw new ParseError(`instructions: ${bytes.byteLength} bytes is not a multiple of 8`, ctx);
  }
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const n = bytes.byteLength / INSN_SIZE;
  const out: Instruction[] = new Array(n);
  for (let i = 0; i < n; i++) {
    const o = i * INSN_SIZE;
    const regs = view.getUint8(o + 1);
    const insn: Instruction = {
      opcode: view.getUint8(o),
      dst: littleEndian ? regs & 0x0f : regs >> 4,
      src: littleEndian ? regs >> 4 : regs & 0x0f,
      off: view.getInt16(o + 2, littleEndian),
      imm: view.getInt32(o + 4, littleEndian),
    };
    out[i] = insn;
  }
  for (let i = 0; i < n; i++) {
    const insn = out[i] as Instruction;
    if (insn.opcode === LDDW && i + 1 < n) {
      const hi = (out[i + 1] as Instruction).imm;
      insn.imm64 = (BigInt(hi >>> 0) << 32n) | BigInt(insn.imm >>> 0);
      i++;
    }
  }
  return out;
}

/** Encodes instruction slots back to bytes (little-endian unless told otherwise). */
export function encodeInstructions(insns: readonly Instruction[], littleEndian = true): Uint8Array {
  const out = new Uint8Array(insns.length * INSN_SIZE);
  const view = new DataView(out.buffer);
  for (let i = 0; i < insns.length; i++) {
    const insn = insns[i] as Instruction;
    const o = i * INSN_SIZE;
    view.setUint8(o, insn.opcode);
    view.setUint8(
      o + 1,
      littleEndian ? (insn.dst & 0xf) | ((insn.src & 0xf) << 4) : ((insn.dst & 0xf) << 4) | (insn.src & 0xf),
    );
    view.setInt16(o + 2, insn.off, littleEndian);
    view.setInt32(o + 4, insn.imm, littleEndian);
  }
  return out;
}

/**
 * The helper id `insn` calls (`call N` with `src = 0`), or `undefined` for any other instruction:
 * a bpf-to-bpf call (`src = 1`) and a kfunc call (`src = 2`) use the same opcode.
 */
export function helperCalled(insn: Instruction): number | undefined {
  return insn.opcode === CALL && insn.src === PseudoCall.HELPER ? insn.imm : undefined;
}
