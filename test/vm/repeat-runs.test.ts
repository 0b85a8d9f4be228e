import assert from "node:assert/strict";
import { test } from "node:test";
import type { Instruction } from "../../src/asm/instruction.js";
import { HelperId } from "../../src/abi/helper-id.js";
import type { VmTierOption } from "../../src/vm/vm-collection.js";
import { bytecodeCollection } from "../fuzz/harness.js";
import { insn as I } from "../support/insn.js";
import { describeError, loadTier } from "./compiler-support.js";

// run(packet, { repeat }) stops at the first fault: its durationNs is the mean over the runs
// made (the faulting one included) and `runs` says how many, on every tier — the wasm tier's
// repeat loop runs inside WebAssembly and reports the run it is making.

const EXIT = I(0x95);
const TIERS: VmTierOption[] = ["interpreter", "js", "compiled"];

/** Counts runs in array[0]; on run 5 does `fault` (instructions from index 6 on, then r0 = 2; exit). */
function faultOnRun5(fault: Instruction[]): Instruction[] {
  return [
    I(0x18, 6, 2, 0, 0), // r6 = &array[0] (an lddw at insn 0 refers to the array)
    I(0x00),
    I(0x79, 7, 6, 0), // r7 = *(u64 *)(r6 + 0)
    I(0x07, 7, 0, 0, 1),
    I(0x7b, 6, 7, 0),
    I(0x55, 7, 0, fault.length, 5), // if r7 != 5 goto out
    ...fault,
    I(0xb7, 0, 0, 0, 2), // out:
    EXIT,
  ];
}

/** Each tier's (retval, durationNs, runs, fault) of one run(repeat 10); the clock moves 1000 ns a call. */
function repeat10(insns: Instruction[]): string[] {
  return TIERS.map((tier) => {
    let t = 0n;
    const clock = () => {
      t += 1000n;
      return t;
    };
    const c = loadTier(bytecodeCollection(insns), tier, [], { clock });
    assert.ok(typeof c !== "string", String(c));
    try {
      const p = c.programs.fuzz;
      assert.ok(p !== undefined);
      c.runSync(p, new Uint8Array(64), {}); // prepares, apart from the timed call
      const r = c.runSync(p, new Uint8Array(64), { repeat: 10 });
      const fault = r.fault === undefined ? "none" : describeError(r.fault).slice(0, 40);
      return `${tier}: retval ${r.retval} durationNs ${r.durationNs} runs ${r.runs ?? "-"} fault ${fault}`;
    } finally {
      c.close();
    }
  });
}

test("a repeat stopped by a fault on its 4th run reports the mean over 4 runs, on every tier", () => {
  // The counter reaches 5 on the 4th run of the repeat (the preparing run counted 1).
  const outcomes = repeat10(
    faultOnRun5([
      I(0x61, 2, 1, 0), // r2 = ctx->data
      I(0x71, 0, 2, 4000), // r0 = *(u8 *)(r2 + 4000): past the packet
    ]),
  );
  for (const o of outcomes) assert.match(o, /retval 0 durationNs 250 runs 4 fault \["VmFault"/, o);
});

test("a fault a helper throws inside the wasm tier's repeat loop counts the runs made too", () => {
  // bpf_map_update_elem(&hash, NULL, NULL, 0): the helper faults reading the key.
  const outcomes = repeat10(
    faultOnRun5([
      I(0xb7, 2, 0, 0, 0),
      I(0x18, 1, 1, 0, 0), // r1 = &hash (an lddw at insn 7 refers to the hash)
      I(0x00),
      I(0xb7, 3, 0, 0, 0),
      I(0xb7, 4, 0, 0, 0),
      I(0x85, 0, 0, 0, HelperId.map_update_elem),
    ]),
  );
  for (const o of outcomes) assert.match(o, /retval 0 durationNs 250 runs 4 fault \["VmFault"/, o);
});

test("a repeat with no fault is the mean over all its runs, with no runs field", () => {
  const outcomes = repeat10([I(0xb7, 0, 0, 0, 2), EXIT]);
  for (const o of outcomes) assert.match(o, /retval 2 durationNs 100 runs - fault none/, o);
});
