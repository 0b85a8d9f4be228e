import { test } from "node:test";
import assert from "node:assert/strict";
import type { Instruction } from "../../src/asm/instruction.js";
import { isTsbpfError, isVerifierError, type VerifierError } from "../../src/errors.js";
import { Interpreter, loadProgram } from "../../src/vm/interpreter.js";
import { insn as I } from "../support/insn.js";

// Load-time validation: each refusal names the instruction; valid programs still load.

const EXIT = I(0x95);
const MOV0 = I(0xb7, 0);

const refused = (code: Instruction[], pattern: RegExp, insn?: number): void => {
  try {
    loadProgram(code, { name: "v" });
  } catch (e) {
    assert.ok(isVerifierError(e), `expected a VerifierError, got ${String(e)}`);
    const v = e as VerifierError;
    assert.match(v.message, pattern);
    assert.equal(v.context.program, "v");
    if (insn !== undefined) assert.equal(v.context.insn, insn, v.message);
    assert.ok(v.log.length > 0);
    return;
  }
  assert.fail(`accepted; expected ${pattern}`);
};

test("unknown opcodes are refused", () => {
  refused([MOV0, I(0xff), EXIT], /unknown opcode 0xff/, 1);
  refused([MOV0, I(0x8c, 0, 1), EXIT], /unknown opcode 0x8c/, 1); // neg has no X form
  refused([MOV0, I(0xdf, 0, 0, 0, 16), EXIT], /unknown opcode 0xdf/, 1); // ALU64 END is K only
  refused([MOV0, I(0xe4), EXIT], /unknown opcode 0xe4/, 1);
  refused([MOV0, I(0x96), EXIT], /unknown opcode 0x96/, 1); // JMP32 has no exit
  refused([MOV0, I(0x98), EXIT], /unknown opcode 0x98/, 1); // MEMSX needs LDX and size < DW
  refused([MOV0, I(0xd4, 0, 0, 0, 24), EXIT], /byte swap width 24/, 1);
  refused([MOV0, I(0xdb, 10, 1, -8, 0x02), EXIT], /unknown atomic operation 0x2/, 1);
  refused([MOV0, I(0xd3, 10, 1, -8, 0x00), EXIT], /32- or 64-bit/, 1); // atomic add on a byte
  refused([MOV0, I(0xbf, 0, 1, 32 - 8), EXIT], /sign-extension width 24/, 1);
  refused([MOV0, I(0xbc, 0, 1, 32), EXIT], /sign-extension width 32/, 1); // ALU32 movsx is 8/16 only
});

test("registers: numbers above 10 and writes to r10 are refused; stores through r10 are fine", () => {
  refused([I(0xb7, 11), EXIT], /invalid register r11/, 0);
  refused([I(0xbf, 0, 12), EXIT], /invalid register r12/, 0);
  refused([I(0xb7, 10), EXIT], /r10 is read-only/, 0);
  refused([I(0x07, 10, 0, 0, -8), EXIT], /r10 is read-only/, 0);
  refused([I(0x79, 10, 1), EXIT], /r10 is read-only/, 0);
  refused([I(0xdb, 1, 10, 0, 0x01), EXIT], /r10 is read-only/, 0); // fetch writes src
  assert.equal(new Interpreter().run(loadProgram([I(0x7a, 10, 0, -8, 3), I(0x79, 0, 10, -8), EXIT])), 3n);
});

test("control flow: jump and call targets, lddw, falling off the end", () => {
  refused([I(0x05, 0, 0, 5), EXIT], /jump to insn 6, outside/, 0);
  refused([I(0x15, 0, 0, -3, 0), EXIT], /jump to insn -2, outside/, 0);
  refused([I(0x05, 0, 0, 1), I(0x18), I(0), EXIT], /into the middle of lddw at insn 1/, 0);
  refused([MOV0, I(0x18)], /lddw is truncated/, 1);
  refused([I(0x18, 0, 0, 0, 1), I(0x95), EXIT], /second slot/, 1);
  refused([MOV0], /last instruction .* must be exit or a jump/, 0);
  refused([I(0x85, 0, 1, 0, 3), EXIT], /call to insn 4, outside/, 0);
  // A jump from main into a subprogram's body.
  refused([I(0x85, 0, 1, 0, 2), I(0x05, 0, 0, 2), EXIT, MOV0, EXIT], /leaves its subprogram/, 1);
  // A subprogram whose last instruction is not exit.
  refused([I(0x85, 0, 1, 0, 1), EXIT, MOV0], /last instruction/, 2);
  refused([], /no instructions/);
});

test("static stack offsets must lie in [r10-512, r10)", () => {
  refused([I(0x7a, 10, 0, -520, 0), MOV0, EXIT], /invalid stack access at r10-520/, 0);
  refused([I(0x79, 0, 10, 0), EXIT], /invalid stack access at r10\+0/, 0);
  refused([I(0x7b, 10, 1, -4), MOV0, EXIT], /r10-4 of 8 bytes/, 0);
  const p = loadProgram([I(0x7a, 10, 0, -512, 0), MOV0, EXIT]);
  assert.deepEqual(p.shape.stackDepth, [512]);
});

test("unsupported features are refused with a hint", () => {
  // Legacy LD_ABS: NotSupported (not a verifier error: the program is valid for the kernel).
  assert.throws(
    () => loadProgram([I(0x30, 0, 0, 0, 12), EXIT]),
    (e: unknown) =>
      isTsbpfError(e) && e.name === "NotSupportedError" && /LD_ABS/.test(e.message) && e.hint !== undefined,
  );
  // callx is a bpf_conformance extension, refused unless asked for.
  refused([I(0xb7, 2, 0, 0, 5), I(0x8d, 2), EXIT], /callx/, 1);
  // kfunc calls.
  assert.throws(
    () => loadProgram([I(0x85, 0, 2, 0, 1), EXIT]),
    (e: unknown) => isTsbpfError(e) && /kfunc/.test(e.message),
  );
});

test("lddw pseudo sources go through resolveLddw", () => {
  refused([I(0x18, 1, 1, 0, 3), I(0), MOV0, EXIT], /pseudo source 1 needs a map/, 0);
  const seen: number[][] = [];
  const p = loadProgram([I(0x18, 0, 2, 0, 3), I(0, 0, 0, 0, 16), EXIT], {
    resolveLddw: (insn, src, imm, next) => {
      seen.push([insn, src, imm, next]);
      return 0xffff0001_00001010n;
    },
  });
  assert.deepEqual(seen, [[0, 2, 3, 16]]);
  assert.equal(new Interpreter().run(p), 0xffff0001_00001010n);
});
