/**
 * Stats instrumentation on the VM (no root): the rewrite keeps every index in a program true,
 * the seed's counts match the traffic, and a collection loaded without stats runs exactly the
 * object's instructions. test/kernel/stats-both.test.ts holds the kernel to the same counts;
 * the differential (`npm run differential`) runs every object and generated program instrumented.
 */
import assert from "node:assert/strict";
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { test } from "node:test";
import { encodeInstructions } from "../../src/asm/instruction.js";
import { Collection } from "../../src/collection.js";
import { buildPacket } from "../../src/net/build.js";
import { loadCollectionSpec } from "../../src/object/load-collection-spec.js";
import { instrumentCollection } from "../../src/stats/instrument.js";
import { STATS_MAP, ZERO_MAP } from "../../src/stats/layout.js";
import { formatStats, readStats } from "../../src/stats/read-stats.js";
import { insertCode } from "../../src/stats/rewrite.js";
import { writePcap } from "../../src/net/pcap.js";
import { runCli } from "../support/cli.js";
import { insn } from "../support/insn.js";

const SEED = "examples/tail-call/tail_call.bpf.o";
const seed = () => loadCollectionSpec(new Uint8Array(readFileSync(SEED)), { file: SEED });
const tcp = (dport: number) =>
  buildPacket([
    { kind: "eth", src: "02:00:00:00:00:01", dst: "02:00:00:00:00:02" },
    { kind: "ipv4", src: "10.0.0.1", dst: "10.0.0.2" },
    { kind: "tcp", sport: 40000, dport, flags: "S" },
  ]);

test("without stats the VM loads exactly the object's instructions and maps", async () => {
  const spec = seed();
  const coll = await Collection.load(spec, { backend: "vm" });
  try {
    for (const [name, p] of Object.entries(seed().programs)) {
      assert.deepEqual(
        encodeInstructions(coll.programs[name]?.spec.instructions ?? []),
        encodeInstructions(p.instructions),
      );
    }
    assert.equal(coll.maps[STATS_MAP], undefined);
    assert.throws(() => readStats(coll), /loaded without stats/);
  } finally {
    coll.close();
  }
});

test("the seed counts each program's runs and verdicts and the site's calls and misses per key", async () => {
  const coll = await Collection.load(seed(), { backend: "vm", stats: true });
  try {
    coll.maps.prog_array?.set(0, coll.programs.port8080_prog as NonNullable<(typeof coll.programs)[string]>);
    const main = coll.programs.main_prog;
    assert.ok(main);
    for (const port of [8080, 8080, 8080, 22, 22, 9999]) assert.equal((await main.run(tcp(port))).retval, 2);
    // Too short for TCP: XDP_ABORTED from the main function.
    assert.equal((await main.run(tcp(80).subarray(0, 20))).retval, 0);
    const r = readStats(coll);
    assert.deepEqual(r.programs, {
      main_prog: { runs: 7, verdicts: { XDP_ABORTED: 1, XDP_PASS: 3 } },
      port8080_prog: { runs: 3, verdicts: { XDP_PASS: 3 } },
      port22_prog: { runs: 0, verdicts: {} },
    });
    assert.equal(r.sites.length, 1);
    const site = r.sites[0];
    assert.equal(site?.program, "main_prog");
    assert.equal(site?.map, "prog_array");
    assert.equal(site?.site.line, 52);
    assert.equal(site?.site.insn, seed().programs.main_prog?.tailCalls[0]?.insn);
    assert.equal(site?.calls, 5);
    assert.equal(site?.misses, 2);
    assert.deepEqual(site?.keys, [
      { key: 0, calls: 3, misses: 0 },
      { key: 1, calls: 2, misses: 2 },
    ]);
    assert.match(formatStats(r), /prog_array\[1\]: 2 calls, 2 misses/);
  } finally {
    coll.close();
  }
});

test("instrumentation remaps jumps, calls, function addresses, references, func and line info", () => {
  const spec = seed();
  const { spec: out, layout } = instrumentCollection(spec);
  assert.ok(out.maps[STATS_MAP] && out.maps[ZERO_MAP]);
  assert.equal(layout.programs.length, 3);
  const before = spec.programs.main_prog;
  const after = out.programs.main_prog;
  assert.ok(before && after);
  // The site moved, and is still a bpf_tail_call.
  const site = after.tailCalls[0];
  assert.ok(site);
  assert.deepEqual(after.instructions[site.insn], before.instructions[before.tailCalls[0]?.insn ?? -1]);
  // Every original map reference still points at an lddw of its map.
  for (const r of before.references) {
    assert.ok(after.references.some((a) => a.map === r.map && after.instructions[a.insn]?.opcode === 0x18));
  }
  // Line info keeps its order and its lines; func_info[0] stays at 0.
  assert.deepEqual(
    after.lineInfo.map((l) => l.lineNumber),
    before.lineInfo.map((l) => l.lineNumber),
  );
  assert.equal(after.funcInfo[0]?.insn, 0);
  // The original is untouched.
  assert.deepEqual(
    encodeInstructions(before.instructions),
    encodeInstructions(seed().programs.main_prog?.instructions ?? []),
  );
});

test("insertCode: jumps land on `all` blocks and skip `fallthrough` ones; calls and lddw of functions follow", () => {
  const base = seed().programs.port22_prog;
  assert.ok(base);
  // 0: if r1 == 0 goto 2; 1: call +2 (-> 4); 2: exit... laid out: ja, call, exit, lddw func (-> 4), mov, exit
  const prog = {
    ...base,
    instructions: [
      insn(0x15, 1, 0, 1, 0), // 0: if r1 == 0 goto 2
      insn(0x85, 0, 1, 0, 3), // 1: call 5
      insn(0x95), // 2: exit
      { ...insn(0x18, 2, 4, 0, 2), imm64: 2n }, // 3: r2 = func 6 (3 + 1 + 2)
      insn(0), // 4: second slot
      insn(0x05, 0, 0, -6), // 5: goto 0
      insn(0xb7, 0, 0, 0, 2), // 6: r0 = 2
      insn(0x95), // 7: exit
    ],
    references: [],
    functions: [],
    funcInfo: [],
    lineInfo: [],
    tailCalls: [],
  };
  const nop = insn(0xb7, 9, 0, 0, 0);
  const { program, relocation } = insertCode(prog, [
    { before: 2, entered: "all", code: [nop, nop], references: [] },
    { before: 0, entered: "fallthrough", code: [nop], references: [] },
    { before: 6, entered: "fallthrough", code: [nop, nop, nop], references: [] },
  ]);
  const at = (i: number) => program.instructions[relocation.own(i)];
  // 0 jumps to the `all` block in front of 2 (new 2), from new 1.
  assert.equal(relocation.own(0), 1);
  assert.equal(at(0)?.off, relocation.first(2) - (relocation.own(0) + 1));
  // the call into 5 lands at the original 5; goto 0 lands past the fallthrough block at 0.
  assert.equal(relocation.own(1) + 1 + (at(1)?.imm ?? 0), relocation.own(5));
  assert.equal(relocation.own(5) + 1 + (at(5)?.off ?? 0), relocation.own(0));
  // lddw of a function lands past the fallthrough block in front of 6.
  assert.equal(relocation.own(3) + 1 + (at(3)?.imm ?? 0), relocation.own(6));
  assert.equal(program.instructions.length, prog.instructions.length + 6);
});

test("an object that already has the stats map is refused with a hint", () => {
  const { spec } = instrumentCollection(seed());
  assert.throws(() => instrumentCollection(spec), /already has a map named \.tsbpf_stats/);
});

test("run --stats --json ends with a {stats} line; a pipeline file's stats: true does the same", async () => {
  const dir = mkdtempSync(join(tmpdir(), "tsbpf-stats-"));
  try {
    writeFileSync(join(dir, "syn.pcap"), writePcap([tcp(22), tcp(8080), tcp(9999)]));
    const yaml = readFileSync("examples/tail-call/seed.yaml", "utf8").replace(
      "object: tail_call.bpf.o",
      `object: ${resolve(SEED)}\nstats: true`,
    );
    writeFileSync(join(dir, "seed.yaml"), yaml);
    for (const argv of [
      ["run", "examples/tail-call/seed.yaml", "--pcap", join(dir, "syn.pcap"), "--stats", "--json"],
      ["run", join(dir, "seed.yaml"), "--pcap", join(dir, "syn.pcap"), "--json"],
    ]) {
      const r = await runCli(argv);
      assert.equal(r.code, 0, r.stderr);
      const lines = r.stdout.trim().split("\n");
      assert.equal(lines.length, 4);
      const { stats } = JSON.parse(lines[3] as string) as { stats: ReturnType<typeof readStats> };
      assert.deepEqual(stats.programs, {
        main_prog: { runs: 3, verdicts: { XDP_PASS: 1 } },
        port22_prog: { runs: 1, verdicts: { XDP_PASS: 1 } },
        port8080_prog: { runs: 1, verdicts: { XDP_PASS: 1 } },
      });
    }
    const text = await runCli([
      "run",
      "examples/tail-call/seed.yaml",
      "--pcap",
      join(dir, "syn.pcap"),
      "--stats",
    ]);
    assert.match(
      text.stdout,
      /main_prog: tail call into prog_array at tail_call\.bpf\.c:52 \(insn \d+\): 2 calls, 0 misses/,
    );
    // Without --stats, no stats.
    const plain = await runCli([
      "run",
      "examples/tail-call/seed.yaml",
      "--pcap",
      join(dir, "syn.pcap"),
      "--json",
    ]);
    assert.equal(plain.stdout.trim().split("\n").length, 3);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
