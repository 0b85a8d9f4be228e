/**
 * The VM collection layer without a kernel: which objects load (and how the others are refused),
 * faults with their location, the instruction budget, the load-time tail-call stack rule, and
 * BPF_PROG_TEST_RUN's repeat semantics. The same cases are compared with the kernel in
 * test/kernel/vm-vs-kernel-*.test.ts.
 */
import assert from "node:assert/strict";
import { readdirSync, readFileSync } from "node:fs";
import { test } from "node:test";
import type { Instruction } from "../../src/asm/instruction.js";
import { isTsbpfError } from "../../src/errors.js";
import { loadCollectionSpec } from "../../src/object/load-collection-spec.js";
import type { CollectionSpec } from "../../src/object/types.js";
import { MapType } from "../../src/abi/index.js";
import { applyWiring } from "../../src/tailcall/wiring.js";
import { isPrimed } from "../../src/vm/compiler.js";
import { isWasm } from "../../src/vm/wasm/wasm-tier.js";
import { faultCode } from "../../src/vm/fault.js";
import { SUPPORTED_HELPERS } from "../../src/vm/helpers.js";
import { helperName } from "../../src/vm/validate.js";
import { loadVmCollection, type VmCollection, VmSpace } from "../../src/vm/vm-collection.js";
import { buildPacket, eth, ipv4, tcp } from "../../src/net/index.js";

function spec(file: string): CollectionSpec {
  return loadCollectionSpec(new Uint8Array(readFileSync(file)), { file });
}
const VM_MAP_TYPES = new Set<number>([
  MapType.array,
  MapType.percpu_array,
  MapType.prog_array,
  MapType.array_of_maps,
  MapType.hash,
  MapType.percpu_hash,
  MapType.lru_hash,
  MapType.lru_percpu_hash,
  MapType.hash_of_maps,
  MapType.ringbuf,
]);
const supported = new Set(SUPPORTED_HELPERS.map((n) => `bpf_${n}`));

/** What loading `s` into the VM should do, worked out from the spec alone. */
function expectation(s: CollectionSpec): { ok: true } | { ok: false; pattern: RegExp } {
  if (s.byteOrder !== "little") return { ok: false, pattern: /big-endian/ };
  for (const m of Object.values(s.maps)) {
    if (!VM_MAP_TYPES.has(m.type)) return { ok: false, pattern: new RegExp(`map ${m.name}.*${m.typeName}`) };
  }
  for (const p of Object.values(s.programs)) {
    for (const i of p.instructions) {
      if (i.opcode === 0x85 && i.src === 0 && !supported.has(helperName(i.imm))) {
        return { ok: false, pattern: new RegExp(`${helperName(i.imm)} \\(id ${i.imm}\\)`) };
      }
    }
  }
  return { ok: true };
}

for (const dir of ["test/bpf/fixtures", "test/bpf/object", "test/bpf/edge", "examples/tail-call"]) {
  for (const f of readdirSync(dir).filter((n) => n.endsWith(".bpf.o") && !n.startsWith("tail_stack_"))) {
    test(`VM load of ${dir}/${f}: loads when it uses only what the VM has, else a typed error`, () => {
      const s = spec(`${dir}/${f}`);
      const want = expectation(s);
      if (want.ok) {
        const c = loadVmCollection(s);
        assert.deepEqual(Object.keys(c.programs).sort(), Object.keys(s.programs).sort());
        c.close();
        return;
      }
      assert.throws(
        () => loadVmCollection(s),
        (e: unknown) => {
          assert.ok(isTsbpfError(e), `typed error, got ${String(e)}`);
          assert.match(e.message, want.pattern);
          assert.match(e.message, new RegExp(f.replace(".", "\\.")), "names the file");
          if (/helper|id \d+/.test(want.pattern.source)) assert.match(e.message, /program \w+, insn \d+/);
          return true;
        },
      );
    });
  }
}

test("an unsupported helper is refused at load, by name (bpf_loop)", () => {
  assert.throws(
    () => loadVmCollection(spec("test/bpf/object/linking.bpf.o")),
    (e: unknown) =>
      isTsbpfError(e) &&
      e.name === "VerifierError" &&
      /bpf_loop \(id 181\)/.test(e.message) &&
      /program stage_b/.test(e.message) &&
      e.hint !== undefined,
  );
});

test("a big-endian object is refused clearly", () => {
  assert.throws(
    () => loadVmCollection(spec("test/bpf/object/linking-be.bpf.o")),
    (e: unknown) => isTsbpfError(e) && e.name === "NotSupportedError" && /big-endian/.test(e.message),
  );
});

test("an out-of-bounds packet read faults: program, instruction, disassembly, C line; XDP_ABORTED", async () => {
  const c = loadVmCollection(spec("test/bpf/edge/vm_faults.bpf.o"));
  const p = c.programs.oob_read;
  assert.ok(p);
  const pkt = new Uint8Array(60);
  const r = await p.run(pkt);
  assert.equal(r.retval, 0, "XDP_ABORTED");
  assert.ok(r.fault);
  assert.equal(faultCode(r.fault), "out-of-bounds");
  const f = r.fault as Error & {
    context: { program?: string; insn?: number };
    instruction?: string;
    sourceLine?: string;
  };
  assert.equal(f.context.program, "oob_read");
  assert.equal(f.context.insn, 1);
  assert.match(f.instruction ?? "", /r0 = \*\(u8 \*\)\(r1 \+ 100\)/);
  assert.match(f.sourceLine ?? "", /return data\[100\];.*vm_faults\.bpf\.c:12/);
  assert.match(f.message, /packet offset 100\) is outside \[0, 60\)/);
  // With 101 bytes the same read is in bounds.
  const ok = await p.run(Uint8Array.from({ length: 101 }, (_, i) => i));
  assert.equal(ok.fault, undefined);
  assert.equal(ok.retval, 100);
});

test("an infinite loop exhausts the budget: a fault, not a hang", async () => {
  const base = spec("test/bpf/edge/vm_faults.bpf.o");
  const proto = base.programs.oob_read;
  assert.ok(proto);
  // Hand-assembled: r0 = 0; loop: r0 += 1; goto loop.
  const insns: Instruction[] = [
    { opcode: 0xb7, dst: 0, src: 0, off: 0, imm: 0 },
    { opcode: 0x07, dst: 0, src: 0, off: 0, imm: 1 },
    { opcode: 0x05, dst: 0, src: 0, off: -2, imm: 0 },
  ];
  const s: CollectionSpec = {
    ...base,
    programs: {
      spin: {
        ...proto,
        name: "spin",
        instructions: insns,
        references: [],
        lineInfo: [],
        funcInfo: [],
        tailCalls: [],
      },
    },
  };
  const c = loadVmCollection(s, { budget: 100_000 });
  const t0 = Date.now();
  const r = await (c.programs.spin as NonNullable<(typeof c.programs)["spin"]>).run(new Uint8Array(14), {
    repeat: 1000,
  });
  assert.ok(Date.now() - t0 < 5000);
  assert.equal(faultCode(r.fault), "budget");
  assert.equal(r.retval, 0);
  assert.match(r.fault?.message ?? "", /budget of 100000/);
});

test("tail calls from a subprogram under 256+ bytes of caller stack are refused at load, naming the call", () => {
  for (const [f, bytes] of [
    ["tail_stack_big", 304],
    ["tail_stack_256", 256],
  ] as const) {
    assert.throws(
      () => loadVmCollection(spec(`test/bpf/edge/${f}.bpf.o`)),
      (e: unknown) =>
        isTsbpfError(e) &&
        e.name === "VerifierError" &&
        e.message.includes(
          `tail_calls are not allowed when call stack of previous frames is ${bytes} bytes. Too large`,
        ) &&
        typeof e.context.insn === "number",
    );
  }
  loadVmCollection(spec("test/bpf/edge/tail_stack_ok.bpf.o")).close();
});

test("a self tail call stops after 33 jumps; the chain lists the 34 programs", async () => {
  const c = loadVmCollection(spec("test/bpf/edge/tail_edges.bpf.o"));
  const { jmp, counts } = c.maps;
  const self = c.programs.self_chain;
  assert.ok(jmp && counts && self);
  jmp.set(0, self);
  const r = await self.run(new Uint8Array(60));
  assert.equal(r.retval, 1);
  assert.equal(r.chain?.length, 34);
  assert.ok(r.chain?.every((n) => n === "self_chain"));
  const v = counts.get(0) as Uint8Array;
  assert.equal(new DataView(v.buffer, v.byteOffset).getBigUint64(0, true), 34n);
});

test("repeat: runs share the packet, the mean duration is reported, trace is bounded", async () => {
  const c = loadVmCollection(spec("test/bpf/edge/xdp_helpers.bpf.o"));
  const eat = c.programs.eat_byte;
  assert.ok(eat);
  const pkt = Uint8Array.from({ length: 60 }, (_, i) => i);
  const r = await eat.run(pkt, { repeat: 10 });
  assert.equal(r.dataOut.length, 50, "ten runs ate ten bytes");
  // Each run bumped byte 14 of the packet it saw: original bytes 14..23, once each.
  assert.deepEqual([...r.dataOut.subarray(4, 15)], [15, 16, 17, 18, 19, 20, 21, 22, 23, 24, 24]);
  assert.ok(Number.isFinite(r.durationNs) && r.durationNs >= 0);
  // A later run starts from a fresh copy of its input again.
  assert.equal((await eat.run(pkt)).dataOut.length, 59);

  const printer = loadVmCollection(spec("test/bpf/edge/vm_faults.bpf.o"), { maxTrace: 5 }).programs.printer;
  assert.ok(printer);
  const t = await printer.run(new Uint8Array(14), { repeat: 100, ingressIfindex: 3 });
  assert.deepEqual(t.trace, Array(5).fill("hello 3"));
});

test("runs of the VM do not leak memory regions across calls", async () => {
  const c = loadVmCollection(spec("test/bpf/edge/maps_globals.bpf.o"));
  const p = c.programs.update_all;
  assert.ok(p);
  const pkt = new Uint8Array(60);
  pkt[12] = 8;
  await p.run(pkt);
  const mapped = c.memory.regions.filter((r) => r !== undefined).length;
  for (let i = 0; i < 50; i++) await p.run(pkt, { repeat: 3 });
  assert.equal(c.memory.regions.filter((r) => r !== undefined).length, mapped);
});

test("a tail call into a program of another VM collection faults instead of reading this one's memory", async () => {
  const seed = "examples/tail-call/tail_call.bpf.o";
  const pkt = new Uint8Array(60);
  pkt.set([0x08, 0x00], 12); // IPv4
  pkt[14] = 0x45;
  pkt[23] = 6; // TCP
  pkt.set([0x1f, 0x90], 36); // destination port 8080
  const own = loadVmCollection(spec(seed));
  const { prog_array } = own.maps;
  const { port8080_prog, main_prog } = own.programs;
  assert.ok(prog_array && port8080_prog && main_prog);
  prog_array.set(0, port8080_prog);
  assert.deepEqual((await main_prog.run(pkt)).trace, ["Packet to port 8080 processed"]);

  const other = loadVmCollection(spec(seed));
  for (let i = 0; i < 3; i++) other.memory.map(new Uint8Array(64)); // its regions differ from ours
  const foreign = other.programs.port8080_prog;
  assert.ok(foreign);
  prog_array.set(0, foreign);
  const r = await main_prog.run(pkt);
  assert.equal(r.retval, 0, "XDP_ABORTED");
  assert.equal(r.fault === undefined ? undefined : faultCode(r.fault), "helper");
  assert.match(
    r.fault?.message ?? "",
    /tail call into port8080_prog, a program of a VM collection in another address space/,
  );
  assert.deepEqual(r.trace, []);
});

test("collections loaded into one VM space tail-call each other's programs", async () => {
  const seed = "examples/tail-call/tail_call.bpf.o";
  const pkt = new Uint8Array(60);
  pkt[12] = 8;
  pkt[14] = 0x45;
  pkt[23] = 6; // TCP
  pkt.set([0x1f, 0x90], 36); // destination port 8080
  const space = new VmSpace({ budget: 1_000_000, maxTrace: 100, cpu: 0 });
  const dispatcher = loadVmCollection(spec(seed), { space });
  const stages = loadVmCollection(spec(seed), { space });
  for (let i = 0; i < 3; i++) stages.memory.map(new Uint8Array(64)); // the space's regions move on
  const { prog_array } = dispatcher.maps;
  const target = stages.programs.port8080_prog;
  assert.ok(prog_array && target && dispatcher.programs.main_prog);
  prog_array.set(0, target);
  const r = await dispatcher.programs.main_prog.run(pkt);
  assert.equal(r.fault, undefined);
  assert.equal(r.retval, 2, "XDP_PASS, as the stage returns");
  assert.deepEqual(r.trace, ["Packet to port 8080 processed"], "the stage reads its own .rodata");
  assert.deepEqual(r.chain, ["main_prog", "port8080_prog"]);
});

test("the handle table does not keep an entry per collection ever loaded", async () => {
  const { setFlagsFromString } = await import("node:v8");
  const { runInNewContext } = await import("node:vm");
  const { vmHandleCount } = await import("../../src/vm/maps/handles.js");
  setFlagsFromString("--expose-gc");
  const gc = runInNewContext("gc") as () => void;
  const seed = spec("examples/tail-call/tail_call.bpf.o");
  const sweep = async () => {
    for (let i = 0; i < 5; i++) {
      gc();
      await new Promise((r) => setTimeout(r, 10));
    }
  };
  await sweep();
  const before = vmHandleCount();
  for (let i = 0; i < 200; i++) loadVmCollection(seed).close();
  const grown = vmHandleCount();
  assert.ok(grown >= before + 200, `each collection takes handles (${before} -> ${grown})`);
  await sweep();
  assert.ok(
    vmHandleCount() < before + 20,
    `entries of collected collections are dropped (${vmHandleCount()} left, ${before} before)`,
  );
});

test("a repeated run that meets a new map value each iteration does not run out of regions", async () => {
  // The kernel runs this a million times; every iteration inserts, looks up and deletes a new key.
  const c = loadVmCollection(spec("test/bpf/vm/value_churn.bpf.o"));
  const p = c.programs.churn_values;
  assert.ok(p);
  // Preparing maps what every run uses (the wasm tier lays out every stack frame a run can reach).
  c.prepare();
  const mapped = c.memory.regions.filter((r) => r !== undefined).length;
  const r = await p.run(new Uint8Array(60), { repeat: 70_000 });
  assert.equal(r.fault, undefined, r.fault?.message);
  assert.equal(r.retval, 2, "XDP_PASS");
  const bss = c.maps[".bss"]?.get(0) as Uint8Array;
  const v = new DataView(bss.buffer, bss.byteOffset);
  assert.equal(v.getUint32(0, true), 70_000, "next_key counted every run");
  assert.equal(v.getBigUint64(8, true), (69_999n * 70_000n) / 2n, "every run wrote through its pointer");
  assert.equal(c.memory.regions.filter((x) => x !== undefined).length, mapped);
});

test("a run times the program only: the first prepares the collection before its timer, reported apart", () => {
  const pkt = buildPacket([
    eth({}),
    ipv4({ src: "10.0.0.1", dst: "10.0.0.2" }),
    tcp({ sport: 40000, dport: 22, flags: "S" }),
  ]);
  for (const tier of ["compiled", "js", "interpreter"] as const) {
    // A clock that ticks 1000 ns a read and notes whether the collection was prepared then.
    const reads: boolean[] = [];
    let now = 0n;
    let c: VmCollection | undefined;
    c = loadVmCollection(spec("examples/tail-call/tail_call.bpf.o"), {
      tier,
      clock: () => {
        reads.push(c?.prepared ?? false);
        now += 1000n;
        return now;
      },
    });
    applyWiring(c, [{ map: "prog_array", key: 1, program: "port22_prog", origin: "user" }]);
    const main = c.programs.main_prog;
    assert.ok(main);
    assert.equal(c.prepared, false, `${tier}: loading does not prepare`);
    const first = c.runSync(main, pkt, {});
    // Two reads around the preparation, then two around the runs: the timer starts prepared.
    assert.deepEqual(reads, [false, true, true, true], tier);
    assert.equal(first.prepareNs, 1000, tier);
    assert.equal(first.durationNs, 1000, tier);
    assert.deepEqual(first.chain, ["main_prog", "port22_prog"]);
    assert.deepEqual(first.trace, ["Packet to port 22 processed"]);
    assert.deepEqual(first.dataOut, pkt, "the preparation's own packet is not the run's");
    // Every program's translated code was entered once (the tail-call targets' too).
    for (const p of Object.values(c.programs))
      assert.equal(
        tier === "compiled" ? isWasm(p.compiled) : isPrimed(p.compiled),
        tier !== "interpreter",
        p.name,
      );
    reads.length = 0;
    const later = c.runSync(main, pkt, { repeat: 4 });
    assert.deepEqual(reads, [true, true], `${tier}: prepared once`);
    assert.equal(later.prepareNs, undefined);
    assert.equal(later.durationNs, 250, "the mean of 4 runs over one tick");
    assert.equal(c.prepare(), 0, "nothing left to prepare");
  }
});
