import assert from "node:assert/strict";
import { existsSync, readdirSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { test } from "node:test";
import { assemble } from "../../src/asm/assemble.js";
import { parseConformanceData } from "../../src/asm/conformance-data.js";
import { encodeInstructions } from "../../src/asm/instruction.js";
import { isParseError } from "../../src/errors.js";
import { toHex } from "../../src/internal/bytes.js";
import { type ConformanceCase, conformanceCases, conformanceDir } from "../support/shared.js";

const ROOT = conformanceDir() ?? "../shared/conformance";

type Expected = ConformanceCase;

const dataFiles = (dir: string) =>
  readdirSync(join(ROOT, dir))
    .filter((f) => f.endsWith(".data"))
    .sort();

test("every conformance test assembles to the program bytes of tests.json", (t) => {
  if (!existsSync(join(ROOT, "tests.json"))) {
    t.skip(`needs the bpf_conformance suite at ${ROOT}`);
    return;
  }
  const expected = new Map<string, Expected>();
  for (const e of conformanceCases() ?? []) expected.set(e.name, e);
  const failures: string[] = [];
  let matched = 0;
  let withAsm = 0;
  for (const name of dataFiles("tests")) {
    const data = parseConformanceData(readFileSync(join(ROOT, "tests", name), "utf8"));
    const want = expected.get(name);
    if (data.asm === undefined) continue;
    withAsm++;
    if (!want) {
      failures.push(`${name}: not in tests.json`);
      continue;
    }
    try {
      const got = toHex(encodeInstructions(assemble(data.asm)));
      if (got === want.program_hex) matched++;
      else failures.push(`${name}: got ${got}\n    want ${want.program_hex}`);
    } catch (e) {
      failures.push(`${name}: ${(e as Error).message}`);
    }
    // The data file's memory and result agree with the suite's own index.
    if (toHex(data.mem) !== want.mem_hex.toLowerCase())
      failures.push(`${name}: mem ${toHex(data.mem)} != ${want.mem_hex}`);
    if (data.result !== BigInt(want.result))
      failures.push(`${name}: result ${data.result} != ${want.result}`);
    // A raw section, when present, is the same program.
    if (data.raw && toHex(data.raw) !== want.program_hex) failures.push(`${name}: raw section differs`);
  }
  t.diagnostic(`${matched} of ${withAsm} conformance programs assemble to the exact bytes of tests.json`);
  assert.deepEqual(failures, []);
  assert.equal(matched, expected.size);
});

// Two negative files carry well-formed assembly: they test runners, not assemblers. error.data
// reads r0 before writing it (a verifier must refuse it: `or %r0, %r10` is 4f a0 ...), and
// incorrect_return_value_high_bits.data is ldxdw.data's program stated with a wrong result.
const VALID_ASM_IN_NEGATIVE: Record<string, (byName: Map<string, Expected>) => string | undefined> = {
  "error.data": () => "4fa00000000000009500000000000000",
  "incorrect_return_value_high_bits.data": (byName) => byName.get("ldxdw.data")?.program_hex,
};

test("every malformed program in the negative suite is a ParseError naming its line", (t) => {
  if (!existsSync(join(ROOT, "negative")) || !existsSync(join(ROOT, "tests.json"))) {
    t.skip(`needs the bpf_conformance suite at ${ROOT}`);
    return;
  }
  const byName = new Map<string, Expected>();
  for (const e of conformanceCases() ?? []) byName.set(e.name, e);
  let checked = 0;
  for (const name of dataFiles("negative")) {
    const text = readFileSync(join(ROOT, "negative", name), "utf8");
    if (!/^-- asm/m.test(text)) continue;
    checked++;
    const valid = VALID_ASM_IN_NEGATIVE[name];
    if (valid) {
      const want = valid(byName);
      assert.ok(want, name);
      assert.equal(toHex(encodeInstructions(assemble(parseConformanceData(text).asm ?? ""))), want, name);
      continue;
    }
    assert.throws(
      () => assemble(parseConformanceData(text).asm ?? ""),
      (e: unknown) => isParseError(e) && /line \d+/.test((e as Error).message),
      `${name} must not assemble`,
    );
  }
  assert.equal(checked, 13);
});

test("assembler errors: each bad line is reported with its number", () => {
  const bad: [string, RegExp][] = [
    ["mov %r0, 1\nfoo %r0", /line 2: unknown mnemonic "foo"/],
    ["mov32 %r0, 2147483648\nexit", /line 1: immediate 2147483648 does not fit in 32 bits/],
    ["mov32 %r0, -2147483649", /line 1: immediate/],
    ["mov32 %r0, 0x100000000", /line 1: immediate/],
    ["ldxb %r0, [%r1+0x10000]", /line 1: offset/],
    ["ldxb %r0, [%r1-32769]", /line 1: offset/],
    ["ldxb %r0, %r1", /line 1: invalid memory operand/],
    ["ldxsdw %r0, [%r1]", /line 1: ldxsdw/],
    ["lddw %r0", /line 1: lddw takes 2 operands, got 1/],
    ["lddw %r0, 0x10000000000000000", /line 1: 64-bit immediate/],
    ["or %r0, %r11", /line 1: Invalid register "%r11"/],
    ["or %r0, r1", /line 1: invalid immediate "r1"/],
    ["\n\nja NOWHERE\nexit", /line 3: undefined label "NOWHERE"/],
    ["a:\na:\nexit", /line 2: duplicate label "a"/],
    ["lock", /line 1: Invalid number of operands for lock/],
    ["lock or [%r10-8]", /line 1: Invalid number of operands for lock/],
    ["lock nand [%r10-8], %r1", /line 1: unknown atomic operation/],
    ["call far 3", /line 1: unknown call mode/],
    ["exit 0", /line 1: exit takes 0 operands/],
    ["jeq %r1, 1", /line 1: jeq takes 3 operands/],
    ["jeq %r1, 1, +40000", /line 1: offset/],
    ["movsx3232 %r1, %r2", /line 1: movsx3232/],
    ["movsx864 %r1, 5", /line 1: Invalid register/],
    ["", /no instructions/],
    ["# only a comment", /no instructions/],
  ];
  for (const [text, re] of bad) {
    assert.throws(
      () => assemble(text),
      (e: unknown) => isParseError(e) && re.test((e as Error).message),
      text,
    );
  }
});

test("assembler encodes labels, calls and wide immediates", () => {
  const insns = assemble(
    [
      "start: mov %r0, -1   # comment",
      "lddw %r1, -2",
      "jsgt32 %r0, 0xffffffff, done",
      "call local sub",
      "call runtime 7",
      "call %r3",
      "ja32 start",
      "done:",
      "exit",
      "sub:",
      "stdw [%r10-8], 0x80000000",
      "ja exit",
    ].join("\n"),
  );
  assert.deepEqual(
    insns.map(({ opcode, dst, src, off, imm }) => [opcode, dst, src, off, imm]),
    [
      [0xb7, 0, 0, 0, -1],
      [0x18, 1, 0, 0, -2],
      [0x00, 0, 0, 0, -1],
      [0x66, 0, 0, 4, -1],
      [0x85, 0, 1, 0, 4],
      [0x85, 0, 2, 0, 7],
      [0x8d, 3, 0, 0, 0],
      [0x06, 0, 0, 0, -8],
      [0x95, 0, 0, 0, 0],
      [0x7a, 10, 0, -8, -0x80000000],
      [0x05, 0, 0, -3, 0],
    ],
  );
  assert.equal(insns[1]?.imm64, 0xffff_ffff_ffff_fffen);
});

test("parseConformanceData reads every section form", () => {
  const d = parseConformanceData(
    [
      "# header",
      "-- asm",
      "mov %r0, 1 # one",
      "exit",
      "-- raw",
      "0x00000001000000b7",
      "95 00 00 00 00 00 00 00",
      "-- mem",
      "aa bb",
      "cc",
      "-- c",
      "int x;",
      "-- result",
      "0x8000000000000000",
      "-- error",
      "Invalid register",
    ].join("\r\n"),
  );
  assert.equal(d.asm, "mov %r0, 1\nexit");
  assert.equal(toHex(d.raw ?? new Uint8Array()), "b7000000010000009500000000000000");
  assert.equal(toHex(d.mem), "aabbcc");
  assert.equal(d.result, 0x8000000000000000n);
  assert.equal(d.error, "Invalid register");
  assert.equal(parseConformanceData("-- result\n-1").result, 0xffff_ffff_ffff_ffffn);
  assert.deepEqual(parseConformanceData("-- error\n").error, "");
  for (const bad of ["-- bogus", "-- mem\nzz", "-- raw\n0x1 2", "-- raw\n01 02", "-- result\nabc"]) {
    assert.throws(() => parseConformanceData(bad), isParseError, bad);
  }
});
