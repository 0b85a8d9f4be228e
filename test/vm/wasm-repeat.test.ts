import { test } from "node:test";
import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { ProgType } from "../../src/abi/index.js";
import { buildPacket } from "../../src/net/build.js";
import { loadCollectionSpec } from "../../src/object/load-collection-spec.js";
import type { VmCollection } from "../../src/vm/vm-collection.js";
import { isWasm, wasmStats } from "../../src/vm/wasm/wasm-tier.js";
import { craftedPackets } from "../differential/corpus.js";
import { repositoryObjects } from "../differential/objects.js";
import { bytecodeCollection } from "../fuzz/harness.js";
import { EXIT, insn as I, SELF_TAIL_CALL } from "../support/insn.js";
import { describeError, describeRun, dumpMaps, loadTier } from "./compiler-support.js";

// A run with `repeat` on the wasm tier stays inside WebAssembly from one run to the next (and
// through tail calls between its programs): it must still agree with the interpreter on the last
// run's result, chain, fault and instruction count, and on the maps, whatever the runs in between did.

/** `repeat` runs of `prog` on `data`: the last run's result (or the refusal) as a string. */
function runRepeat(c: VmCollection, prog: string, data: Uint8Array, repeat: number): string {
  const p = c.programs[prog];
  if (p === undefined) return "no such program";
  try {
    return describeRun(c.runSync(p, data, { repeat }), c.interpreter.executed);
  } catch (e) {
    return `refused ${describeError(e)}`;
  }
}

function both(spec: ReturnType<typeof bytecodeCollection>): [VmCollection, VmCollection] {
  const a = loadTier(spec, "interpreter");
  const b = loadTier(spec, "wasm");
  assert.ok(typeof a !== "string" && typeof b !== "string", `${a} ${b}`);
  return [a, b];
}

const tcpTo = (dport: number) =>
  buildPacket([
    { kind: "eth", src: "02:00:00:00:00:01", dst: "02:00:00:00:00:02" },
    { kind: "ipv4", src: "10.0.0.1", dst: "10.0.0.2" },
    { kind: "tcp", sport: 40000, dport, flags: "S" },
  ]);

test("wasm tier: repeated runs of every repository object's XDP programs agree with the interpreter", () => {
  const packets = craftedPackets();
  const diffs: string[] = [];
  let runs = 0;
  for (const obj of repositoryObjects()) {
    let spec: ReturnType<typeof loadCollectionSpec>;
    try {
      spec = loadCollectionSpec(new Uint8Array(readFileSync(obj.path)), { file: obj.path });
    } catch {
      continue;
    }
    const a = loadTier(spec, "interpreter", obj.wiring);
    const b = loadTier(spec, "wasm", obj.wiring);
    if (typeof a === "string" || typeof b === "string") {
      if (a !== b) diffs.push(`${obj.path}: load: ${String(a)} / ${String(b)}`);
      continue;
    }
    for (const prog of Object.values(spec.programs).filter((p) => p.type === ProgType.xdp)) {
      for (const [i, pkt] of packets.entries()) {
        const repeat = 2 + (i % 5);
        const ra = runRepeat(a, prog.name, pkt.bytes, repeat);
        const rb = runRepeat(b, prog.name, pkt.bytes, repeat);
        if (ra !== rb) diffs.push(`${obj.path} ${prog.name} ${pkt.label} ×${repeat}:\n  ${ra}\n  ${rb}`);
        const ma = dumpMaps(a);
        const mb = dumpMaps(b);
        if (ma !== mb) diffs.push(`${obj.path} ${prog.name} ${pkt.label} ×${repeat}: maps\n  ${ma}\n  ${mb}`);
        runs++;
        if (diffs.length > 5) break;
      }
    }
    a.close();
    b.close();
  }
  assert.deepEqual(diffs, []);
  assert.ok(runs > 300, `only ${runs} repeated runs compared`);
});

test("wasm tier: tail calls in a repeat stay in WebAssembly and see prog-array updates made between runs", () => {
  const path = "test/bpf/bench/dispatch_counter.bpf.o";
  const spec = loadCollectionSpec(new Uint8Array(readFileSync(path)), { file: path });
  const a = loadTier(spec, "interpreter");
  const b = loadTier(spec, "wasm");
  assert.ok(typeof a !== "string" && typeof b !== "string", `${a} ${b}`);
  assert.ok(isWasm(b.programs.main_prog?.compiled as never));
  const steps: [string, (c: VmCollection) => void, string[]][] = [
    [
      "slots filled",
      (c) => {
        c.maps.prog_array?.set(0, c.programs.port8080_prog as never);
        c.maps.prog_array?.set(1, c.programs.port22_prog as never);
      },
      ["main_prog", "port8080_prog"],
    ],
    [
      "slot 0 changed",
      (c) => c.maps.prog_array?.set(0, c.programs.port22_prog as never),
      ["main_prog", "port22_prog"],
    ],
    ["slot 0 emptied", (c) => c.maps.prog_array?.delete(new Uint8Array(4)), ["main_prog"]],
    [
      "slot 0 filled again",
      (c) => c.maps.prog_array?.set(0, c.programs.port8080_prog as never),
      ["main_prog", "port8080_prog"],
    ],
  ];
  const pkt = tcpTo(8080);
  for (const [what, change, chain] of steps) {
    change(a);
    change(b);
    const calls = wasmStats.helperCalls;
    const ra = runRepeat(a, "main_prog", pkt, 500);
    const rb = runRepeat(b, "main_prog", pkt, 500);
    assert.equal(rb, ra, what);
    assert.deepEqual((JSON.parse(rb) as { chain: string[] }).chain, chain, what);
    assert.equal(dumpMaps(b), dumpMaps(a), `${what}: maps`);
    // The first run meets the changed slot (and the first time, the counters' lookups) through
    // JavaScript; the other 499 tail-call and look up in wasm.
    const through = wasmStats.helperCalls - calls;
    assert.ok(through <= 5, `${what}: ${through} of 500 runs called a helper through JavaScript`);
  }
  a.close();
  b.close();
});

test("wasm tier: a repeat of a program tail-calling itself stops each run at the limit of 33", () => {
  const spec = bytecodeCollection(SELF_TAIL_CALL.map((i) => ({ ...i })));
  const [a, b] = both(spec);
  const pkt = new Uint8Array(64);
  const calls = wasmStats.helperCalls;
  const ra = runRepeat(a, "fuzz", pkt, 50);
  const rb = runRepeat(b, "fuzz", pkt, 50);
  assert.equal(rb, ra);
  assert.equal((JSON.parse(rb) as { chain: string[] }).chain.length, 34, rb);
  assert.equal(b.interpreter.tailCalls, 33);
  // The first run fills the mirror through JavaScript (and meets the limit there); then none.
  assert.ok(wasmStats.helperCalls - calls <= 34, `${wasmStats.helperCalls - calls} helper calls through JS`);
});

test("wasm tier: a fault on run k of a repeat stops there, with the interpreter's fault, count and maps", () => {
  const spec = bytecodeCollection([
    I(0x18, 6, 2, 0, 0), // r6 = &array[0] (an lddw at insn 0 refers to the array)
    I(0x00, 0, 0, 0, 0),
    I(0x79, 7, 6, 0, 0), // r7 = *(u64 *)(r6 + 0)
    I(0x07, 7, 0, 0, 1), // r7 += 1
    I(0x7b, 6, 7, 0, 0), // *(u64 *)(r6 + 0) = r7
    I(0x55, 7, 0, 2, 5), // if r7 != 5 goto +2
    I(0x61, 2, 1, 0, 0), // r2 = ctx->data
    I(0x71, 0, 2, 4000, 0), // r0 = *(u8 *)(r2 + 4000): past the packet
    I(0xb7, 0, 0, 0, 2),
    EXIT,
  ]);
  const [a, b] = both(spec);
  const pkt = new Uint8Array(64);
  const ra = runRepeat(a, "fuzz", pkt, 10);
  const rb = runRepeat(b, "fuzz", pkt, 10);
  assert.equal(rb, ra);
  assert.match(rb, /"fault":"\[/, rb);
  // Five runs were made: the fifth faulted, and the count is its own.
  assert.equal(dumpMaps(b), dumpMaps(a));
  assert.match(dumpMaps(b), /array\{00000000=0500000000000000/);
  // The next repeat goes on past the fault: no run faults again.
  assert.equal(runRepeat(b, "fuzz", pkt, 10), runRepeat(a, "fuzz", pkt, 10));
  assert.match(dumpMaps(b), /array\{00000000=0f00000000000000/);
});

test("wasm tier: accesses through an inline lookup's pointer fault outside the value, as on the interpreter", () => {
  // Counts runs in array[0]; on the third run reads past its 8-byte value (after, before, across its end).
  for (const off of [8, -8, 4]) {
    const spec = bytecodeCollection([
      I(0x18, 1, 1, 0, 0), // r1 = &array (an lddw at insn 0 refers to the array)
      I(0x00, 0, 0, 0, 0),
      I(0x62, 10, 0, -4, 0), // *(u32 *)(r10 - 4) = 0
      I(0xbf, 2, 10, 0, 0), // r2 = r10
      I(0x07, 2, 0, 0, -4), // r2 += -4
      I(0x85, 0, 0, 0, 1), // bpf_map_lookup_elem
      I(0x15, 0, 0, 6, 0), // if r0 == 0 goto exit
      I(0x79, 1, 0, 0, 0), // r1 = *(u64 *)(r0 + 0)
      I(0x07, 1, 0, 0, 1), // r1 += 1
      I(0x7b, 0, 1, 0, 0), // *(u64 *)(r0 + 0) = r1
      I(0x55, 1, 0, 2, 3), // if r1 != 3 goto +2
      I(0x79, 3, 0, off, 0), // r3 = *(u64 *)(r0 + off): past the value
      I(0x7b, 0, 3, off, 0), // *(u64 *)(r0 + off) = r3
      I(0xb7, 0, 0, 0, 2),
      EXIT,
    ]);
    const [a, b] = both(spec);
    const pkt = new Uint8Array(64);
    const calls = wasmStats.helperCalls;
    const ra = runRepeat(a, "fuzz", pkt, 10);
    const rb = runRepeat(b, "fuzz", pkt, 10);
    // The fault's address names the value's region, whose id differs: the wasm tier's
    // interpreter maps all its stack frames first.
    const masked = (r: string) => r.replace(/0x[0-9a-f]+/g, "0x?");
    assert.equal(masked(rb), masked(ra), `off ${off}`);
    assert.equal(dumpMaps(b), dumpMaps(a), `off ${off}`);
    assert.match(rb, /"fault":"\[/, rb);
    // Only the first runs' lookups went through JavaScript (the helper, then its fast path once).
    assert.ok(
      wasmStats.helperCalls - calls <= 2,
      `off ${off}: ${wasmStats.helperCalls - calls} helper calls`,
    );
  }
});
