import assert from "node:assert/strict";
import { test } from "node:test";
import { frameLayout, walkFrames } from "../../src/object/stack-frames.js";
import { insn as I } from "../support/insn.js";

const EXIT = I(0x95);
const LOCAL = (rel: number) => I(0x85, 0, 1, 0, rel);
const TAIL = I(0x85, 0, 0, 0, 12);
const STORE = (off: number) => I(0x7a, 10, 0, off, 0); // *(u64 *)(r10 + off) = 0

test("frameLayout: subprograms, each one's deepest stack use (r10-derived pointers too), calls, tail calls", () => {
  const insns = [
    STORE(-40), // 0 main: 40 bytes
    LOCAL(3), // 1 call a (insn 5)
    LOCAL(5), // 2 call b (insn 8)
    I(0xb7, 0),
    EXIT,
    I(0xbf, 2, 10), // 5 a: r2 = r10
    I(0x07, 2, 0, 0, -100), //   r2 += -100: a pointer 100 bytes down counts as 100 bytes of stack
    EXIT,
    TAIL, // 8 b: tail call
    EXIT,
  ];
  const l = frameLayout(insns);
  assert.deepEqual(l.subprograms, [0, 5, 8]);
  assert.deepEqual(l.stackDepth, [40, 100, 0]);
  assert.deepEqual(l.calls, [
    { insn: 1, caller: 0, callee: 1 },
    { insn: 2, caller: 0, callee: 2 },
  ]);
  assert.deepEqual(l.tailCalls, [[], [], [8]]);
});

test("walkFrames reports every tail-calling subprogram under 256+ bytes, with its call path", () => {
  // main (264 bytes) calls t1 (tail call) and mid (8 bytes), which calls t2 (tail call).
  const insns = [
    STORE(-264), // 0 main
    LOCAL(3), // 1 -> t1 (5)
    LOCAL(4), // 2 -> mid (7)
    I(0xb7, 0),
    EXIT,
    TAIL, // 5 t1
    EXIT,
    STORE(-8), // 7 mid
    LOCAL(1), // 8 -> t2 (10)
    EXIT,
    TAIL, // 10 t2
    EXIT,
  ];
  const w = walkFrames(frameLayout(insns));
  const tails = w.problems.filter((p) => p.kind === "tail-call-stack");
  assert.deepEqual(
    tails.map((p) => [p.insn, p.bytes, p.path.map((s) => [s.subprogram, s.frame, s.via])]),
    [
      [
        1,
        272,
        [
          [0, 272, undefined],
          [1, 0, 1],
        ],
      ],
      [
        8,
        288,
        [
          [0, 272, undefined],
          [2, 16, 2],
          [3, 0, 8],
        ],
      ],
    ],
    "frames round up to 16 bytes; the insn is the call entering the subprogram",
  );
  assert.equal(w.maxFrames, 3);
  // Under 256 bytes of callers there is nothing to say.
  const small = [STORE(-240), LOCAL(2), I(0xb7, 0), EXIT, TAIL, EXIT];
  assert.deepEqual(walkFrames(frameLayout(small)).problems, []);
});
