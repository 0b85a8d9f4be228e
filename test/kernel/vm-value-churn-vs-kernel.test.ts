/**
 * A repeated run that meets a new hash element every iteration (insert, lookup, write, delete):
 * the kernel runs it any number of times, and so must the VM, with the same verdict and globals.
 */
import assert from "node:assert/strict";
import { test } from "node:test";
import { hex, onBoth } from "./both-engines.js";
import { kernelSkipReason } from "./support.js";

test("70,000 repeats over ever-new map values: same verdict and .bss on both engines", {
  skip: kernelSkipReason(),
}, async () => {
  const got = await onBoth("test/bpf/vm/value_churn.bpf.o", async (c) => {
    const p = c.programs.churn_values;
    assert.ok(p);
    const r = await p.run(new Uint8Array(60), { repeat: 70_000 });
    return { retval: r.retval, fault: r.fault?.message, bss: hex(c.maps[".bss"]?.get(0) as Uint8Array) };
  });
  assert.equal(got.kernel.retval, 2, "XDP_PASS on the kernel");
  assert.deepEqual(got.vm, got.kernel);
});
