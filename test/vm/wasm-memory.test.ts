import assert from "node:assert/strict";
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { test } from "node:test";
import { setFlagsFromString } from "node:v8";
import { runInNewContext } from "node:vm";
import { buildPacket, eth, ipv4, udp, vlan } from "../../src/net/index.js";
import { loadCollectionSpec } from "../../src/object/load-collection-spec.js";
import type { CollectionSpec } from "../../src/object/types.js";
import { applyWiring } from "../../src/tailcall/wiring.js";
import { loadVmCollection, type VmCollection, VmSpace } from "../../src/vm/vm-collection.js";
import { setWasmMemoryLimit, wasmMemoryPool } from "../../src/vm/wasm/runtime.js";
import { runCli } from "../support/cli.js";
import { dumpMaps, loadTier, runTier } from "./compiler-support.js";
import { tcpSyn4 } from "../support/packets.js";

// The wasm tier's WebAssembly memories (src/vm/wasm/runtime.ts): V8 lets a process hold only so
// many, so they come from a pool. A closed collection's memory serves the next one (cleared); past
// the pool's limit an idle interpreter's memory is taken back (everything in it copied out) and
// it gets one again at its next run; a collection nobody keeps frees its memory once collected;
// and with no memory to be had the JS tier runs the programs. Each way, the runs, faults and maps
// are the interpreter's, and the tier that ran is reported.

const spec = (path: string): CollectionSpec =>
  loadCollectionSpec(new Uint8Array(readFileSync(path)), { file: path });
// Arrays, per-CPU arrays, hashes, .data/.bss globals: state a memory's reuse must not mix up.
const MAPS = spec("test/bpf/edge/maps_globals.bpf.o");
// A dispatcher with a tail call and a per-CPU counter, wired through its prog array.
const DISPATCH = spec("test/bpf/bench/dispatch_counter.bpf.o");
const WIRING = [
  { map: "prog_array", key: 0, program: "port8080_prog", origin: "user" as const },
  { map: "prog_array", key: 1, program: "port22_prog", origin: "user" as const },
];

const PACKETS = [
  tcpSyn4(8080),
  tcpSyn4(22),
  tcpSyn4(443),
  buildPacket([eth({}), vlan({ vid: 7 }), ipv4({ src: "10.0.0.1", dst: "10.0.0.2" }), udp({ dport: 53 })]),
  new Uint8Array(20), // a runt: programs reading past it fault
];

/** Loads a collection on `tier`. */
function load(s: CollectionSpec, tier: "compiled" | "interpreter"): VmCollection {
  const c = loadTier(s, tier, s === DISPATCH ? WIRING : []);
  assert.ok(typeof c !== "string", String(c));
  return c;
}

/** Runs every program of `c` on `packet`: each run's outcome, then the maps. */
function step(c: VmCollection, packet: Uint8Array): string {
  const runs = Object.keys(c.programs).map((p) => `${p}: ${runTier(c, p, packet)}`);
  return `${runs.join("\n")}\nmaps: ${dumpMaps(c)}`;
}

/** Lowers the pool's limit for `fn`, and puts it back. */
async function withLimit(limit: number, fn: () => Promise<void> | void): Promise<void> {
  const before = setWasmMemoryLimit(limit);
  try {
    await fn();
  } finally {
    setWasmMemoryLimit(before);
  }
}

test("a closed collection's memory serves the next one, cleared, and its maps stay readable", async () => {
  for (const s of [MAPS, DISPATCH]) {
    const ref = load(s, "interpreter");
    const expected = PACKETS.map((p) => step(ref, p));
    const a = load(s, "compiled");
    assert.deepEqual(
      PACKETS.map((p) => step(a, p)),
      expected,
    );
    const maps = dumpMaps(a);
    assert.ok(/=0*[1-9a-f]/.test(maps), `the programs stored something: ${maps}`);
    const stats = { ...wasmMemoryPool.stats };
    a.close();
    assert.equal(dumpMaps(a), maps, "the maps keep their values once the memory is given back");
    assert.ok(
      wasmMemoryPool.slots.some((slot) => slot.owner === undefined),
      "the memory is free in the pool",
    );
    // The next collection gets that memory (no new one), cleared: the same runs as on a fresh one.
    const b = load(s, "compiled");
    assert.deepEqual(
      PACKETS.map((p) => step(b, p)),
      expected,
    );
    assert.equal(wasmMemoryPool.stats.created, stats.created, "no memory was made");
    assert.ok(wasmMemoryPool.stats.reused > stats.reused, "a memory was reused");
    assert.equal(b.programs[Object.keys(b.programs)[0] as string]?.tier, "wasm");
    b.close();
  }
});

test("past the pool's limit, interpreters take the memory in turn, with the interpreter's runs and maps", async () => {
  await withLimit(1, () => {
    const refs = [load(MAPS, "interpreter"), load(DISPATCH, "interpreter")];
    const colls = [load(MAPS, "compiled"), load(DISPATCH, "compiled")];
    const evicted = wasmMemoryPool.stats.evicted;
    for (let round = 0; round < 3; round++) {
      for (const [i, c] of colls.entries()) {
        for (const p of PACKETS) assert.equal(step(c, p), step(refs[i] as VmCollection, p), `round ${round}`);
        for (const p of Object.values(c.programs)) assert.equal(p.tier, "wasm", p.name);
      }
    }
    assert.ok(wasmMemoryPool.stats.evicted >= evicted + 5, "each turn took the other's memory");
    // Batches too: each packet's outcome as the packet callback sees it.
    const batch = (c: VmCollection) => {
      const seen: string[] = [];
      const r = c.programs.main_prog?.runBatch(PACKETS.slice(0, 4), {
        onPacket: (i, retval, p) =>
          seen.push(
            `${i} ${retval} ${p.chain.join(">")} ${Buffer.from(p.bytes.subarray(p.start, p.end)).toString("hex")}`,
          ),
      });
      return `${seen.join("\n")}\n${r?.tier}\nmaps: ${dumpMaps(c)}`;
    };
    const dispatch = colls[1] as VmCollection;
    for (let round = 0; round < 2; round++) {
      step(colls[0] as VmCollection, PACKETS[0] as Uint8Array); // takes the memory
      assert.equal(batch(dispatch), batch(refs[1] as VmCollection).replace(/\ninterpreter\n/, "\nwasm\n"));
    }
    assert.ok(wasmMemoryPool.slots.length <= 1);
    for (const c of [...refs, ...colls]) c.close();
  });
});

test("a run refused before it starts (a runt packet) leaves its memory free to be taken", async () => {
  await withLimit(1, async () => {
    const a = load(DISPATCH, "compiled");
    const b = load(DISPATCH, "compiled");
    const main = a.programs.main_prog;
    assert.ok(main);
    assert.equal((await main.run(tcpSyn4(22))).tier, "wasm");
    await assert.rejects(main.run(new Uint8Array(13)), /shorter than the 14 bytes/);
    assert.throws(() => main.runBatch([tcpSyn4(22)], { retvals: new Uint32Array(0) }), /retvals holds 0/);
    assert.equal((await b.programs.main_prog?.run(tcpSyn4(22)))?.tier, "wasm", "b took a's memory");
    a.close();
    b.close();
  });
});

test("a space's memory goes back when its last loaded collection closes, a failed load not counted", async () => {
  const space = new VmSpace();
  const a = loadVmCollection(DISPATCH, { space });
  applyWiring(a, WIRING);
  assert.equal((await a.programs.main_prog?.run(tcpSyn4(22)))?.tier, "wasm");
  const b = loadVmCollection(DISPATCH, { space });
  // Refused at load (a map the VM does not support), after its collection was made.
  assert.throws(() => loadVmCollection(spec("test/bpf/fixtures/maps.bpf.o"), { space }), /lpm_trie/);
  const mine = wasmMemoryPool.slots.find((slot) => slot.owner?.deref()?.vm === space.interpreter);
  assert.ok(mine, "the space has a memory");
  a.close();
  assert.ok(mine.owner !== undefined, "b still uses the space's memory");
  b.close();
  assert.equal(mine.owner, undefined, "the last one closed gave it back");
});

test("with no WebAssembly memory to be had, the JS tier runs the programs and the tier says so", async () => {
  await withLimit(0, async () => {
    const ref = load(DISPATCH, "interpreter");
    const c = load(DISPATCH, "compiled");
    for (const p of PACKETS) assert.equal(step(c, p), step(ref, p));
    const main = c.programs.main_prog;
    assert.ok(main);
    assert.equal(main.tier, "js");
    assert.match(main.tierFallback ?? "", /no WebAssembly memory/);
    assert.equal((await main.run(tcpSyn4(22))).tier, "js");
    assert.equal(main.runBatch(PACKETS.slice(0, 3)).tier, "js");
    await ref.programs.main_prog?.run(tcpSyn4(22));
    ref.programs.main_prog?.runBatch(PACKETS.slice(0, 3));
    // Once the limit allows one again, the same collection gets a memory at its next run.
    setWasmMemoryLimit(4);
    for (const p of PACKETS) assert.equal(step(c, p), step(ref, p));
    assert.equal(main.tier, "wasm");
    assert.equal(main.tierFallback, undefined);
    c.close();
    ref.close();
  });
});

test("run prints the JS tier as the wasm tier's fallback when no memory is to be had", async () => {
  const dir = mkdtempSync(join(tmpdir(), "tsbpf-wasm-memory-"));
  try {
    const pkt = `${dir}/p.bin`;
    writeFileSync(pkt, tcpSyn4(8080));
    await withLimit(0, async () => {
      const r = await runCli(["run", "examples/tail-call/seed.yaml", "--data-in", pkt, "--repeat", "2"]);
      assert.equal(r.code, 0, r.stderr);
      assert.match(
        r.stdout,
        /\n {2}duration: \d+ ns per run \(VM, js tier, the wasm tier's fallback: no WebAssembly memory was free[^)]*\)\n/,
      );
      const j = await runCli([
        "run",
        "examples/tail-call/seed.yaml",
        "--data-in",
        pkt,
        "--json",
        "--tier",
        "wasm",
      ]);
      assert.equal((JSON.parse(j.stdout) as { tier: string }).tier, "js");
    });
    const tierOf = async (...more: string[]) => {
      const r = await runCli(["run", "examples/tail-call/seed.yaml", "--data-in", pkt, "--json", ...more]);
      assert.equal(r.code, 0, r.stderr);
      return (JSON.parse(r.stdout) as { tier: string }).tier;
    };
    assert.equal(await tierOf("--repeat", "2"), "wasm");
    assert.equal(await tierOf("--tier", "wasm"), "wasm");
    // A single run of the default engine: the JS tier, which starts sooner.
    assert.equal(await tierOf(), "js");
    assert.equal(await tierOf("--tier", "compiled"), "js");
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test("a collection nobody closes gives its memory back once it is collected", async () => {
  setFlagsFromString("--expose-gc");
  const gc = runInNewContext("gc") as () => void;
  await withLimit(64, async () => {
    // Collections made and dropped in a function of their own, each run once.
    const drop = () => {
      for (let i = 0; i < 4; i++) {
        const c = load(MAPS, "compiled");
        runTier(c, "update_all", tcpSyn4(80));
      }
    };
    drop();
    const held = wasmMemoryPool.slots.length;
    // WeakRefs keep their targets to the end of the job that made them; then a full GC.
    for (let i = 0; i < 3; i++) {
      await new Promise((resolve) => setTimeout(resolve, 10));
      gc();
    }
    await new Promise((resolve) => setTimeout(resolve, 10));
    const created = wasmMemoryPool.stats.created;
    const ref = load(MAPS, "interpreter");
    const c = load(MAPS, "compiled");
    for (const p of PACKETS) assert.equal(step(c, p), step(ref, p));
    assert.equal(wasmMemoryPool.stats.created, created, "a collected collection's memory was reused");
    assert.ok(
      wasmMemoryPool.slots.length <= held,
      `${wasmMemoryPool.slots.length} memories held, ${held} before`,
    );
    c.close();
  });
});

test("a prog array updated after its interpreter lost its memory leaves the memory's new owner alone", async () => {
  await withLimit(1, () => {
    const a = load(DISPATCH, "compiled");
    const b = load(MAPS, "compiled");
    try {
      const main = a.programs.main_prog;
      assert.ok(main);
      // In-wasm tail calls: the prog array's slots are mirrored in a's memory.
      assert.equal(a.runSync(main, tcpSyn4(8080), { repeat: 5 }).chain?.join(">"), "main_prog>port8080_prog");
      for (const p of PACKETS) step(b, p); // b takes the memory
      assert.equal(wasmMemoryPool.slots.length, 1);
      const memory = (wasmMemoryPool.slots[0] as { memory: { buffer: ArrayBuffer } }).memory;
      const before = new Uint8Array(memory.buffer).slice();
      // What a's mirror must forget; b's memory must not hear of it.
      const jump = a.maps.prog_array;
      assert.ok(jump);
      jump.delete(new Uint8Array(4)); // slot 0
      assert.ok(Buffer.from(new Uint8Array(memory.buffer)).equals(before), "b's memory changed");
      // a sees the update when it runs again (in a memory of its own again).
      assert.equal(a.runSync(main, tcpSyn4(8080), { repeat: 5 }).chain?.join(">"), "main_prog");
    } finally {
      a.close();
      b.close();
    }
  });
});
