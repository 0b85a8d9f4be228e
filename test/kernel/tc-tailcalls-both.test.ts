/**
 * Tail calls between tc programs on both engines and both VM tiers, the scenarios of the kernel's
 * tail-call selftests in programs of our own (test/bpf/tc/tc_tailcalls.bpf.c): a global as the
 * slot selector, slots filled and deleted while loaded, a chain cut by a deletion, a self-loop
 * stopped by the 33-call limit, a tail call from a bpf-to-bpf callee, and a hierarchy of calls
 * sharing the limit; globals read back as counters. Every engine must give the same verdicts
 * and counters; the kernel's are asserted too, so the test fails if the scenario is wrong.
 */
import assert from "node:assert/strict";
import { test } from "node:test";
import type { BackendName, BpfProgram, LoadedCollection } from "../../src/backend/types.js";
import { globals } from "../../src/backend/typed-map.js";
import { Collection } from "../../src/collection.js";
import { loadSpec } from "./both-engines.js";
import { kernelSkipReason } from "./support.js";

const FILE = "test/bpf/tc/tc_tailcalls.bpf.o";
const ENGINES: { backend: BackendName; tier?: "interpreter" | "js" | "compiled" }[] = [
  { backend: "kernel" },
  { backend: "vm", tier: "interpreter" },
  { backend: "vm", tier: "js" },
  { backend: "vm", tier: "compiled" },
];
const skipKernel = kernelSkipReason();

function packet(n = 60): Uint8Array {
  const p = new Uint8Array(n);
  p[12] = 0x08;
  p[13] = 0x06; // ARP: no IP header needed
  return p;
}

/** A prog array's 4-byte key. */
const key = (k: number): Uint8Array => new Uint8Array(new Uint32Array([k]).buffer);

async function scenario(c: LoadedCollection): Promise<Record<string, unknown>> {
  const P = c.programs as Record<string, BpfProgram>;
  const M = c.maps;
  const g = globals(c, ".bss");
  const run = async (p: string): Promise<number> => {
    const r = await P[p]?.run(packet());
    assert.ok(r);
    assert.equal(r.fault, undefined, r.fault?.message);
    return r.retval;
  };
  const out: Record<string, unknown> = {};
  const jmp = M.jmp;
  const chain = M.chain;
  const loop = M.loop;
  assert.ok(jmp && chain && loop);

  // A global selects the slot; slots filled and deleted while loaded.
  jmp.set(0, P.slot0 as BpfProgram);
  jmp.set(1, P.slot1 as BpfProgram);
  jmp.set(2, P.slot2 as BpfProgram);
  const sel: number[] = [];
  for (const s of [0, 1, 2, 3, 4, -1]) {
    g.set("selector", s);
    sel.push(await run("entry"));
  }
  out.selector = sel;
  g.set("selector", 1);
  jmp.delete(key(1));
  const live = [await run("entry")];
  jmp.set(1, P.slot2 as BpfProgram);
  live.push(await run("entry"));
  jmp.set(1, P.slot1 as BpfProgram);
  live.push(await run("entry"));
  out.live = live;

  // A chain of stages, cut by deleting one slot.
  chain.set(1, P.chain1 as BpfProgram);
  chain.set(2, P.chain2 as BpfProgram);
  chain.set(3, P.chain3 as BpfProgram);
  const chained = [await run("chain0")];
  chain.delete(key(2));
  chained.push(await run("chain0"));
  out.chain = chained;
  out.stages = g.read().stages;

  // A self-loop: the 33-call limit stops it; the global counts the runs.
  loop.set(0, P.self_loop as BpfProgram);
  g.set("count", 0);
  out.selfLoop = [await run("self_loop"), g.read().count];
  loop.delete(key(0));
  g.set("count", 0);
  out.selfLoopEmpty = [await run("self_loop"), g.read().count];

  // bpf-to-bpf: a callee with a stack of its own tail-calls; a miss returns through it.
  g.set("sub_count", 0);
  const sub: number[] = [];
  for (const s of [0, 2, 3]) {
    g.set("selector", s);
    sub.push(await run("via_subprog"));
  }
  out.subprog = [sub, g.read().sub_count];

  // A hierarchy: two calls of a subprogram that tail-call back into the entry share the limit.
  loop.set(0, P.hier_entry as BpfProgram);
  g.set("count", 0);
  g.set("sub_count", 0);
  out.hierarchy = [await run("hier_entry"), g.read().count];
  loop.delete(key(0));
  g.set("count", 0);
  out.hierarchyEmpty = [await run("hier_entry"), g.read().count];
  return out;
}

for (const e of ENGINES) {
  const name = e.backend === "kernel" ? "the kernel" : `the VM's ${e.tier} tier`;
  test(`tc tail calls on ${name}: selector, live slots, chain, 33-call limit, bpf-to-bpf, hierarchy`, {
    skip: e.backend === "kernel" ? skipKernel : false,
  }, async () => {
    const c = await Collection.load(loadSpec(FILE), {
      backend: e.backend,
      ...(e.tier === undefined ? {} : { vm: { tier: e.tier } }),
    });
    try {
      const got = await scenario(c);
      // What the kernel gives (measured on 6.18); every engine must give the same.
      assert.deepEqual(got, EXPECTED);
    } finally {
      c.close();
    }
  });
}

/**
 * What kernel 6.18 gives. A tail call from a callee replaces the callee's frame only, so its
 * target returns into the caller (1010 = slot0's 10 + 1000); the hierarchy's two calls per level
 * share the 33-call limit (hier_sub counts 68 runs).
 */
const EXPECTED: Record<string, unknown> = {
  selector: [10, 11, 72, 99, 99, 99],
  live: [99, 72, 11],
  chain: [23, 21],
  stages: [2, 2, 1, 1],
  selfLoop: [1, 34],
  selfLoopEmpty: [1, 1],
  subprog: [[1010, 1072, 1103], 3],
  hierarchy: [0, 68],
  hierarchyEmpty: [0, 2],
};
