import { test } from "node:test";
import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { decodeInstructions, type Instruction } from "../../src/asm/instruction.js";
import { loadCollectionSpec } from "../../src/object/load-collection-spec.js";
import { ProgType } from "../../src/abi/index.js";
import { uncompileProgram } from "../../src/vm/compiler.js";
import { runConformance } from "../../src/vm/conformance.js";
import { Interpreter, loadProgram, type Program } from "../../src/vm/interpreter.js";
import type { VmCollection } from "../../src/vm/vm-collection.js";
import { runtimeOf } from "../../src/vm/wasm/runtime.js";
import { compileWasm, isWasm, wasmStats } from "../../src/vm/wasm/wasm-tier.js";
import { craftedPackets, randomPacket } from "../differential/corpus.js";
import { generateCollection } from "../differential/generate.js";
import { repositoryObjects } from "../differential/objects.js";
import { Rng } from "../differential/rng.js";
import { bytecodeCollection, FUZZ_BUDGET, fuzzPacket, randomBytecode } from "../fuzz/harness.js";
import { EXIT, insn as I, SELF_TAIL_CALL } from "../support/insn.js";
import { conformanceCases } from "../support/shared.js";
import { describeError, dumpMaps, loadTier, runTier } from "./compiler-support.js";

// The wasm tier (src/vm/wasm/) must agree with the interpreter (the reference) on everything a
// run shows, as the compiled tier must: r0, verdict, output packet, trace, chain, fault (code,
// program, instruction, message), the instruction count and the maps afterwards.

const hex = (s: string): Uint8Array => Uint8Array.from(Buffer.from(s.replace(/\s+/g, ""), "hex"));

function conformanceOutcome(prog: Uint8Array, mem: Uint8Array, tier: "interpreter" | "wasm"): string {
  try {
    return `r0=0x${runConformance(prog, mem, { tier }).toString(16)}`;
  } catch (e) {
    return describeError(e);
  }
}

test("wasm tier: every bpf_conformance program gives the interpreter's r0 (or fault)", (t) => {
  const cases = conformanceCases();
  if (cases === undefined) return t.skip("the bpf_conformance suite was not found beside the repository");
  assert.ok(cases.length >= 313, `only ${cases.length} conformance programs`);
  const diffs: string[] = [];
  let expected = 0;
  for (const c of cases) {
    const a = conformanceOutcome(hex(c.program_hex), hex(c.mem_hex), "interpreter");
    const b = conformanceOutcome(hex(c.program_hex), hex(c.mem_hex), "wasm");
    if (a !== b) diffs.push(`${c.name}: interpreter ${a}, wasm ${b}`);
    if (b === `r0=0x${BigInt(c.result).toString(16)}`) expected++;
  }
  assert.deepEqual(diffs, []);
  assert.equal(expected, cases.length, "the wasm tier also gives the suite's expected r0 everywhere");
});

const masked = (s: string) => s.replace(/0x[0-9a-f]+/g, "0x?");

function compareCollections(
  label: string,
  a: VmCollection | string,
  b: VmCollection | string,
  runs: { prog: string; data: Uint8Array; what: string }[],
  diffs: string[],
  maskAddresses = false,
  allWasm = true,
): void {
  if (typeof a === "string" || typeof b === "string") {
    const sa = typeof a === "string" ? a : "loaded";
    const sb = typeof b === "string" ? b : "loaded";
    if (sa !== sb) diffs.push(`${label}: load: interpreter ${sa}, wasm ${sb}`);
    return;
  }
  for (const p of Object.values(b.programs)) {
    if (allWasm && !isWasm(p.compiled)) diffs.push(`${label}: ${p.name} is not on the wasm tier`);
  }
  if (runtimeOf(b.interpreter) === undefined) diffs.push(`${label}: no wasm memory (the JS tier ran it)`);
  for (const r of runs) {
    const ra = runTier(a, r.prog, r.data);
    const rb = runTier(b, r.prog, r.data);
    if (ra.includes("UNTYPED") || rb.includes("UNTYPED")) diffs.push(`${label}: untyped error: ${ra} ${rb}`);
    if (ra !== rb && !(maskAddresses && masked(ra) === masked(rb)))
      diffs.push(`${label} ${r.prog} ${r.what}:\n  interpreter ${ra}\n  wasm        ${rb}`);
    const ma = dumpMaps(a);
    const mb = dumpMaps(b);
    if (ma !== mb) diffs.push(`${label} ${r.prog} ${r.what}: maps\n  interpreter ${ma}\n  wasm        ${mb}`);
    if (diffs.length > 5) return;
  }
}

test("wasm tier: every repository object's XDP programs agree on the crafted and random packet corpus", () => {
  const rng = new Rng(20261125);
  const packets = [...craftedPackets(), ...Array.from({ length: 40 }, () => randomPacket(rng))];
  const objects = repositoryObjects();
  assert.ok(objects.length >= 20, `only ${objects.length} objects`);
  const diffs: string[] = [];
  let runs = 0;
  const handOffs = wasmStats.handOffs;
  for (const obj of objects) {
    let spec: ReturnType<typeof loadCollectionSpec>;
    try {
      spec = loadCollectionSpec(new Uint8Array(readFileSync(obj.path)), { file: obj.path });
    } catch {
      continue;
    }
    const progs = Object.values(spec.programs)
      .filter((p) => p.type === ProgType.xdp)
      .map((p) => p.name);
    const a = loadTier(spec, "interpreter", obj.wiring);
    const b = loadTier(spec, "wasm", obj.wiring);
    const list = progs.flatMap((prog) => packets.map((p) => ({ prog, data: p.bytes, what: p.label })));
    compareCollections(obj.path, a, b, list, diffs);
    runs += list.length;
    if (typeof a !== "string") a.close();
    if (typeof b !== "string") b.close();
  }
  assert.deepEqual(diffs, []);
  assert.ok(runs > 2500, `only ${runs} runs compared`);
  // Most runs end in wasm; the rest (faults: short packets read past their end) go on in JS.
  const handed = wasmStats.handOffs - handOffs;
  assert.ok(handed < runs / 4, `${handed} of ${runs} runs were handed to the JS tier`);
});

test("wasm tier: 3000 generated programs agree, with the default budget and with a small random one", async () => {
  const rng = new Rng(4242);
  const crafted = craftedPackets().filter((p) => p.bytes.length >= 14 && p.bytes.length < 4000);
  const diffs: string[] = [];
  let faults = 0;
  let tailCalls = 0;
  for (let i = 0; i < 3000; i++) {
    if (i % 100 === 0) await breathe();
    const spec = generateCollection(rng, `g${i}`);
    const budget = i % 3 === 0 ? rng.range(1, 120) : 1_000_000;
    const a = loadTier(spec, "interpreter", [], { budget });
    const b = loadTier(spec, "wasm", [], { budget });
    // Every 5th: the tail-call targets are left off the wasm tier: the run goes on in the JS tier.
    if (i % 5 === 1 && typeof b !== "string") {
      for (const leaf of ["leaf0", "leaf1"]) {
        const lp = b.programs[leaf]?.compiled;
        if (lp !== undefined) uncompileProgram(lp);
      }
    }
    const data = rng.chance(0.5) ? rng.pick(crafted).bytes : randomPacket(rng).bytes;
    const before = diffs.length;
    compareCollections(
      `g${i} (budget ${budget})`,
      a,
      b,
      [{ prog: "main", data, what: "" }],
      diffs,
      false,
      i % 5 !== 1,
    );
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

/**
 * Lets V8 reclaim the WebAssembly memories of the collections made so far: the map handle table's
 * WeakRefs keep their targets (and the wasm memories array maps live in) until the job ends.
 */
const breathe = () => new Promise<void>((resolve) => setImmediate(resolve));

test("wasm tier: 8000 random bytecode programs give the interpreter's result or fault", async () => {
  const rng = new Rng(20261125);
  const diffs: string[] = [];
  let loaded = 0;
  let faulted = 0;
  for (let i = 0; i < 8000; i++) {
    if (i % 100 === 0) await breathe();
    const code = randomBytecode(rng);
    const packet = fuzzPacket(rng);
    let spec: ReturnType<typeof bytecodeCollection>;
    try {
      spec = bytecodeCollection(decodeInstructions(code, true, { program: "fuzz" }));
    } catch {
      continue;
    }
    const a = loadTier(spec, "interpreter", [], { budget: FUZZ_BUDGET });
    const b = loadTier(spec, "wasm", [], { budget: FUZZ_BUDGET });
    if (typeof b !== "string") {
      loaded++;
      if (runTier(b, "fuzz", packet).includes('"fault":"')) faulted++;
      const a2 = loadTier(spec, "interpreter", [], { budget: FUZZ_BUDGET });
      const b2 = loadTier(spec, "wasm", [], { budget: FUZZ_BUDGET });
      const label = `bytecode #${i} ${Buffer.from(code).toString("hex")}`;
      compareCollections(label, a2, b2, [{ prog: "fuzz", data: packet, what: "" }], diffs, true);
    } else compareCollections(`bytecode #${i}`, a, b, [], diffs);
    if (diffs.length > 5) break;
  }
  assert.deepEqual(diffs, []);
  assert.ok(loaded > 800, `only ${loaded} random programs passed validation`);
  assert.ok(faulted > 100, `only ${faulted} random programs faulted`);
});

// ---- budget, frames, faults ----

function outcome(prog: Program, budget: number, wasm: boolean, mem?: Uint8Array): string {
  const vm = new Interpreter({ budget });
  uncompileProgram(prog);
  if (wasm) compileWasm(prog);
  try {
    const r1 =
      mem === undefined ? 0n : vm.memory.map(mem.slice(), { writable: true, name: "test memory" }).address();
    const r0 = vm.run(prog, r1);
    return `r0=${r0} executed=${vm.executed}`;
  } catch (e) {
    return `${describeError(e)} executed=${vm.executed}`;
  }
}

function checkAllBudgets(insns: Instruction[], max: number): void {
  const prog = loadProgram(insns);
  for (let k = 1; k <= max; k++) assert.equal(outcome(prog, k, true), outcome(prog, k, false), `budget ${k}`);
}

test("wasm tier: every budget stops it at the interpreter's instruction (loops, lddw, long blocks, calls)", () => {
  checkAllBudgets(
    [
      I(0xb7, 0, 0, 0, 0),
      I(0xb7, 1, 0, 0, 5),
      I(0x0f, 0, 1),
      I(0x17, 1, 0, 0, 1),
      I(0x55, 1, 0, -3, 0),
      I(0x18, 2, 0, 0, 7),
      I(0x00, 0, 0, 0, 0),
      EXIT,
    ],
    25,
  );
  const long: Instruction[] = [];
  for (let i = 0; i < 300; i++) long.push(I(0x07, 0, 0, 0, 1));
  long.push(EXIT);
  checkAllBudgets(long, 302);
  // bpf-to-bpf calls: callee-saved registers, frames, r10.
  const calls = [
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
  assert.equal(outcome(loadProgram(calls), 1000, true), "r0=3114 executed=17");
  checkAllBudgets(calls, 20);
});

test("wasm tier: faults name the interpreter's instruction, message and count", () => {
  const cases: [string, Instruction[], Uint8Array | undefined][] = [
    // out-of-bounds read past a 16-byte region, in the middle of a block
    [
      "out-of-bounds load",
      [I(0xb7, 0, 0, 0, 1), I(0x79, 0, 1, 12, 0), I(0xb7, 0, 0, 0, 2), EXIT],
      new Uint8Array(16),
    ],
    // a store to a null pointer (what a missed NULL check on a map value does)
    ["null store", [I(0xb7, 1, 0, 0, 0), I(0x62, 1, 0, 0, 5), EXIT], undefined],
    ["null load", [I(0xb7, 2, 0, 0, 0), I(0x61, 0, 2, 4, 0), EXIT], undefined],
  ];
  for (const [what, insns, mem] of cases) {
    const prog = loadProgram(insns);
    const a = outcome(prog, 1000, false, mem);
    const b = outcome(prog, 1000, true, mem);
    assert.ok(a.includes('"VmFault"'), `${what}: the interpreter faults (${a})`);
    assert.equal(b, a, what);
  }
});

test("wasm tier: division and modulo by 0 and -1, 32 and 64 bits, signed and not, agree", () => {
  const values = [0, 1, -1, 7, -7, 0x7fffffff, -0x80000000];
  const ops = [0x3f, 0x9f, 0x3c, 0x9c];
  let checked = 0;
  for (const op of ops) {
    for (const signed of [0, 1]) {
      for (const a of values) {
        for (const bv of values) {
          // r0 = a (64-bit: a << 32 | a, so high words count), r1 = b; r0 op= r1; and with an immediate b
          const wide = (op & 7) === 7;
          const setup = [
            I(0xb7, 0, 0, 0, a),
            I(0xb7, 2, 0, 0, a),
            I(0x67, 2, 0, 0, 32),
            I(0x4f, 0, 2),
            I(0xb7, 1, 0, 0, bv),
          ];
          const progs = [
            [...setup, I(op, 0, 1, signed, 0), EXIT],
            [...setup, I(op & ~8, 0, 0, signed, bv), EXIT],
          ];
          if (!wide) progs.push([I(0xb7, 0, 0, 0, a), I(0xb7, 1, 0, 0, bv), I(op, 0, 1, signed, 0), EXIT]);
          for (const insns of progs) {
            const prog = loadProgram(insns);
            assert.equal(
              outcome(prog, 100, true),
              outcome(prog, 100, false),
              `op 0x${op.toString(16)} s${signed} ${a} ${bv}`,
            );
            checked++;
          }
        }
      }
    }
  }
  assert.ok(checked > 300);
});

test("wasm tier: a chain of tail calls stops at the kernel's limit of 33, as on the interpreter", () => {
  // tail_call.bpf.o-like: one program that tail-calls itself through slot 0 forever.
  const spec = bytecodeCollection(SELF_TAIL_CALL.map((i) => ({ ...i })));
  const a = loadTier(spec, "interpreter");
  const b = loadTier(spec, "wasm");
  assert.ok(typeof a !== "string" && typeof b !== "string", `${a} ${b}`);
  const pkt = new Uint8Array(64);
  const ra = runTier(a, "fuzz", pkt);
  const rb = runTier(b, "fuzz", pkt);
  assert.equal(rb, ra);
  assert.equal((JSON.parse(rb) as { chain: string[] }).chain.length, 34, rb);
  assert.ok(isWasm(b.programs.fuzz?.compiled as Program));
});
