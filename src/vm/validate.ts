import { NotSupportedError, VerifierError } from "../errors.js";
import { kernelHelperName } from "../abi/helper-id.js";
import type { Instruction } from "../asm/instruction.js";
import {
  type FrameProblem,
  frameLayout,
  MAX_FRAMES,
  STACK_SIZE,
  TAIL_CALL_STACK_LIMIT,
  subprogramOf,
  walkFrames,
} from "../object/stack-frames.js";

/**
 * Load-time checks of the VM, a subset of the kernel verifier that needs no data-flow analysis:
 * every opcode known and every unused field zero, registers in range and r10 never written,
 * jumps and calls landing on real instructions of the same subprogram, every subprogram ending
 * in exit or a jump, static stack offsets within 512 bytes, at most 8 frames on the call graph,
 * known helpers. Whatever this cannot prove (pointer arithmetic, dynamic indices) the interpreter
 * checks at run time, so the checks here stay sound: they never reject a program the kernel's
 * semantics could run.
 */

/** Options for {@link validateProgram}. */
export interface ValidateOptions {
  /** Program name, for error context. */
  program?: string;
  /** Whether helper `id` exists; unknown helpers are refused. Default: none exist. */
  hasHelper?: (id: number) => boolean;
  /** Whether to accept `callx` (JMP|CALL|X, helper id in dst), an extension the kernel lacks. */
  allowCallx?: boolean;
}

/** What validation learned about the program's shape. */
export interface ProgramShape {
  /** First instruction index of each subprogram, ascending; `[0, ...]`. */
  subprograms: number[];
  /** Deepest static r10 offset used by each subprogram, in bytes (parallel to `subprograms`). */
  stackDepth: number[];
  /** Most frames live at once on the static call graph (1 without bpf-to-bpf calls). */
  maxFrames: number;
}

/** The conventional name of helper `id` ("bpf_map_lookup_elem"), or `helper #id` when unknown. */
export function helperName(id: number): string {
  const n = kernelHelperName(id);
  return n === undefined ? `helper #${id}` : `bpf_${n}`;
}

const ATOMIC_OPS = new Set([0x00, 0x01, 0x40, 0x41, 0x50, 0x51, 0xa0, 0xa1, 0xe1, 0xf1, 0x100, 0x110]);

/** Validates `insns` (as decoded by `decodeInstructions`) and describes its subprograms. */
export function validateProgram(insns: readonly Instruction[], opts: ValidateOptions = {}): ProgramShape {
  const n = insns.length;
  const ctx = opts.program === undefined ? {} : { program: opts.program };
  const fail = (insn: number, msg: string, hint?: string): never => {
    const e = new VerifierError(msg, hint === undefined ? { ...ctx, insn } : { ...ctx, insn, hint });
    e.log = [`${insn}: ${msg}`];
    throw e;
  };
  if (n === 0) fail(0, "program has no instructions");

  const secondSlot = new Uint8Array(n);
  const jumps: [from: number, to: number][] = [];
  const calls: [from: number, to: number][] = [];

  for (let i = 0; i < n; i++) {
    const ins = insns[i] as Instruction;
    const { opcode: op, dst, src, off, imm } = ins;
    const cls = op & 7;
    const hex = `0x${op.toString(16).padStart(2, "0")}`;
    if (dst > 10) fail(i, `invalid register r${dst}`);
    if (src > 10) fail(i, `invalid register r${src}`);
    const noWriteR10 = (r: number): void => {
      if (r === 10) fail(i, "frame pointer r10 is read-only");
    };
    const zero = (field: string, v: number): void => {
      if (v !== 0) fail(i, `opcode ${hex}: unused field ${field} is ${v}, must be 0`);
    };
    const unknown = (): never => fail(i, `unknown opcode ${hex}`);
    switch (cls) {
      case 0x00: {
        // LD: only lddw; the packet-access forms are legacy.
        if ((op & 0xe0) === 0x20 || (op & 0xe0) === 0x40) {
          if (op === 0x20 || op === 0x28 || op === 0x30 || op === 0x40 || op === 0x48 || op === 0x50) {
            throw new NotSupportedError(
              `legacy packet load (LD_ABS/LD_IND, opcode ${hex}) is not supported`,
              {
                ...ctx,
                insn: i,
                hint: "use direct packet access (ctx->data) instead",
              },
            );
          }
        }
        if (op !== 0x18) unknown();
        if (i + 1 >= n) fail(i, "lddw is truncated: its second slot is missing");
        zero("offset", off);
        if (src > 6) fail(i, `lddw: unknown pseudo source ${src}`);
        noWriteR10(dst);
        const next = insns[i + 1] as Instruction;
        if (next.opcode !== 0 || next.dst !== 0 || next.src !== 0 || next.off !== 0) {
          fail(i + 1, "lddw: second slot must have opcode, registers and offset zero");
        }
        secondSlot[i + 1] = 1;
        i++;
        break;
      }
      case 0x01: {
        // LDX
        const mode = op & 0xe0;
        if (mode === 0x60) {
          // any size
        } else if (mode === 0x80) {
          if ((op & 0x18) === 0x18) unknown();
        } else unknown();
        zero("imm", imm);
        noWriteR10(dst);
        stackAccess(i, src, off, sizeOf(op));
        break;
      }
      case 0x02: {
        if ((op & 0xe0) !== 0x60) unknown();
        zero("src", src);
        stackAccess(i, dst, off, sizeOf(op));
        break;
      }
      case 0x03: {
        const mode = op & 0xe0;
        if (mode === 0x60) {
          zero("imm", imm);
        } else if (mode === 0xc0) {
          if (!ATOMIC_OPS.has(imm)) fail(i, `unknown atomic operation 0x${(imm >>> 0).toString(16)}`);
          const size = op & 0x18;
          if (imm !== 0x100 && imm !== 0x110 && size !== 0x00 && size !== 0x18) {
            fail(i, "atomic operations need a 32- or 64-bit size");
          }
          if (imm === 0x100) noWriteR10(dst);
          else if (imm & 1 && imm !== 0xf1) noWriteR10(src);
        } else unknown();
        if (imm === 0x100) stackAccess(i, src, off, sizeOf(op));
        else stackAccess(i, dst, off, sizeOf(op));
        break;
      }
      case 0x04:
      case 0x07: {
        const alu = op & 0xf0;
        const isX = (op & 0x08) !== 0;
        const is64 = cls === 0x07;
        if (alu > 0xd0) unknown();
        noWriteR10(dst);
        if (alu === 0x80) {
          if (isX) unknown();
          zero("src", src);
          zero("offset", off);
          zero("imm", imm);
          break;
        }
        if (alu === 0xd0) {
          if (is64 && isX) unknown();
          zero("src", src);
          zero("offset", off);
          if (imm !== 16 && imm !== 32 && imm !== 64) fail(i, `byte swap width ${imm} is not 16, 32 or 64`);
          break;
        }
        if (isX) zero("imm", imm);
        else zero("src", src);
        if (alu === 0x30 || alu === 0x90) {
          if (off !== 0 && off !== 1)
            fail(i, `opcode ${hex}: offset ${off} must be 0 (unsigned) or 1 (signed)`);
        } else if (alu === 0xb0 && isX) {
          if (off !== 0 && off !== 8 && off !== 16 && !(is64 && off === 32)) {
            fail(i, `opcode ${hex}: sign-extension width ${off} is not allowed`);
          }
        } else zero("offset", off);
        break;
      }
      case 0x05:
      case 0x06: {
        const jop = op & 0xf0;
        const isX = (op & 0x08) !== 0;
        const is32 = cls === 0x06;
        if (jop > 0xd0) unknown();
        if (jop === 0x00) {
          if (isX) unknown();
          zero("src", src);
          zero("dst", dst);
          if (is32) {
            zero("offset", off);
            jumps.push([i, i + 1 + imm]);
          } else {
            zero("imm", imm);
            jumps.push([i, i + 1 + off]);
          }
          break;
        }
        if (jop === 0x80) {
          if (is32) unknown();
          zero("offset", off);
          if (isX) {
            if (!opts.allowCallx) fail(i, "callx (call through a register) is not supported by the kernel");
            zero("src", src);
            zero("imm", imm);
            break;
          }
          zero("dst", dst);
          if (src === 0) {
            if (!(opts.hasHelper?.(imm) ?? false)) {
              fail(
                i,
                `call to ${helperName(imm)} (id ${imm}), which the VM does not implement`,
                "run this program with --backend kernel; docs/vm-semantics.md lists the VM's helpers",
              );
            }
          } else if (src === 1) {
            const t = i + 1 + imm;
            if (t < 0 || t >= n) fail(i, `call to insn ${t}, outside the program (0..${n - 1})`);
            calls.push([i, t]);
          } else if (src === 2) {
            throw new NotSupportedError("kfunc calls are not supported by the VM", { ...ctx, insn: i });
          } else fail(i, `call: unknown source ${src}`);
          break;
        }
        if (jop === 0x90) {
          if (is32 || isX) unknown();
          zero("src", src);
          zero("dst", dst);
          zero("offset", off);
          zero("imm", imm);
          break;
        }
        if (isX) zero("imm", imm);
        else zero("src", src);
        jumps.push([i, i + 1 + off]);
        break;
      }
      default:
        unknown();
    }
  }

  for (const [from, to] of calls) {
    if (secondSlot[to] === 1) fail(from, `call into the middle of lddw at insn ${to - 1}`);
  }
  const layout = frameLayout(insns);
  const { subprograms } = layout;
  const subOf = (i: number): number => subprogramOf(subprograms, i);
  for (const [from, to] of jumps) {
    if (to < 0 || to >= n) fail(from, `jump to insn ${to}, outside the program (0..${n - 1})`);
    if (secondSlot[to] === 1) fail(from, `jump into the middle of lddw at insn ${to - 1}`);
    if (subOf(from) !== subOf(to)) fail(from, `jump from insn ${from} to insn ${to} leaves its subprogram`);
  }
  for (let s = 0; s < subprograms.length; s++) {
    const end = (s + 1 < subprograms.length ? (subprograms[s + 1] as number) : n) - 1;
    const last = insns[end] as Instruction;
    if (secondSlot[end] === 1 || (last.opcode !== 0x95 && last.opcode !== 0x05 && last.opcode !== 0x06)) {
      fail(
        end,
        "the last instruction of a subprogram must be exit or a jump",
        "execution would fall off the end",
      );
    }
  }

  // Static stack depth and call graph: the kernel's rules, written once in object/stack-frames.ts.
  const walked = walkFrames(layout);
  const first = walked.problems[0];
  if (first !== undefined) fail(first.insn, frameMessage(first, subprograms), frameHint(first, subprograms));
  return { subprograms, stackDepth: layout.stackDepth, maxFrames: walked.maxFrames };

  function stackAccess(i: number, base: number, off: number, size: number): void {
    if (base !== 10) return;
    if (off >= 0 || off < -STACK_SIZE || off + size > 0) {
      fail(
        i,
        `invalid stack access at r10${off >= 0 ? "+" : ""}${off} of ${size} bytes`,
        "the stack is r10-512 to r10",
      );
    }
  }
}

/** The verifier's words for a broken frame rule. */
function frameMessage(p: FrameProblem, subprograms: readonly number[]): string {
  switch (p.kind) {
    case "too-many-frames":
      return `the call chain is ${p.frames} frames deep; at most ${MAX_FRAMES} are allowed`;
    case "recursion":
      return `recursive call to the subprogram at insn ${subprograms[p.callee]}`;
    case "stack-too-large":
      return `combined stack size of the call chain is ${p.bytes} bytes; at most ${STACK_SIZE} are allowed`;
    case "tail-call-stack":
      return `tail_calls are not allowed when call stack of previous frames is ${p.bytes} bytes. Too large`;
  }
}

function frameHint(p: FrameProblem, subprograms: readonly number[]): string | undefined {
  if (p.kind !== "tail-call-stack") return undefined;
  const s = p.path[p.path.length - 1]?.subprogram ?? 0;
  return `the subprogram at insn ${subprograms[s]} makes a tail call; keep the stack of its callers under ${TAIL_CALL_STACK_LIMIT} bytes`;
}

function sizeOf(op: number): number {
  switch (op & 0x18) {
    case 0x00:
      return 4;
    case 0x08:
      return 2;
    case 0x10:
      return 1;
    default:
      return 8;
  }
}
