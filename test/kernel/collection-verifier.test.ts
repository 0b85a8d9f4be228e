/**
 * Verifier rejections: the real kernel's log for test/bpf/kernel/broken.bpf.o becomes an error
 * naming the program, the instruction and the C line (checked against llvm-objdump's line
 * table), and the hints for the usual mistakes are chosen from real log lines.
 */
import assert from "node:assert/strict";
import { execFileSync } from "node:child_process";
import { readFileSync } from "node:fs";
import { test } from "node:test";
import type { VerifierError } from "../../src/errors.js";
import { loadKernelCollection } from "../../src/kernel/kernel-collection.js";
import { failingInsn, verifierHint } from "../../src/kernel/verifier-message.js";
import { sourceLineAt } from "../../src/object/insn-location.js";
import { loadCollectionSpec } from "../../src/object/load-collection-spec.js";
import { hasCommand, kernelSkipReason } from "./support.js";

const OBJ = "test/bpf/kernel/broken.bpf.o";
const spec = () => loadCollectionSpec(new Uint8Array(readFileSync(OBJ)), { file: "broken.bpf.o" });

test("a packet read without a bounds check is a VerifierError with program, insn and C line", {
  skip: kernelSkipReason(),
}, async () => {
  let err: VerifierError | undefined;
  try {
    (await loadKernelCollection(spec())).close();
  } catch (e) {
    err = e as VerifierError;
  }
  assert.ok(err, "the kernel must reject broken.bpf.o");
  assert.equal(err.name, "VerifierError");
  assert.equal(err.errno, 13, "EACCES");
  const insn = failingInsn(err.log);
  assert.equal(insn, err.context.insn);
  assert.match(
    err.message,
    /^program unchecked_read: the verifier rejected it at instruction \d+ \(broken\.bpf\.c:\d+: if \(iph->protocol == 6\)/,
  );
  assert.match(err.hint ?? "", /data \+ N > data_end/);
  assert.ok(
    err.log.some((l) => /invalid access to packet/.test(l)),
    "the whole log is kept",
  );
  assert.ok(err.log.some((l) => /^processed \d+ insns/.test(l)));
  if (hasCommand("llvm-objdump")) {
    // llvm-objdump's line table puts the failing instruction on the same source line.
    const dump = execFileSync("llvm-objdump", ["-d", "-l", "--no-show-raw-insn", OBJ], { encoding: "utf8" });
    let line = 0;
    for (const l of dump.split("\n")) {
      const src = /broken\.bpf\.c:(\d+)/.exec(l);
      if (src?.[1] !== undefined) line = Number(src[1]);
      const at = /^\s+(\d+):/.exec(l);
      if (at?.[1] !== undefined && Number(at[1]) === insn) break;
    }
    assert.ok(err.message.includes(`broken.bpf.c:${line}:`), `${err.message} vs objdump line ${line}`);
  }
});

test("hints name the usual causes", () => {
  const cases: [string[], RegExp][] = [
    [
      ["1: (71) r1 = *(u8 *)(r1 +23)", "invalid access to packet, off=23 size=1, R1(id=0,off=23,r=0)"],
      /data_end/,
    ],
    [["R2 invalid mem access 'scalar'"], /plain number/],
    [["R1 invalid mem access 'inv'"], /plain number/],
    [["R0 invalid mem access 'map_value_or_null'"], /NULL/],
    [["back-edge from insn 10 to 4"], /bound/],
    [["infinite loop detected at insn 3"], /bound/],
    [["The sequence of 8193 jumps is too complex.", "loop is not bounded"], /bound/],
    [["combined stack size of 3 calls is 544. Too large"], /512 bytes/],
    [["invalid stack off=-520 size=8"], /512 bytes/],
    [["invalid indirect read from stack R2 off -16+0 size 8"], /initialise/],
    [["unknown func bpf_probe_read#4"], /not available/],
  ];
  for (const [log, re] of cases) assert.match(verifierHint(log) ?? "", re, log.join(" | "));
  assert.equal(verifierHint(["something new"]), undefined);
  // After an adjust helper, a lost packet pointer gets the stale-pointer hint.
  const adjusting = { ...spec().programs.unchecked_read } as NonNullable<
    ReturnType<typeof spec>["programs"]["x"]
  >;
  adjusting.instructions = [{ opcode: 0x85, dst: 0, src: 0, off: 0, imm: 44 }];
  assert.match(verifierHint(["R1 invalid mem access 'scalar'"], adjusting) ?? "", /reload ctx->data/);
});

test("failingInsn and sourceLineAt pick the last instruction and the line covering it", () => {
  assert.equal(
    failingInsn(["0: (61) r1 = *(u32 *)(r1 +0)", "; x", "12: (71) r1 = *(u8 *)(r1 +23)", "oops"]),
    12,
  );
  assert.equal(failingInsn(["no instructions"]), undefined);
  const lines = spec().programs.unchecked_read?.lineInfo ?? [];
  assert.ok(lines.length >= 2);
  const last = lines[lines.length - 1];
  assert.equal(sourceLineAt(lines, 1000), last);
  assert.equal(sourceLineAt(lines, 0)?.insn, 0);
});
