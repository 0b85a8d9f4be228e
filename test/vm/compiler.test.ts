import { test } from "node:test";
import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { decodeInstructions, type Instruction } from "../../src/asm/instruction.js";
import { isVmFault, type VmFault } from "../../src/errors.js";
import { loadCollectionSpec } from "../../src/object/load-collection-spec.js";
import { ProgType } from "../../src/abi/index.js";
import { compileProgram, isCompiled, uncompileProgram } from "../../src/vm/compiler.js";
import { conformanceHelper, runConformance } from "../../src/vm/conformance.js";
import { faultCode } from "../../src/vm/fault.js";
import { Interpreter, loadProgram, type Program } from "../../src/vm/interpreter.js";
import type { VmCollection } from "../../src/vm/vm-collection.js";
import { craftedPackets, randomPacket } from "../differential/corpus.js";
import { generateCollection } from "../differential/generate.js";
import { repositoryObjects } from "../differential/objects.js";
import { Rng } from "../differential/rng.js";
import { bytecodeCollection, FUZZ_BUDGET, fuzzPacket, randomBytecode } from "../fuzz/harness.js";
import { insn as I } from "../support/insn.js";
import { conformanceCases } from "../support/shared.js";
import { describeError, dumpMaps, loadTier, runTier } from "./compiler-support.js";

// The compiled tier must agree with the interpreter (the reference) on everything a run shows:
// r0, verdict, output packet, trace, chain, fault (code, program, instruction, message), the
// instruction count and the maps afterwards.

const hex = (s: string): Uint8Array => Uint8Array.from(Buffer.from(s.replace(/\s+/g, ""), "hex"));

function conformanceOutcome(prog: Uint8Array, mem: Uint8Array, tier: "interpreter" | "js"): string {
  try {
    return `r0=0x${runConformance(prog, mem, { tier }).toString(16)}`;
  } catch (e) {
    return describeError(e);
  }
}

/** As runConformance, compiled into a function per block. */
function conformanceChunked(bytes: Uint8Array, mem: Uint8Array): string {
  try {
    const prog = loadProgram(bytes, { name: "conformance", helpers: conformanceHelper, allowCallx: true });
    compileProgram(prog, { chunkChars: 1 });
    const vm = new Interpreter({ budget: 1_000_000 });
    const r1 =
      mem.length > 0 ? vm.memory.map(mem.slice(), { writable: true, name: "test memory" }).address() : 0n;
    return `r0=0x${vm.run(prog, r1, BigInt(mem.length)).toString(16)}`;
  } catch (e) {
    return describeError(e);
  }
}

test("bpf_conformance: every program gives the same r0 (or the same fault) on both tiers", (t) => {
  const cases = conformanceCases();
  if (cases === undefined) return t.skip("the bpf_conformance suite was not found beside the repository");
  assert.ok(cases.length >= 313, `only ${cases.length} conformance programs`);
  const diffs: string[] = [];
  let expected = 0;
  for (const c of cases) {
    const a = conformanceOutcome(hex(c.program_hex), hex(c.mem_hex), "interpreter");
    const b = conformanceOutcome(hex(c.program_hex), hex(c.mem_hex), "js");
    if (a !== b) diffs.push(`${c.name}: interpreter ${a}, compiled ${b}`);
    const ch = conformanceChunked(hex(c.program_hex), hex(c.mem_hex));
    if (a !== ch) diffs.push(`${c.name}: interpreter ${a}, compiled per block ${ch}`);
    if (b === `r0=0x${BigInt(c.result).toString(16)}`) expected++;
  }
  assert.deepEqual(diffs, []);
  assert.equal(expected, cases.length, "the compiled tier also gives the suite's expected r0 everywhere");
});

/**
 * Map handles (the low word of a map pointer) are numbered globally, so two collections loaded
 * from one spec hold different ones; random bytecode that does arithmetic on a map pointer and
 * faults on the result reports different addresses. `maskAddresses` compares fault messages
 * with their hex numbers masked; everything else (code, instruction, count, data) stays exact.
 */
const masked = (s: string) => s.replace(/0x[0-9a-f]+/g, "0x?");

/** Loads both tiers, checks every program got compiled, and compares each run and the maps after it. */
function compareCollections(
  label: string,
  a: VmCollection | string,
  b: VmCollection | string,
  runs: { prog: string; data: Uint8Array; what: string }[],
  diffs: string[],
  maskAddresses = false,
  allCompiled = true,
): void {
  if (typeof a === "string" || typeof b === "string") {
    const sa = typeof a === "string" ? a : "loaded";
    const sb = typeof b === "string" ? b : "loaded";
    if (sa !== sb) diffs.push(`${label}: load: interpreter ${sa}, compiled ${sb}`);
    return;
  }
  for (const p of Object.values(b.programs)) {
    if (allCompiled && !isCompiled(p.compiled)) diffs.push(`${label}: ${p.name} was not compiled`);
  }
  for (const r of runs) {
    const ra = runTier(a, r.prog, r.data);
    const rb = runTier(b, r.prog, r.data);
    if (ra.includes("UNTYPED") || rb.includes("UNTYPED")) diffs.push(`${label}: untyped error: ${ra} ${rb}`);
    if (ra !== rb && !(maskAddresses && masked(ra) === masked(rb)))
      diffs.push(`${label} ${r.prog} ${r.what}:\n  interpreter ${ra}\n  compiled    ${rb}`);
    const ma = dumpMaps(a);
    const mb = dumpMaps(b);
    if (ma !== mb) diffs.push(`${label} ${r.prog} ${r.what}: maps\n  interpreter ${ma}\n  compiled    ${mb}`);
    if (diffs.length > 5) return;
  }
}

test("every repository object's XDP programs agree on the crafted and random packet corpus", () => {
  const rng = new Rng(20261125);
  const packets = [...craftedPackets(), ...Array.from({ length: 40 }, () => randomPacket(rng))];
  const objects = repositoryObjects();
  assert.ok(objects.length >= 20, `only ${objects.length} objects`);
  const diffs: string[] = [];
  let runs = 0;
  for (const obj of objects) {
    let spec: ReturnType<typeof loadCollectionSpec>;
    try {
      spec = loadCollectionSpec(new Uint8Array(readFileSync(obj.path)), { file: obj.path });
    } catch {
      continue; // objects the parser refuses are the object tests' business
    }
    const progs = Object.values(spec.programs)
      .filter((p) => p.type === ProgType.xdp)
      .map((p) => p.name);
    // Default chunks, and a function per block (jumps, calls and returns all cross functions).
    for (const chunkChars of [undefined, 1]) {
      const a = loadTier(spec, "interpreter", obj.wiring);
      const b = loadTier(spec, "js", obj.wiring, {}, chunkChars);
      const list = progs.flatMap((prog) => packets.map((p) => ({ prog, data: p.bytes, what: p.label })));
      compareCollections(`${obj.path} (chunks of ${chunkChars ?? "default"})`, a, b, list, diffs);
      runs += list.length;
      if (typeof a !== "string") a.close();
      if (typeof b !== "string") b.close();
    }
  }
  assert.deepEqual(diffs, []);
  assert.ok(runs > 5000, `only ${runs} runs compared`);
});

test("3000 generated programs agree, with the default budget and with a small random one", () => {
  const rng = new Rng(4242);
  const crafted = craftedPackets().filter((p) => p.bytes.length >= 14 && p.bytes.length < 4000);
  const diffs: string[] = [];
  let faults = 0;
  let tailCalls = 0;
  for (let i = 0; i < 3000; i++) {
    const spec = generateCollection(rng, `g${i}`);
    // Every 3rd collection runs on a budget small enough to stop it somewhere inside: the budget
    // fault must name the same instruction on both tiers.
    const budget = i % 3 === 0 ? rng.range(1, 120) : 1_000_000;
    const a = loadTier(spec, "interpreter", [], { budget });
    // Every other collection runs cut into a function per block.
    const b = loadTier(spec, "js", [], { budget }, i % 2 === 0 ? 1 : undefined);
    // Every 5th: the tail-call targets are left uncompiled; the compiled tier translates them
    // when the first tail call reaches them.
    if (i % 5 === 1 && typeof b !== "string") {
      for (const leaf of ["leaf0", "leaf1"]) {
        const lp = b.programs[leaf]?.compiled;
        if (lp !== undefined) uncompileProgram(lp);
      }
    }
    const data = rng.chance(0.5) ? rng.pick(crafted).bytes : randomPacket(rng).bytes;
    const before = diffs.length;
    const runs = [{ prog: "main", data, what: "" }];
    compareCollections(`g${i} (budget ${budget})`, a, b, runs, diffs, false, i % 5 !== 1);
    if (typeof b !== "string" && diffs.length === before) {
      const r = runTier(b, "main", data);
      if (r.includes('"fault":"')) faults++;
      if (r.includes('"chain":["main","')) tailCalls++;
    }
    if (diffs.length > 5) break;
  }
  assert.deepEqual(diffs, []);
  assert.ok(faults > 200, `only ${faults} runs faulted (the budget cases should)`);
  assert.ok(tailCalls > 200, `only ${tailCalls} runs made tail calls`);
});

function bytecodeSpec(code: Uint8Array) {
  return bytecodeCollection(decodeInstructions(code, true, { program: "fuzz" }));
}

test("8000 random bytecode programs: only typed errors, and the same result or fault on both tiers", () => {
  const rng = new Rng(20261125);
  const diffs: string[] = [];
  let loaded = 0;
  let faulted = 0;
  for (let i = 0; i < 8000; i++) {
    const code = randomBytecode(rng);
    const packet = fuzzPacket(rng);
    let spec: ReturnType<typeof bytecodeSpec>;
    try {
      spec = bytecodeSpec(code);
    } catch (e) {
      assert.ok(!describeError(e).startsWith("UNTYPED"), describeError(e));
      continue;
    }
    const a = loadTier(spec, "interpreter", [], { budget: FUZZ_BUDGET });
    const b = loadTier(spec, "js", [], { budget: FUZZ_BUDGET });
    for (const x of [a, b]) if (typeof x === "string") assert.ok(!x.startsWith("UNTYPED"), x);
    if (typeof b !== "string") {
      loaded++;
      if (runTier(b, "fuzz", packet).includes('"fault":"')) faulted++;
      // Fresh collections for the comparison (the run above changed b's maps).
      const a2 = loadTier(spec, "interpreter", [], { budget: FUZZ_BUDGET });
      const b2 = loadTier(spec, "js", [], { budget: FUZZ_BUDGET }, i % 2 === 0 ? 1 : undefined);
      const label = `bytecode #${i} ${Buffer.from(code).toString("hex")}`;
      compareCollections(label, a2, b2, [{ prog: "fuzz", data: packet, what: "" }], diffs, true);
    } else compareCollections(`bytecode #${i}`, a, b, [], diffs);
    if (diffs.length > 5) break;
  }
  assert.deepEqual(diffs, []);
  assert.ok(loaded > 800, `only ${loaded} random programs passed validation`);
  assert.ok(faulted > 100, `only ${faulted} random programs faulted`);
});

// ---- budget, frames and the interpreter's own unit programs ----

const EXIT = I(0x95);

function outcome(prog: Program, budget: number, compiled: boolean, chunkChars?: number): string {
  const vm = new Interpreter({ budget });
  uncompileProgram(prog);
  if (compiled) compileProgram(prog, chunkChars === undefined ? {} : { chunkChars });
  try {
    const r0 = vm.run(prog);
    return `r0=${r0} executed=${vm.executed}`;
  } catch (e) {
    return `${describeError(e)} executed=${vm.executed}`;
  }
}

/** Both tiers at every budget from 1 to `max`: same r0 or fault, same instruction count. */
function checkAllBudgets(insns: Instruction[], max: number): void {
  const prog = loadProgram(insns);
  for (let k = 1; k <= max; k++) {
    const a = outcome(prog, k, false);
    assert.equal(outcome(prog, k, true), a, `budget ${k}`);
    assert.equal(outcome(prog, k, true, 1), a, `budget ${k}, a function per block`);
  }
}

test("an infinite loop ends in a budget fault at the same instruction, with the same count", () => {
  // 0: r0 = 0; 1: r0 += 1; 2: goto 1
  const prog = loadProgram([I(0xb7, 0, 0, 0, 0), I(0x07, 0, 0, 0, 1), I(0x05, 0, 0, -2, 0), EXIT]);
  for (const budget of [1, 2, 3, 1000, 1001, 1002, 5_000_000]) {
    const vm = new Interpreter({ budget });
    compileProgram(prog);
    assert.ok(isCompiled(prog));
    let fault: VmFault | undefined;
    try {
      vm.run(prog);
    } catch (e) {
      assert.ok(isVmFault(e));
      fault = e as VmFault;
    }
    assert.equal(faultCode(fault), "budget", `budget ${budget}`);
    assert.equal(vm.executed, budget);
    // The interpreter stops at the same instruction.
    assert.equal(outcome(prog, budget, false), outcome(prog, budget, true));
  }
});

test("every budget stops both tiers at the same instruction: a loop with a lddw, long blocks, a fault in a block", () => {
  const loop = [
    I(0xb7, 0, 0, 0, 0),
    I(0xb7, 1, 0, 0, 5),
    I(0x0f, 0, 1),
    I(0x17, 1, 0, 0, 1),
    I(0x55, 1, 0, -3, 0),
    I(0x18, 2, 0, 0, 7),
    I(0x00, 0, 0, 0, 0),
    EXIT,
  ];
  checkAllBudgets(loop, 25);
  const long: Instruction[] = [];
  for (let i = 0; i < 300; i++) long.push(I(0x07, 0, 0, 0, 1));
  long.push(EXIT);
  checkAllBudgets(long, 302);
  // main calls sub, which faults in the middle of a block.
  checkAllBudgets(
    [
      I(0xb7, 1, 0, 0, 0),
      I(0x85, 0, 1, 0, 1),
      EXIT,
      I(0xb7, 0, 0, 0, 1),
      I(0x61, 0, 1, 0, 0),
      I(0xb7, 0, 0, 0, 2),
      EXIT,
    ],
    6,
  );
});

test("bpf-to-bpf calls: callee-saved registers, stack frames and r10 agree at every budget", () => {
  // main: r6 = 7; *(u64 *)(r10 - 8) = r6; call f; r0 += r6; r1 = *(u64 *)(r10 - 8); r0 += r1; exit
  // f:    r6 = 100; *(u64 *)(r10 - 8) = r6; r1 = 3; call g; r0 += r6; exit
  // g:    r0 = r1; r0 *= 1000; r6 = -1; exit
  const insns = [
    I(0xb7, 6, 0, 0, 7),
    I(0x7b, 10, 6, -8, 0),
    I(0x85, 0, 1, 0, 4),
    I(0x0f, 0, 6),
    I(0x79, 1, 10, -8, 0),
    I(0x0f, 0, 1),
    EXIT,
    I(0xb7, 6, 0, 0, 100),
    I(0x7b, 10, 6, -8, 0),
    I(0xb7, 1, 0, 0, 3),
    I(0x85, 0, 1, 0, 2),
    I(0x0f, 0, 6),
    EXIT,
    I(0xbf, 0, 1),
    I(0x27, 0, 0, 0, 1000),
    I(0xb7, 6, 0, 0, -1),
    EXIT,
  ];
  assert.equal(outcome(loadProgram(insns), 1000, true), "r0=3114 executed=17");
  checkAllBudgets(insns, 20);
});

test("a program too large for maxSlots stays on the interpreter, and still runs", () => {
  const insns: Instruction[] = [];
  for (let i = 0; i < 50; i++) insns.push(I(0x07, 0, 0, 0, 2));
  insns.push(EXIT);
  const prog = loadProgram(insns);
  assert.equal(compileProgram(prog, { maxSlots: 10 }), false);
  assert.equal(isCompiled(prog), false);
  assert.equal(new Interpreter().run(prog), 100n);
  assert.equal(compileProgram(prog), true);
  assert.equal(new Interpreter().run(prog), 100n);
});
