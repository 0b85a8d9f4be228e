/**
 * `tsbpf check` agrees with the kernel: every object it flags with stack-with-tail-calls is
 * refused by the verifier with the same number of bytes, every object it finds no error in
 * loads, and a prog-type-mismatch is refused when the slot is filled. The VM, whose validator
 * shares the frame walk, gives the same answers.
 */
import assert from "node:assert/strict";
import { mkdtempSync, readdirSync, rmSync } from "node:fs";
import { test } from "node:test";
import { Collection } from "../../src/collection.js";
import { isLoadError, isVerifierError } from "../../src/errors.js";
import { checkPlan } from "../../src/tailcall/check-plan.js";
import { planFromObject } from "../../src/tailcall/plan.js";
import { BACKENDS, loadSpec } from "./both-engines.js";
import { ensureBpffs, kernelSkipReason } from "./support.js";

const skip = kernelSkipReason();
/** Where the objects' `pinning: by_name` maps go: a directory of this test's, removed at the end. */
let pinDir: string | undefined;
const STACK_RULE = /tail_calls are not allowed when call stack of previous frames is (\d+) bytes/;

const OBJECTS = [
  ...readdirSync("test/bpf/check")
    .filter((f) => f.endsWith(".bpf.o"))
    .map((f) => `test/bpf/check/${f}`),
  ...["tail_stack_256", "tail_stack_big", "tail_stack_ok"].map((f) => `test/bpf/edge/${f}.bpf.o`),
];

/** What loading the object on `backend` does: `loaded`, `refused at N bytes`, or the error. */
async function outcome(file: string, backend: (typeof BACKENDS)[number]): Promise<string> {
  try {
    const c = await Collection.load(loadSpec(file), { backend, ...(pinDir === undefined ? {} : { pinDir }) });
    c.close();
    return "loaded";
  } catch (e) {
    const m = STACK_RULE.exec((e as Error).message);
    if (isVerifierError(e) && m) return `refused at ${m[1]} bytes`;
    return isLoadError(e) ? `load error: ${(e as Error).message}` : `failed: ${String(e)}`;
  }
}

/** What check predicts for the object. */
function predicted(file: string): string {
  const errors = checkPlan(planFromObject(loadSpec(file))).findings.filter((f) => f.severity === "error");
  const stack = errors.find((f) => f.code === "stack-with-tail-calls");
  if (stack !== undefined) return `refused at ${STACK_RULE.exec(stack.message)?.[1]} bytes`;
  if (errors.some((f) => f.code === "prog-type-mismatch")) return "load error";
  assert.deepEqual(errors, [], `${file}: only the errors above are expected in these objects`);
  return "loaded";
}

test("check's stack-with-tail-calls and clean verdicts match what the kernel (and the VM) do at load", {
  skip,
}, async (t) => {
  ensureBpffs();
  pinDir = mkdtempSync("/sys/fs/bpf/tsbpf-check-");
  t.after(() => rmSync(pinDir as string, { recursive: true, force: true }));
  const seen: Record<string, string> = {};
  for (const file of OBJECTS) {
    const want = predicted(file);
    for (const backend of BACKENDS) {
      const got = await outcome(file, backend);
      assert.equal(got.startsWith("load error") ? "load error" : got, want, `${file} on ${backend}: ${got}`);
    }
    seen[file] = want;
  }
  // Not vacuous: objects on each side of the rule, including the boundary at 256 bytes.
  assert.equal(seen["test/bpf/check/stack_tail.bpf.o"], "refused at 288 bytes");
  assert.equal(seen["test/bpf/edge/tail_stack_256.bpf.o"], "refused at 256 bytes");
  assert.equal(seen["test/bpf/check/stack_ok.bpf.o"], "loaded");
  assert.equal(seen["test/bpf/check/clean.bpf.o"], "loaded");
  assert.equal(seen["test/bpf/check/type_mismatch.bpf.o"], "load error");
  assert.ok(Object.values(seen).filter((v) => v === "loaded").length >= 8);
});
