import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { test } from "node:test";
import { disassembleProgram } from "../../src/asm/disasm.js";
import { decodeInstructions, type Instruction } from "../../src/asm/instruction.js";
import { Class, JmpOp, Mode, Source } from "../../src/asm/opcodes.js";
import { fromHex } from "../../src/internal/bytes.js";
import { conformanceCases, conformanceDir } from "../support/shared.js";
import { readTestElf } from "./elf-sections.js";
import { objdumpAvailable, objdumpLabeler, objdumpListing } from "./objdump-listing.js";

const TESTS_JSON = join(conformanceDir() ?? "../shared/conformance", "tests.json");

/**
 * Hand-written programs reach encodings clang never emits. Each conformance program is placed,
 * as raw `.quad`s, in its own section of an object built by llvm-mc, and llvm-objdump's listing of
 * it is compared with ours. Where llvm-objdump 14 has no syntax (`<unknown>`: ISA v4, mod, jset,
 * BPF_ST) the hand-written cases of disasm.test.ts apply instead, as they do for ALU ops with a
 * non-zero `off` (sdiv, smod, movsx), which LLVM 14 misreads as div, mod, mov. `callx` is skipped
 * because LLVM 14 read its register from imm, while current LLVM (and we) read dst_reg.
 */
test("disassembly of every conformance program matches llvm-objdump", (t) => {
  const avail = objdumpAvailable();
  if (!avail.ok) {
    t.skip(avail.reason);
    return;
  }
  if (spawnSync("llvm-mc", ["--version"]).status !== 0) {
    t.skip("needs llvm-mc on PATH to build the object (not found)");
    return;
  }
  if (!existsSync(TESTS_JSON)) {
    t.skip(`needs the bpf_conformance suite (${TESTS_JSON})`);
    return;
  }
  const programs = (conformanceCases() ?? []).map((p, i) => ({
    section: `conf${i}`,
    name: p.name,
    bytes: fromHex(p.program_hex),
  }));
  let asm = "";
  for (const p of programs) {
    asm += `\t.section ${p.section},"ax",@progbits\n\t.globl f_${p.section}\nf_${p.section}:\n`;
    const v = new DataView(p.bytes.buffer, p.bytes.byteOffset, p.bytes.byteLength);
    for (let o = 0; o < p.bytes.length; o += 8) asm += `\t.quad 0x${v.getBigUint64(o, true).toString(16)}\n`;
  }
  const dir = mkdtempSync(join(tmpdir(), "tsbpf-asm-"));
  try {
    writeFileSync(join(dir, "conf.s"), asm);
    const mc = spawnSync(
      "llvm-mc",
      ["-triple", "bpfel", "-filetype=obj", "-o", join(dir, "conf.o"), join(dir, "conf.s")],
      {
        encoding: "utf8",
      },
    );
    assert.equal(mc.status, 0, mc.stderr);
    const file = join(dir, "conf.o");
    const elf = readTestElf(new Uint8Array(readFileSync(file)));
    const plain = objdumpListing(file);
    const alu32 = objdumpListing(file, ["--mattr=+alu32"]);
    const mismatches: string[] = [];
    let compared = 0;
    let noLlvmSyntax = 0;
    for (const p of programs) {
      const sec = elf.sections.find((s) => s.name === p.section);
      assert.ok(sec, p.section);
      const insns = decodeInstructions(sec.bytes, true);
      const labelFor = objdumpLabeler(elf, sec.index);
      const ours = new Map<number, string>();
      for (const l of disassembleProgram(insns, { labelFor })) {
        ours.set(Number(l.slice(0, l.indexOf(":"))), l.slice(l.indexOf(": ") + 2));
        // Every instruction the suite uses is valid somewhere, so each must have a syntax.
        if (l.endsWith("<unknown>")) mismatches.push(`${p.name}: we have no syntax for ${l}`);
      }
      const alt = new Map<number, string>();
      for (const l of alu32.get(p.section) ?? []) if ("index" in l) alt.set(l.index, l.text);
      for (const l of plain.get(p.section) ?? []) {
        if (!("index" in l)) continue;
        const insn = insns[l.index] as Instruction;
        if (insn.opcode === (Class.JMP | JmpOp.CALL | Source.X)) continue;
        // LLVM 14 ignores `off` of ALU ops, so it prints v4 sdiv/smod/movsx as div/mod/mov.
        const cls = insn.opcode & 7;
        if ((cls === Class.ALU || cls === Class.ALU64) && insn.off !== 0) {
          noLlvmSyntax++;
          continue;
        }
        let want = l.text;
        if (want === "<unknown>" || (insn.opcode === (Class.STX | Mode.ATOMIC) && insn.imm !== 0))
          want = alt.get(l.index) ?? want;
        if (want === "<unknown>") {
          noLlvmSyntax++;
          continue;
        }
        compared++;
        const have = ours.get(l.index);
        if (have !== want)
          mismatches.push(
            `${p.name} ${l.index}: ours ${JSON.stringify(have)}, llvm-objdump ${JSON.stringify(want)}`,
          );
      }
    }
    t.diagnostic(
      `${programs.length} programs: ${compared} instructions compared, ${noLlvmSyntax} unknown to llvm-objdump 14`,
    );
    assert.deepEqual(mismatches, []);
    assert.ok(compared > 2000, `only ${compared} compared`);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
