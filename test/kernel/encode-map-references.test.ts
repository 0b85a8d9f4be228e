/**
 * The kernel engine's program bytes (object/prepared.ts: prepareProgram, then withMapFds) have
 * the map references patched in the encoded bytes instead of copying every instruction object
 * first: they must be what patching copies and encoding gives, on every fixture object, and the
 * spec must be left untouched.
 */
import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { test } from "node:test";
import { encodeInstructions, type Instruction } from "../../src/asm/instruction.js";
import { LDDW, PseudoLd } from "../../src/asm/opcodes.js";
import { isTsbpfError } from "../../src/errors.js";
import { loadCollectionSpec } from "../../src/object/load-collection-spec.js";
import { prepareProgram, withMapFds } from "../../src/object/prepared.js";
import type { ProgramSpec } from "../../src/object/types.js";
import { fixtureObjects } from "../elf/fixture-objects.js";

/** The bytes BPF_PROG_LOAD gets for `p`, as the kernel engine makes them. */
function encodeWithMapReferences(
  p: ProgramSpec,
  fdOf: (m: string) => number,
  le: boolean,
  file?: string,
): Uint8Array {
  return withMapFds(prepareProgram(p, le, file), fdOf, le);
}

/** What the kernel engine did before: copy the instructions, patch the copies, encode. */
function reference(p: ProgramSpec, fdOf: (m: string) => number, le: boolean): Uint8Array {
  const insns: Instruction[] = p.instructions.map((i) => ({ ...i }));
  for (const r of p.references) {
    const first = insns[r.insn] as Instruction;
    const second = insns[r.insn + 1] as Instruction;
    first.src = r.kind === "map" ? PseudoLd.MAP_FD : PseudoLd.MAP_VALUE;
    first.imm = fdOf(r.map);
    second.imm = r.kind === "map" ? 0 : r.offset;
  }
  return encodeInstructions(insns, le);
}

test("map references patched in the bytes equal patched copies encoded, on every fixture", () => {
  let refs = 0;
  for (const obj of fixtureObjects()) {
    let spec: ReturnType<typeof loadCollectionSpec>;
    try {
      spec = loadCollectionSpec(new Uint8Array(readFileSync(obj)), { file: obj });
    } catch (e) {
      if (isTsbpfError(e)) continue; // fixtures that are meant to be refused
      throw e;
    }
    const names = Object.keys(spec.maps);
    const fdOf = (m: string) => 1000 + names.indexOf(m);
    for (const le of [true, false]) {
      for (const p of Object.values(spec.programs)) {
        const before = JSON.stringify(p.instructions, (_k, v) => (typeof v === "bigint" ? `${v}n` : v));
        assert.deepEqual(
          encodeWithMapReferences(p, fdOf, le, obj),
          reference(p, fdOf, le),
          `${obj} ${p.name}`,
        );
        assert.equal(
          JSON.stringify(p.instructions, (_k, v) => (typeof v === "bigint" ? `${v}n` : v)),
          before,
          "the spec is not modified",
        );
        refs += p.references.length;
      }
    }
  }
  assert.ok(refs > 20, `the fixtures have map references (${refs})`);
});

test("a reference that is not on a lddw is a LoadError naming the program and instruction", () => {
  const spec = loadCollectionSpec(new Uint8Array(readFileSync("examples/tail-call/tail_call.bpf.o")));
  const p = Object.values(spec.programs).find((q) => q.references.length > 0);
  assert.ok(p);
  const r = p.references[0];
  assert.ok(r);
  assert.equal(p.instructions[r.insn]?.opcode, LDDW);
  const bad: ProgramSpec = { ...p, references: [{ ...r, insn: r.insn + 2 }] };
  assert.throws(
    () => encodeWithMapReferences(bad, () => 3, true, "x.o"),
    (e: unknown) =>
      isTsbpfError(e) &&
      /is not on a lddw instruction/.test(e.message) &&
      e.context.program === p.name &&
      e.context.insn === r.insn + 2,
  );
});
