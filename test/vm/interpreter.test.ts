import { test } from "node:test";
import assert from "node:assert/strict";
import type { Instruction } from "../../src/asm/instruction.js";
import { Interpreter, loadProgram } from "../../src/vm/interpreter.js";
import { insn as I } from "../support/insn.js";

// Instruction semantics. Each expected value is worked out from the kernel's interpreter
// (kernel/bpf/core.c ___bpf_prog_run) and Documentation/bpf/standardization/instruction-set.rst;
// the derivation is in the comment next to it. test/vm/interpreter-kernel.test.ts runs a subset
// on the real kernel as well.

/** lddw dst, v (two slots). */
const lddw = (dst: number, v: bigint): Instruction[] => [
  I(0x18, dst, 0, 0, Number(BigInt.asIntN(32, v))),
  I(0, 0, 0, 0, Number(BigInt.asIntN(32, v >> 32n))),
];
const EXIT = I(0x95);
const run = (...code: (Instruction | Instruction[])[]): bigint => {
  const vm = new Interpreter();
  return vm.run(loadProgram(code.flat(), { name: "t" }));
};
const hex = (v: bigint): string => `0x${v.toString(16)}`;
const eq = (got: bigint, want: bigint, what: string): void => assert.equal(hex(got), hex(want), what);

test("ALU32 results zero-extend; ALU64 immediates sign-extend", () => {
  // mov64 r0, -1 sign-extends the imm: all ones.
  eq(run(I(0xb7, 0, 0, 0, -1), EXIT), 0xffffffffffffffffn, "mov64 imm -1");
  // mov32 w0, -1 writes 0xffffffff and clears the upper half.
  eq(run(I(0xb7, 0, 0, 0, -1), I(0xb4, 0, 0, 0, -1), EXIT), 0xffffffffn, "mov32 imm -1");
  // w0 += 0 on all-ones: the 32-bit result 0xffffffff, zero-extended.
  eq(run(I(0xb7, 0, 0, 0, -1), I(0x04, 0, 0, 0, 0), EXIT), 0xffffffffn, "add32 zero-extends");
  // w0 = w1 (mov32 reg) drops r1's upper half.
  eq(run(lddw(1, 0x1234567887654321n), I(0xbc, 0, 1), EXIT), 0x87654321n, "mov32 reg");
  // add64 imm -1 to 0: sign-extended imm gives -1, carry across the halves handled.
  eq(run(I(0xb7, 0, 0, 0, 0), I(0x07, 0, 0, 0, -1), EXIT), 0xffffffffffffffffn, "add64 imm -1");
  // 0x00000000ffffffff + 1 carries into the high word.
  eq(run(I(0xb4, 0, 0, 0, -1), I(0x07, 0, 0, 0, 1), EXIT), 0x100000000n, "add64 carry");
  // 0x100000000 - 1 borrows from the high word.
  eq(run(lddw(0, 0x100000000n), I(0x17, 0, 0, 0, 1), EXIT), 0xffffffffn, "sub64 borrow");
  // and64 with imm -2 (sign-extended to ...fffe) keeps the upper half.
  eq(run(lddw(0, 0xff000000000000ffn), I(0x57, 0, 0, 0, -2), EXIT), 0xff000000000000fen, "and64 imm");
  // or32 clears the upper half even though OR cannot clear bits.
  eq(run(lddw(0, 0xff00000000000001n), I(0x44, 0, 0, 0, 2), EXIT), 3n, "or32 zero-extends");
});

test("multiplication wraps modulo 2^64 / 2^32", () => {
  // (2^64-1)^2 = 2^128 - 2^65 + 1 ≡ 1 (mod 2^64).
  eq(run(I(0xb7, 0, 0, 0, -1), I(0xb7, 1, 0, 0, -1), I(0x2f, 0, 1), EXIT), 1n, "mul64 -1*-1");
  // 0x123456789abcdef0 * 0x0fedcba987654321 mod 2^64, computed with Python's big integers.
  eq(
    run(lddw(0, 0x123456789abcdef0n), lddw(1, 0x0fedcba987654321n), I(0x2f, 0, 1), EXIT),
    0x2236d88fe5618cf0n,
    "mul64 wide",
  );
  // mul64 imm -1 is negation: 0xfffffffffffffff7 * 0x7fffffffffffffff ≡ 0x8000000000000009.
  eq(
    run(lddw(0, 0xfffffffffffffff7n), lddw(1, 0x7fffffffffffffffn), I(0x2f, 0, 1), EXIT),
    0x8000000000000009n,
    "mul64 signs",
  );
  // mul32: 0x10000 * 0x10000 = 2^32 wraps to 0 in 32 bits.
  eq(run(I(0xb7, 0, 0, 0, 0x10000), I(0x24, 0, 0, 0, 0x10000), EXIT), 0n, "mul32 wraps");
});

test("shift amounts are masked to the operand width", () => {
  // core.c: DST = DST << (SRC & 63); 65 & 63 = 1.
  eq(run(I(0xb7, 0, 0, 0, 3), I(0xb7, 1, 0, 0, 65), I(0x6f, 0, 1), EXIT), 6n, "lsh64 by 65");
  // ALU32: (u32) DST << (SRC & 31); 33 & 31 = 1.
  eq(run(I(0xb7, 0, 0, 0, 3), I(0xb7, 1, 0, 0, 33), I(0x6c, 0, 1), EXIT), 6n, "lsh32 by 33");
  // lsh64 by 32 moves the low word up; rsh64 by 36 of 0xf0 << 32 gives 0xf.
  eq(run(I(0xb7, 0, 0, 0, 0xf0), I(0x67, 0, 0, 0, 32), I(0x77, 0, 0, 0, 36), EXIT), 0xfn, "lsh/rsh64 across");
  // arsh32 of 0x80000000 by 1: (s32) → 0xc0000000, zero-extended.
  eq(run(I(0xb4, 0, 0, 0, -0x80000000), I(0xc4, 0, 0, 0, 1), EXIT), 0xc0000000n, "arsh32");
  // arsh64 of INT64_MIN by 63 is all ones; rsh64 of it by 63 is 1.
  eq(run(lddw(0, 0x8000000000000000n), I(0xc7, 0, 0, 0, 63), EXIT), 0xffffffffffffffffn, "arsh64 63");
  eq(run(lddw(0, 0x8000000000000000n), I(0x77, 0, 0, 0, 63), EXIT), 1n, "rsh64 63");
  // arsh64 by 4 of 0xffffffff00000000 keeps the sign: 0xfffffffff0000000.
  eq(run(lddw(0, 0xffffffff00000000n), I(0xc7, 0, 0, 0, 4), EXIT), 0xfffffffff0000000n, "arsh64 4");
  // rsh32 zero-extends: w0 = 0xffffffff >> 4 = 0x0fffffff.
  eq(run(I(0xb7, 0, 0, 0, -1), I(0x74, 0, 0, 0, 4), EXIT), 0x0fffffffn, "rsh32");
});

test("division and modulo: by zero, unsigned immediates, signed forms", () => {
  // DIV by a zero register gives 0 (the verifier patches in this check).
  eq(run(I(0xb7, 0, 0, 0, 7), I(0xb7, 1, 0, 0, 0), I(0x3f, 0, 1), EXIT), 0n, "div64 by 0");
  // MOD by zero leaves dst alone (64-bit).
  eq(
    run(lddw(0, 0xffffffff00000005n), I(0xb7, 1, 0, 0, 0), I(0x9f, 0, 1), EXIT),
    0xffffffff00000005n,
    "mod64 by 0",
  );
  // ALU32 MOD by zero: dst keeps its low word, the upper half is zeroed.
  eq(run(lddw(0, 0xffffffff00000005n), I(0xb7, 1, 0, 0, 0), I(0x9c, 0, 1), EXIT), 5n, "mod32 by 0");
  // ALU32 DIV imm -1 is unsigned 0xffffffff: 0xfffffffe / 0xffffffff = 0.
  eq(run(I(0xb4, 0, 0, 0, -2), I(0x34, 0, 0, 0, -1), EXIT), 0n, "div32 imm as u32");
  // ALU64 DIV imm -1 sign-extends to 2^64-1: (2^64-1) / (2^64-1) = 1.
  eq(run(I(0xb7, 0, 0, 0, -1), I(0x37, 0, 0, 0, -1), EXIT), 1n, "div64 imm sign-extended");
  // Wide unsigned: 0xffffffff12345678 / 0x10000000f and % (Python: 0xfffffff0, 0x12345768).
  eq(
    run(lddw(0, 0xffffffff12345678n), lddw(1, 0x10000000fn), I(0x3f, 0, 1), EXIT),
    0xfffffff0n,
    "div64 wide",
  );
  eq(
    run(lddw(0, 0xffffffff12345678n), lddw(1, 0x10000000fn), I(0x9f, 0, 1), EXIT),
    0x12345768n,
    "mod64 wide",
  );
  // sdiv (off 1): INT64_MIN / -1 = INT64_MIN; smod: INT64_MIN % -1 = 0.
  eq(run(lddw(0, 0x8000000000000000n), I(0x37, 0, 0, 1, -1), EXIT), 0x8000000000000000n, "sdiv64 overflow");
  eq(run(lddw(0, 0x8000000000000000n), I(0x97, 0, 0, 1, -1), EXIT), 0n, "smod64 by -1");
  // sdiv32: INT_MIN / -1 = INT_MIN, zero-extended.
  eq(run(I(0xb4, 0, 0, 0, -0x80000000), I(0x34, 0, 0, 1, -1), EXIT), 0x80000000n, "sdiv32 overflow");
  // Signed modulo truncates: -13 smod 3 = -1 (64-bit), and 0xffffffff in 32 bits.
  eq(run(I(0xb7, 0, 0, 0, -13), I(0x97, 0, 0, 1, 3), EXIT), 0xffffffffffffffffn, "smod64 -13 % 3");
  eq(run(I(0xb7, 0, 0, 0, -13), I(0x94, 0, 0, 1, 3), EXIT), 0xffffffffn, "smod32 -13 % 3");
  // -13 sdiv 3 = -4 (truncation, not floor).
  eq(run(I(0xb7, 0, 0, 0, -13), I(0x37, 0, 0, 1, 3), EXIT), 0xfffffffffffffffcn, "sdiv64 -13 / 3");
  // sdiv/smod by zero: 0 and dst unchanged.
  eq(run(I(0xb7, 0, 0, 0, -13), I(0xb7, 1, 0, 0, 0), I(0x3f, 0, 1, 1), EXIT), 0n, "sdiv64 by 0");
  eq(
    run(I(0xb7, 0, 0, 0, -13), I(0xb7, 1, 0, 0, 0), I(0x9f, 0, 1, 1), EXIT),
    0xfffffffffffffff3n,
    "smod64 by 0",
  );
  // Wide signed: -0x7000000000000005 sdiv/smod 0x100000003 (Python, truncating).
  eq(
    run(lddw(0, -0x7000000000000005n), lddw(1, 0x100000003n), I(0x3f, 0, 1, 1), EXIT),
    0xffffffff90000002n,
    "sdiv64 wide",
  );
  eq(
    run(lddw(0, -0x7000000000000005n), lddw(1, 0x100000003n), I(0x9f, 0, 1, 1), EXIT),
    0xffffffff4ffffff5n,
    "smod64 wide",
  );
});

test("neg, byte swaps and sign-extending moves", () => {
  eq(run(I(0xb7, 0, 0, 0, 0), I(0x87, 0), EXIT), 0n, "neg64 0");
  eq(run(I(0xb7, 0, 0, 0, 1), I(0x87, 0), EXIT), 0xffffffffffffffffn, "neg64 1");
  eq(run(lddw(0, 0x100000000n), I(0x87, 0), EXIT), 0xffffffff00000000n, "neg64 2^32");
  eq(run(I(0xb4, 0, 0, 0, -0x80000000), I(0x84, 0), EXIT), 0x80000000n, "neg32 INT_MIN");
  const v = lddw(0, 0x1122334455667788n);
  // to_be on a little-endian machine swaps; 16/32 also truncate (zero-extend).
  eq(run(v, I(0xdc, 0, 0, 0, 16), EXIT), 0x8877n, "be16");
  eq(run(v, I(0xdc, 0, 0, 0, 32), EXIT), 0x88776655n, "be32");
  eq(run(v, I(0xdc, 0, 0, 0, 64), EXIT), 0x8877665544332211n, "be64");
  // to_le is a no-op apart from the truncation.
  eq(run(v, I(0xd4, 0, 0, 0, 16), EXIT), 0x7788n, "le16");
  eq(run(v, I(0xd4, 0, 0, 0, 32), EXIT), 0x55667788n, "le32");
  eq(run(v, I(0xd4, 0, 0, 0, 64), EXIT), 0x1122334455667788n, "le64");
  // ALU64 END (v4 bswap) swaps unconditionally.
  eq(run(v, I(0xd7, 0, 0, 0, 16), EXIT), 0x8877n, "bswap16");
  eq(run(v, I(0xd7, 0, 0, 0, 64), EXIT), 0x8877665544332211n, "bswap64");
  // movsx: ALU64 sign-extends from 8/16/32 bits; ALU32 from 8/16 then zero-extends.
  eq(run(I(0xb7, 1, 0, 0, 0x180), I(0xbf, 0, 1, 8), EXIT), 0xffffffffffffff80n, "movsx64 8");
  eq(run(I(0xb7, 1, 0, 0, 0x8000), I(0xbf, 0, 1, 16), EXIT), 0xffffffffffff8000n, "movsx64 16");
  eq(run(lddw(1, 0x180000000n), I(0xbf, 0, 1, 32), EXIT), 0xffffffff80000000n, "movsx64 32");
  eq(run(I(0xb7, 1, 0, 0, 0x80), I(0xbc, 0, 1, 8), EXIT), 0xffffff80n, "movsx32 8");
  eq(run(I(0xb7, 1, 0, 0, 0x7fff), I(0xbc, 0, 1, 16), EXIT), 0x7fffn, "movsx32 16 positive");
});

test("loads and stores: widths, sign-extending loads, store immediates", () => {
  const st = (op: number, imm: number) => I(op, 10, 0, -8, imm);
  // stdw imm sign-extends the 32-bit immediate to 64 bits.
  eq(run(st(0x7a, -2), I(0x79, 0, 10, -8), EXIT), 0xfffffffffffffffen, "stdw imm");
  // Little-endian layout: the byte at -8 is the low byte.
  eq(run(st(0x7a, 0x11223344), I(0x71, 0, 10, -8), EXIT), 0x44n, "ldxb low byte");
  eq(run(st(0x7a, 0x11223344), I(0x69, 0, 10, -6), EXIT), 0x1122n, "ldxh");
  // Sign-extending loads (v4): 0x80 → -128, 0x8000, 0x80000000.
  eq(run(st(0x72, 0x80), I(0x91, 0, 10, -8), EXIT), 0xffffffffffffff80n, "ldxsb");
  eq(run(st(0x6a, 0x8000), I(0x89, 0, 10, -8), EXIT), 0xffffffffffff8000n, "ldxsh");
  eq(run(st(0x62, -0x80000000), I(0x81, 0, 10, -8), EXIT), 0xffffffff80000000n, "ldxsw");
  // Plain ldxw zero-extends.
  eq(run(st(0x62, -1), I(0x61, 0, 10, -8), EXIT), 0xffffffffn, "ldxw");
  // stxb stores only the low byte of the register.
  eq(run(st(0x7a, 0), I(0xb7, 1, 0, 0, 0x1ff), I(0x73, 10, 1, -8), I(0x79, 0, 10, -8), EXIT), 0xffn, "stxb");
});

test("atomics: fetch forms, 32-bit zero extension, xchg, cmpxchg", () => {
  const atom = (dw: boolean, imm: number, src = 1) => I(dw ? 0xdb : 0xc3, 10, src, -8, imm);
  // 32-bit fetch_add: mem 0xffffffff + 1 wraps to 0; src gets the old value zero-extended.
  eq(
    run(I(0x62, 10, 0, -8, -1), lddw(1, 0xdead000000000001n), atom(false, 0x01), I(0xbf, 0, 1), EXIT),
    0xffffffffn,
    "fetch_add32 old",
  );
  eq(
    run(I(0x62, 10, 0, -8, -1), I(0xb7, 1, 0, 0, 1), atom(false, 0x00), I(0x61, 0, 10, -8), EXIT),
    0n,
    "add32 memory",
  );
  // 64-bit add carries across words: 0xffffffff + 1 = 0x100000000.
  eq(
    run(
      I(0x7a, 10, 0, -8, 0),
      I(0x62, 10, 0, -8, -1),
      I(0xb7, 1, 0, 0, 1),
      atom(true, 0x00),
      I(0x79, 0, 10, -8),
      EXIT,
    ),
    0x100000000n,
    "add64 memory",
  );
  // fetch_or/and/xor 64.
  const mem = (v: number) => I(0x7a, 10, 0, -8, v);
  eq(run(mem(0x0f), I(0xb7, 1, 0, 0, 0xf0), atom(true, 0x41), I(0x79, 0, 10, -8), EXIT), 0xffn, "or64");
  eq(run(mem(0x0f), I(0xb7, 1, 0, 0, 0x3c), atom(true, 0x51), I(0xbf, 0, 1), EXIT), 0x0fn, "fetch_and64 old");
  eq(run(mem(0x0f), I(0xb7, 1, 0, 0, 0x3c), atom(true, 0xa1), I(0x79, 0, 10, -8), EXIT), 0x33n, "xor64");
  // xchg64: memory gets src, src gets old.
  eq(
    run(mem(5), I(0xb7, 1, 0, 0, 9), atom(true, 0xe1), I(0x79, 0, 10, -8), I(0x2f, 0, 1), EXIT),
    45n,
    "xchg64",
  );
  // cmpxchg32 compares only the low word of r0 and zero-extends the old value into r0.
  eq(
    run(
      mem(5),
      lddw(0, 0xdeadbeef00000005n),
      I(0xb7, 1, 0, 0, 7),
      atom(false, 0xf1),
      I(0x61, 2, 10, -8),
      I(0x27, 2, 0, 0, 0x100),
      I(0x0f, 0, 2),
      EXIT,
    ),
    0x705n,
    "cmpxchg32 match",
  );
  // cmpxchg64 mismatch: memory unchanged, r0 = old.
  eq(
    run(
      mem(5),
      I(0xb7, 0, 0, 0, 6),
      I(0xb7, 1, 0, 0, 7),
      atom(true, 0xf1),
      I(0x79, 2, 10, -8),
      I(0x27, 2, 0, 0, 0x100),
      I(0x0f, 0, 2),
      EXIT,
    ),
    0x505n,
    "cmpxchg64 mismatch",
  );
});

test("jumps: JMP vs JMP32, signedness, JSET, gotol", () => {
  // if (cond) r0 = 1 else r0 = 0, for the jump `j` placed after the setup.
  const cond = (setup: Instruction[], j: Instruction): bigint =>
    run(...setup, j, I(0xb7, 0, 0, 0, 0), EXIT, I(0xb7, 0, 0, 0, 1), EXIT);
  const r1 = (v: bigint) => lddw(1, v);
  const jmp = (op: number, imm: number) => I(op, 1, 0, 2, imm);
  // jeq32 looks at the low word only.
  eq(cond(r1(0x100000000n), jmp(0x16, 0)), 1n, "jeq32 low word");
  eq(cond(r1(0x100000000n), jmp(0x15, 0)), 0n, "jeq64");
  // 0x80000000 is negative as s32, positive as s64.
  eq(cond(r1(0x80000000n), jmp(0x66, 0)), 0n, "jsgt32");
  eq(cond(r1(0x80000000n), jmp(0x65, 0)), 1n, "jsgt64");
  // imm -1 sign-extends for JMP: 0xffffffff != 0xffffffffffffffff, but equal for JMP32.
  eq(cond(r1(0xffffffffn), jmp(0x15, -1)), 0n, "jeq64 imm sign-extended");
  eq(cond(r1(0xffffffffn), jmp(0x16, -1)), 1n, "jeq32 imm");
  // Unsigned compare against imm -1 (= 2^64-1): nothing is greater.
  eq(cond(r1(0xfffffffffffffffen), jmp(0x25, -1)), 0n, "jgt64 unsigned");
  eq(cond(r1(0xfffffffffffffffen), jmp(0xa5, -1)), 1n, "jlt64 unsigned");
  eq(cond(r1(0xfffffffffffffffen), jmp(0xc5, -1)), 1n, "jslt64 -2 < -1");
  // JSET tests the AND, including the high word for JMP.
  eq(cond(r1(0x100000000n), I(0x4d, 1, 2, 2)), 0n, "jset64 reg 0");
  eq(
    run(
      r1(0x100000000n),
      lddw(2, 0x300000000n),
      I(0x4d, 1, 2, 2),
      I(0xb7, 0, 0, 0, 0),
      EXIT,
      I(0xb7, 0, 0, 0, 1),
      EXIT,
    ),
    1n,
    "jset64 high word",
  );
  eq(cond(r1(0x100000001n), jmp(0x46, 1)), 1n, "jset32");
  // gotol (JMP32 | JA) takes its offset from imm; off must be 0.
  eq(run(I(0xb7, 0, 0, 0, 1), I(0x06, 0, 0, 0, 1), I(0xb7, 0, 0, 0, 2), EXIT), 1n, "gotol");
  // Backward jump: count down from 5 (r0 counts iterations).
  eq(
    run(
      I(0xb7, 0),
      I(0xb7, 1, 0, 0, 5),
      I(0x07, 0, 0, 0, 1),
      I(0x17, 1, 0, 0, 1),
      I(0x55, 1, 0, -3, 0),
      EXIT,
    ),
    5n,
    "loop",
  );
});

test("lddw loads a full 64-bit constant and counts as two slots", () => {
  eq(run(lddw(0, 0xfedcba9876543210n), EXIT), 0xfedcba9876543210n, "lddw");
  // A jump over a lddw skips both slots.
  eq(run(I(0xb7, 0, 0, 0, 3), I(0x05, 0, 0, 2, 0), lddw(0, 7n), EXIT), 3n, "ja over lddw");
});
