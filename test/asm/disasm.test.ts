import assert from "node:assert/strict";
import { test } from "node:test";
import {
  branchTarget,
  callTarget,
  disassemble,
  disassembleProgram,
  UNKNOWN_INSN,
} from "../../src/asm/disasm.js";
import { decodeInstructions, encodeInstructions, type Instruction } from "../../src/asm/instruction.js";

/** Builds one slot from raw fields, passing through the real encoder/decoder so fields wrap as in bytes. */
function raw(opcode: number, dst: number, src: number, off: number, imm: number): Instruction {
  const [insn] = decodeInstructions(encodeInstructions([{ opcode, dst, src, off, imm }]));
  return insn as Instruction;
}

const dis = (opcode: number, dst: number, src: number, off: number, imm: number, alu32 = false) =>
  disassemble(raw(opcode, dst, src, off, imm), 0, { alu32 });

// Forms llvm-objdump 14 prints as <unknown>; the expected text is current LLVM's BPFInstrInfo.td syntax.
test("ISA v4 instructions use current LLVM syntax", () => {
  assert.equal(dis(0x3f, 1, 2, 1, 0), "r1 s/= r2");
  assert.equal(dis(0x37, 1, 0, 1, 3), "r1 s/= 3");
  assert.equal(dis(0x3c, 1, 2, 1, 0), "w1 s/= w2");
  assert.equal(dis(0x9c, 1, 2, 1, 0), "w1 s%= w2");
  assert.equal(dis(0x97, 1, 0, 1, -7), "r1 s%= -7");
  assert.equal(dis(0xbf, 1, 2, 8, 0), "r1 = (s8)r2");
  assert.equal(dis(0xbf, 1, 2, 16, 0), "r1 = (s16)r2");
  assert.equal(dis(0xbf, 1, 2, 32, 0), "r1 = (s32)r2");
  assert.equal(dis(0xbc, 3, 4, 8, 0), "w3 = (s8)w4");
  assert.equal(dis(0xbc, 3, 4, 16, 0), "w3 = (s16)w4");
  assert.equal(dis(0xbc, 3, 4, 32, 0), UNKNOWN_INSN);
  assert.equal(dis(0x91, 1, 2, 0, 0), "r1 = *(s8 *)(r2 + 0)");
  assert.equal(dis(0x89, 1, 2, 6, 0), "r1 = *(s16 *)(r2 + 6)");
  assert.equal(dis(0x81, 1, 10, -4, 0), "r1 = *(s32 *)(r10 - 4)");
  assert.equal(dis(0x81, 1, 10, -4, 0, true), "r1 = *(s32 *)(r10 - 4)");
  assert.equal(dis(0x99, 1, 2, 0, 0), UNKNOWN_INSN);
  assert.equal(dis(0xd7, 5, 0, 0, 16), "r5 = bswap16 r5");
  assert.equal(dis(0xd7, 5, 0, 0, 32), "r5 = bswap32 r5");
  assert.equal(dis(0xd7, 5, 0, 0, 64), "r5 = bswap64 r5");
  assert.equal(dis(0xd7, 5, 0, 0, 8), UNKNOWN_INSN);
  assert.equal(dis(0xdf, 5, 0, 0, 16), UNKNOWN_INSN);
  assert.equal(dis(0x06, 0, 0, 0, 100), "gotol +100");
  assert.equal(dis(0x06, 0, 0, 0, -3), "gotol -3");
});

test("other forms unknown to llvm-objdump 14", () => {
  assert.equal(dis(0x9f, 1, 2, 0, 0), "r1 %= r2");
  assert.equal(dis(0x94, 1, 0, 0, 10), "w1 %= 10");
  assert.equal(dis(0x45, 1, 0, 0, 7), "if r1 & 7 goto +0");
  assert.equal(dis(0x4e, 1, 2, -1, 0), "if w1 & w2 goto -1");
  assert.equal(dis(0x62, 1, 0, 0, 5), "*(u32 *)(r1 + 0) = 5");
  assert.equal(dis(0x7a, 10, 0, -8, -1), "*(u64 *)(r10 - 8) = -1");
  assert.equal(dis(0x6a, 10, 0, -2, 0x1234), "*(u16 *)(r10 - 2) = 4660");
  assert.equal(dis(0x72, 10, 0, -1, 255), "*(u8 *)(r10 - 1) = 255");
  assert.equal(dis(0xe5, 0, 0, 3, 0), "may_goto +3");
  assert.equal(dis(0x8d, 3, 0, 0, 0), "callx r3");
  assert.equal(dis(0x0d, 2, 0, 0, 0), "gotox r2");
  assert.equal(dis(0xbf, 1, 2, 1, 0x10000), "r1 = addr_space_cast(r2, 1, 0)");
  assert.equal(dis(0xdb, 1, 2, 0, 0x100), "r1 = load_acquire((u64 *)(r2 + 0))");
  assert.equal(dis(0xc3, 1, 2, 8, 0x100), "w1 = load_acquire((u32 *)(r2 + 8))");
  assert.equal(dis(0xd3, 1, 2, 0, 0x100), "w1 = load_acquire((u8 *)(r2 + 0))");
  assert.equal(dis(0xdb, 1, 2, -8, 0x110), "store_release((u64 *)(r1 - 8), r2)");
  assert.equal(dis(0xcb, 1, 2, 0, 0x110), "store_release((u16 *)(r1 + 0), w2)");
});

test("32-bit atomics print their alu32 form, plain add follows the register mode", () => {
  assert.equal(dis(0xc3, 1, 2, 0, 0x00), "lock *(u32 *)(r1 + 0) += r2");
  assert.equal(dis(0xc3, 1, 2, 0, 0x00, true), "lock *(u32 *)(r1 + 0) += w2");
  assert.equal(dis(0xc3, 1, 2, 4, 0x50), "lock *(u32 *)(r1 + 4) &= w2");
  assert.equal(dis(0xc3, 1, 2, 0, 0x41), "w2 = atomic_fetch_or((u32 *)(r1 + 0), w2)");
  assert.equal(dis(0xc3, 1, 2, 0, 0xe1), "w2 = xchg32_32(r1 + 0, w2)");
  assert.equal(dis(0xc3, 1, 2, 0, 0xf1), "w0 = cmpxchg32_32(r1 + 0, w0, w2)");
  assert.equal(dis(0xdb, 1, 2, -16, 0xa1), "r2 = atomic_fetch_xor((u64 *)(r1 - 16), r2)");
  assert.equal(dis(0xdb, 1, 2, 0, 0xf1), "r0 = cmpxchg_64(r1 + 0, r0, r2)");
  assert.equal(dis(0xdb, 1, 2, 0, 0x02), UNKNOWN_INSN);
  assert.equal(dis(0xd3, 1, 2, 0, 0x00), UNKNOWN_INSN);
});

test("undecodable encodings give <unknown> and never throw", () => {
  assert.equal(dis(0x00, 0, 0, 0, 0), UNKNOWN_INSN);
  assert.equal(dis(0x95, 0, 0, 0, 1), UNKNOWN_INSN);
  assert.equal(dis(0xf5, 0, 0, 0, 0), UNKNOWN_INSN);
  assert.equal(dis(0x2f, 1, 2, 3, 0), UNKNOWN_INSN); // mul with a non-zero offset
  assert.equal(dis(0xb7, 1, 0, 2, 5), UNKNOWN_INSN); // mov imm with a non-zero offset
  assert.equal(dis(0xbf, 12, 2, 0, 0), UNKNOWN_INSN); // no such register
  assert.equal(dis(0x38, 0, 0, 0, 0), UNKNOWN_INSN); // ld_abs of a double word
  assert.equal(dis(0x18, 1, 0, 1, 0), UNKNOWN_INSN); // lddw with an offset
  for (let op = 0; op < 256; op++) {
    for (const imm of [0, 1, 16, 0x100, -1]) assert.equal(typeof dis(op, 15, 15, -1, imm), "string");
  }
});

test("labels, map names and lddw slots in a program listing", () => {
  const prog = decodeInstructions(
    encodeInstructions([
      { opcode: 0x18, dst: 1, src: 0, off: 0, imm: 0 },
      { opcode: 0x00, dst: 0, src: 0, off: 0, imm: 0 },
      { opcode: 0x15, dst: 0, src: 0, off: 1, imm: 0 },
      { opcode: 0x85, dst: 0, src: 1, off: 0, imm: -1 },
      { opcode: 0x18, dst: 2, src: 0, off: 0, imm: -1 },
      { opcode: 0x00, dst: 0, src: 0, off: 0, imm: 0x7fffffff },
      { opcode: 0x18, dst: 3, src: 2, off: 0, imm: 5 },
      { opcode: 0x00, dst: 0, src: 0, off: 0, imm: 16 },
      { opcode: 0x05, dst: 0, src: 0, off: -9, imm: 0 },
      { opcode: 0x95, dst: 0, src: 0, off: 0, imm: 0 },
    ]),
  );
  const lines = disassembleProgram(prog, {
    labelFor: (t) => (t === 4 ? "LBB0_2" : t === 0 ? "prog" : undefined),
    mapNameFor: (i) => (i === 0 ? "counters" : i === 6 ? "data" : undefined),
  });
  assert.deepEqual(lines, [
    "0: r1 = 0 ll # counters",
    "2: if r0 == 0 goto +1 <LBB0_2>",
    "3: call -1",
    "4: r2 = 9223372036854775807 ll",
    "6: ld_pseudo\tr3, 2, 5 # data",
    "8: goto -9 <prog>",
    "9: exit",
  ]);
  assert.equal(branchTarget(prog[2] as Instruction, 2), 4);
  assert.equal(branchTarget(prog[3] as Instruction, 3), undefined);
  assert.equal(branchTarget(prog[8] as Instruction, 8), 0);
  assert.equal(branchTarget(raw(0x06, 0, 0, 0, 7), 1), 9);
  // A lddw cut off by the end of the program cannot be decoded.
  assert.deepEqual(disassembleProgram([raw(0x18, 1, 0, 0, 0)]), ["0: <unknown>"]);
});

test("a bpf-to-bpf call names the function it enters; helper and kfunc calls do not", () => {
  const local = raw(0x85, 0, 1, 0, 4); // call +4: enters slot 10 from slot 5
  const back = raw(0x85, 0, 1, 0, -6); // call -6: enters slot 0 from slot 5
  const helper = raw(0x85, 0, 0, 0, 4); // bpf_probe_read
  const kfunc = raw(0x85, 0, 2, 0, 4);
  assert.equal(callTarget(local, 5), 10);
  assert.equal(callTarget(back, 5), 0);
  assert.equal(callTarget(helper, 5), undefined);
  assert.equal(callTarget(kfunc, 5), undefined);
  assert.equal(callTarget(raw(0x05, 0, 0, 4, 0), 5), undefined, "a jump is not a call");
  const names = new Map([
    [10, "add_len"],
    [0, "main"],
  ]);
  const calleeFor = (t: number) => names.get(t);
  assert.equal(disassemble(local, 5, { calleeFor }), "call 4 <add_len>");
  assert.equal(disassemble(back, 5, { calleeFor }), "call -6 <main>");
  assert.equal(disassemble(helper, 5, { calleeFor }), "call 4");
  assert.equal(disassemble(kfunc, 5, { calleeFor }), "call 4");
  assert.equal(disassemble(local, 3, { calleeFor }), "call 4", "no function starts at slot 8");
  // Without a namer the text is llvm-objdump 14's, which names no call target; labels stay for jumps.
  assert.equal(disassemble(local, 5), "call 4");
  assert.equal(disassemble(local, 5, { labelFor: () => "LBB0_1" }), "call 4");
});
