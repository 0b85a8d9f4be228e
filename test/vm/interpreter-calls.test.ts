import { test } from "node:test";
import assert from "node:assert/strict";
import type { Instruction } from "../../src/asm/instruction.js";
import { isVerifierError, isVmFault } from "../../src/errors.js";
import { faultCode } from "../../src/vm/fault.js";
import { Interpreter, loadProgram, type HelperFn, type Program } from "../../src/vm/interpreter.js";
import { insn as I } from "../support/insn.js";

// bpf-to-bpf calls, helpers, early exit and tail calls.

const EXIT = I(0x95);
const CALL = (imm: number) => I(0x85, 0, 0, 0, imm);
const LOCAL = (rel: number) => I(0x85, 0, 1, 0, rel);

test("bpf-to-bpf call: r6-r9 callee-saved, own stack and r10, r0 returned", () => {
  const prog = loadProgram([
    I(0xb7, 6, 0, 0, 6), // r6 = 6
    I(0x7a, 10, 0, -8, 100), // caller's stack slot = 100
    I(0xb7, 1, 0, 0, 5), // r1 = 5 (argument)
    I(0xbf, 7, 10), // r7 = caller's r10
    LOCAL(6), // call sub (insn 11)
    I(0x79, 2, 10, -8), // r2 = caller's slot (must still be 100)
    I(0x0f, 0, 2), // r0 += r2
    I(0x0f, 0, 6), // r0 += r6 (must still be 6)
    I(0x1f, 7, 10), // r7 -= r10: 0 if r10 was restored
    I(0x0f, 0, 7),
    EXIT,
    // sub: clobbers r6, writes its own stack slot, returns r1 * 2 + (r10 != caller r10)
    I(0xb7, 6, 0, 0, 999),
    I(0x7a, 10, 0, -8, 7),
    I(0xbf, 0, 1),
    I(0x27, 0, 0, 0, 2),
    I(0x5d, 10, 7, 1), // if r10 != caller's r10 skip the next
    I(0x07, 0, 0, 0, 1000),
    EXIT,
  ]);
  assert.deepEqual(prog.shape.subprograms, [0, 11]);
  assert.equal(new Interpreter().run(prog), 10n + 100n + 6n);
});

test("call chains: 8 frames are allowed, 9 and recursion are refused at load", () => {
  // Subprogram k calls k+1; the last returns 1. n subprograms = n frames.
  const chain = (n: number): Instruction[] => {
    const code: Instruction[] = [];
    for (let k = 0; k < n - 1; k++) code.push(LOCAL(1), EXIT);
    code.push(I(0xb7, 0, 0, 0, 1), EXIT);
    return code;
  };
  const p = loadProgram(chain(8));
  assert.equal(p.shape.maxFrames, 8);
  assert.equal(new Interpreter().run(p), 1n);
  assert.throws(
    () => loadProgram(chain(9)),
    (e: unknown) => isVerifierError(e) && /9 frames/.test(String(e)),
  );
  assert.throws(
    () => loadProgram([LOCAL(1), EXIT, LOCAL(-1), EXIT]),
    (e: unknown) => isVerifierError(e) && /recursive/.test(String(e)),
  );
});

test("combined stack depth over a call chain is limited to 512 bytes", () => {
  // main uses 512 bytes; calling a subprogram that uses 8 more is refused.
  assert.throws(
    () => loadProgram([I(0x7a, 10, 0, -512, 0), LOCAL(1), EXIT, I(0x7a, 10, 0, -8, 0), I(0xb7, 0), EXIT]),
    (e: unknown) => isVerifierError(e) && /combined stack/.test(String(e)),
  );
  // 256 + 256 fits.
  const ok = loadProgram([
    I(0x7a, 10, 0, -256, 0),
    LOCAL(1),
    EXIT,
    I(0x7a, 10, 0, -256, 0),
    I(0xb7, 0),
    EXIT,
  ]);
  assert.deepEqual(ok.shape.stackDepth, [256, 256]);
});

test("helpers: arguments, number/bigint/pointer returns, unknown helpers refused with name and id", () => {
  const seen: bigint[] = [];
  const helpers = (id: number): HelperFn | undefined => {
    if (id === 1) {
      return (vm) => {
        for (let i = 1; i <= 5; i++) seen.push(vm.arg(i));
        return -2; // -ENOENT, sign-extended
      };
    }
    if (id === 2) return () => 0x1_0000_0001n;
    return undefined;
  };
  const args = [1, 2, 3, 4, 5].map((r) => I(0xb7, r, 0, 0, r === 5 ? -1 : r * 10));
  const vm = new Interpreter();
  assert.equal(vm.run(loadProgram([...args, CALL(1), EXIT], { helpers })), 0xfffffffffffffffen);
  assert.deepEqual(seen, [10n, 20n, 30n, 40n, 0xffffffffffffffffn]);
  assert.equal(vm.run(loadProgram([CALL(2), EXIT], { helpers })), 0x100000001n);
  assert.throws(
    () => loadProgram([CALL(7), EXIT], { helpers, name: "p" }),
    (e: unknown) =>
      isVerifierError(e) && /bpf_get_prandom_u32 \(id 7\)/.test(String(e)) && /program p/.test(String(e)),
  );

  // A helper returning a pointer into a region (like map_lookup_elem) that the program then reads.
  const value = Uint8Array.from([0x2a, 0, 0, 0]);
  const vm2 = new Interpreter();
  const region = vm2.memory.map(value, { writable: true, name: "map value" });
  const lookup: HelperFn = (m) => {
    m.setR0Pointer(region, 0);
    return undefined;
  };
  const p = loadProgram([CALL(1), I(0x15, 0, 0, 3, 0), I(0xc3, 0, 1, 0, 0), I(0x61, 0, 0, 0), EXIT, EXIT], {
    helpers: (id) => (id === 1 ? lookup : undefined),
  });
  vm2.lo[1] = 1; // r1 = 1: the atomic add below adds it to the value
  vm2.exec(p);
  assert.equal(vm2.lo[0], 0x2b);
  assert.equal(value[0], 0x2b);
});

test("a helper that throws becomes a VmFault at the call instruction", () => {
  const p = loadProgram([I(0xb7, 0), CALL(9), EXIT], {
    name: "boom",
    helpers: () => () => {
      throw new TypeError("bad");
    },
  });
  try {
    new Interpreter().run(p);
    assert.fail("no fault");
  } catch (e) {
    assert.ok(isVmFault(e));
    assert.equal(faultCode(e), "helper");
    assert.equal((e as { context: { insn: number } }).context.insn, 1);
  }
});

test("vm.exit ends the whole run from inside a subprogram", () => {
  const p = loadProgram([LOCAL(2), I(0xb7, 0, 0, 0, 1), EXIT, CALL(1), I(0xb7, 0, 0, 0, 2), EXIT], {
    helpers: () => (vm) => {
      vm.exit(77n);
      return undefined;
    },
  });
  assert.equal(new Interpreter().run(p), 77n);
});

test("tail calls replace the running program in place, keep r1, and never return", () => {
  // The target returns *(u32 *)(r1 + 0) + 1000, proving r1 survived.
  const target = loadProgram([I(0x61, 0, 1, 0), I(0x07, 0, 0, 0, 1000), EXIT], { name: "target" });
  let slot: Program | undefined = target;
  const tailCall: HelperFn = (vm) => {
    if (slot === undefined || vm.tailCalls >= 33) return -2;
    vm.tailCall(slot);
    return 0;
  };
  const helpers = (id: number) => (id === 12 ? tailCall : undefined);
  const main = loadProgram(
    [I(0xbf, 6, 1), I(0xb7, 1, 0, 0, 0), I(0xbf, 1, 6), CALL(12), I(0xb7, 0, 0, 0, 1), EXIT],
    { name: "main", helpers },
  );
  const vm = new Interpreter();
  const ctx = vm.memory.mapRegion(Uint8Array.from([5, 0, 0, 0]), { name: "ctx" });
  assert.equal(vm.run(main, ctx), 1005n);
  assert.equal(vm.tailCalls, 1);
  assert.equal(vm.current?.name, "target");
  // An empty slot: the helper returns and execution continues after the call.
  slot = undefined;
  assert.equal(vm.run(main, ctx), 1n);

  // A program that tail-calls itself stops after 33 tail calls (the helper enforces the limit),
  // and the budget counts every instruction across them.
  const selfRef: { p?: Program } = {};
  const self = loadProgram([I(0x07, 0, 0, 0, 1), CALL(12), EXIT], {
    name: "self",
    helpers: (id) =>
      id === 12
        ? (m) => {
            if (m.tailCalls < 33) m.tailCall(selfRef.p as Program);
            return undefined;
          }
        : undefined,
  });
  selfRef.p = self;
  const vm2 = new Interpreter();
  vm2.run(self);
  assert.equal(vm2.tailCalls, 33);
  // 33 runs stop at the call (2 insns each); the last runs all 3.
  assert.equal(vm2.executed, 33 * 2 + 3);
});

test("a tail call made inside a subprogram returns to that subprogram's caller", () => {
  // The kernel does this too: the target takes over the subprogram's frame, so its exit returns
  // to main. Checked on Linux 6.18 (x86-64 JIT) with an XDP main that returns sub() + 2 where sub
  // tail-calls a target returning 40: BPF_PROG_TEST_RUN gave 42 (12 with the slot empty).
  const target = loadProgram([I(0xb7, 0, 0, 0, 40), EXIT], { name: "target" });
  const main = loadProgram(
    [
      I(0xb7, 6, 0, 0, 2),
      LOCAL(2),
      I(0x0f, 0, 6),
      EXIT,
      I(0xb7, 6, 0, 0, 0),
      CALL(12),
      I(0xb7, 0, 0, 0, 9),
      EXIT,
    ],
    {
      helpers: (id) =>
        id === 12
          ? (vm) => {
              vm.tailCall(target);
              return 0;
            }
          : undefined,
    },
  );
  assert.equal(new Interpreter().run(main), 42n);
});
