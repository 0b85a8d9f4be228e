import { test } from "node:test";
import assert from "node:assert/strict";
import type { Instruction } from "../../src/asm/instruction.js";
import { isVmFault, type VmFault } from "../../src/errors.js";
import { faultCode } from "../../src/vm/fault.js";
import { Interpreter, loadProgram, type Program } from "../../src/vm/interpreter.js";
import { insn as I } from "../support/insn.js";

// The budget is charged per straight-line block for speed; these pin down that the count of
// executed instructions and the place a budget fault stops are still exact, instruction by
// instruction, against traces worked out by hand.

const EXIT = I(0x95);

function runWith(budget: number, prog: Program): { executed: number; fault?: VmFault } {
  const vm = new Interpreter({ budget });
  try {
    vm.run(prog);
    return { executed: vm.executed };
  } catch (e) {
    assert.ok(isVmFault(e), `expected a VmFault, got ${String(e)}`);
    return { executed: vm.executed, fault: e as VmFault };
  }
}

/** Checks every budget 1..trace.length+1 against the slots the run visits, in order. */
function checkTrace(prog: Program, trace: readonly number[], endFault?: string): void {
  for (let k = 1; k <= trace.length + 1; k++) {
    const r = runWith(k, prog);
    if (k < trace.length) {
      assert.equal(faultCode(r.fault), "budget", `budget ${k}: ${r.fault?.message}`);
      assert.equal(r.executed, k, `budget ${k}: executed`);
      assert.equal(r.fault?.context.insn, trace[k], `budget ${k}: stops at the next instruction`);
    } else if (endFault !== undefined) {
      assert.equal(faultCode(r.fault), endFault, `budget ${k}`);
      assert.equal(r.executed, trace.length, `budget ${k}: the faulting instruction counts`);
      assert.equal(r.fault?.context.insn, trace.at(-1));
    } else {
      assert.equal(r.fault, undefined, `budget ${k}: ${r.fault?.message}`);
      assert.equal(r.executed, trace.length, `budget ${k}: executed`);
    }
  }
}

test("a loop with a lddw: every budget stops at exactly the next instruction", () => {
  const n = 5;
  // 0: r0 = 0; 1: r1 = n; 2: r0 += r1; 3: r1 -= 1; 4: if r1 != 0 goto 2; 5-6: lddw r2; 7: exit
  const prog = loadProgram([
    I(0xb7, 0, 0, 0, 0),
    I(0xb7, 1, 0, 0, n),
    I(0x0f, 0, 1),
    I(0x17, 1, 0, 0, 1),
    I(0x55, 1, 0, -3, 0),
    I(0x18, 2, 0, 0, 7),
    I(0x00, 0, 0, 0, 0),
    EXIT,
  ]);
  const trace = [0, 1];
  for (let i = 0; i < n; i++) trace.push(2, 3, 4);
  trace.push(5, 7);
  assert.equal(trace.length, 3 * n + 4);
  checkTrace(prog, trace);
});

test("blocks longer than the longest charged at once (127) still stop exactly", () => {
  const insns: Instruction[] = [];
  for (let i = 0; i < 300; i++) insns.push(I(0x07, 0, 0, 0, 1));
  insns.push(EXIT);
  const prog = loadProgram(insns);
  checkTrace(
    prog,
    insns.map((_, i) => i),
  );
  const vm = new Interpreter();
  assert.equal(vm.run(prog), 300n);
});

test("a fault inside a block counts the faulting instruction and none after it", () => {
  // main: 0 r1 = 0; 1 call sub; 2 exit.  sub: 3 r0 = 1; 4 r0 = *(u32 *)(r1 + 0) (no memory); 5 r0 = 2; 6 exit
  const prog = loadProgram([
    I(0xb7, 1, 0, 0, 0),
    I(0x85, 0, 1, 0, 1),
    EXIT,
    I(0xb7, 0, 0, 0, 1),
    I(0x61, 0, 1, 0, 0),
    I(0xb7, 0, 0, 0, 2),
    EXIT,
  ]);
  checkTrace(prog, [0, 1, 3, 4], "out-of-bounds");
});
