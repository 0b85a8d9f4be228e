/**
 * Stats on both engines: the seed, loaded with stats, gives the same counts on the kernel and
 * the VM for the same packets, and each count matches the traffic; without stats, both engines
 * load exactly the object's instructions.
 */
import assert from "node:assert/strict";
import { test } from "node:test";
import { encodeInstructions } from "../../src/asm/instruction.js";
import type { BpfProgram } from "../../src/backend/types.js";
import { Collection } from "../../src/collection.js";
import { buildPacket } from "../../src/net/build.js";
import { STATS_MAP } from "../../src/stats/layout.js";
import { readStats } from "../../src/stats/read-stats.js";
import { traceLock } from "./attach-support.js";
import { loadSpec, onEachEngine } from "./both-engines.js";
import { kernelSkipReason } from "./support.js";

const skip = kernelSkipReason();
const SEED = "examples/tail-call/tail_call.bpf.o";
const tcp = (dport: number) =>
  buildPacket([
    { kind: "eth", src: "02:00:00:00:00:01", dst: "02:00:00:00:00:02" },
    { kind: "ipv4", src: "10.0.0.1", dst: "10.0.0.2" },
    { kind: "tcp", sport: 40000, dport, flags: "S" },
  ]);

test("without stats, both engines load exactly the object's instructions", { skip }, async () => {
  const unlock = await traceLock();
  try {
    await onEachEngine(
      (backend) => Collection.load(loadSpec(SEED), { backend }),
      async (c, backend) => {
        const original = loadSpec(SEED);
        for (const [name, p] of Object.entries(original.programs)) {
          assert.deepEqual(
            encodeInstructions(c.programs[name]?.spec.instructions ?? []),
            encodeInstructions(p.instructions),
            `${backend} ${name}`,
          );
        }
        assert.deepEqual(Object.keys(c.maps).sort(), Object.keys(original.maps).sort(), backend);
        assert.equal(c.maps[STATS_MAP], undefined);
      },
    );
  } finally {
    await unlock();
  }
});

test("the seed's counts are the same on the kernel and the VM, and match the traffic", { skip }, async () => {
  const unlock = await traceLock();
  try {
    const got = await onEachEngine(
      (backend) => Collection.load(loadSpec(SEED), { backend, stats: true }),
      async (c) => {
        c.maps.prog_array?.set(0, c.programs.port8080_prog as BpfProgram);
        c.maps.prog_array?.set(1, c.programs.port22_prog as BpfProgram);
        const main = c.programs.main_prog as BpfProgram;
        for (const port of [8080, 8080, 22, 9999, 9999, 9999]) await main.run(tcp(port));
        c.maps.prog_array?.remove(1);
        for (const port of [22, 22]) await main.run(tcp(port));
        await main.run(tcp(80).subarray(0, 20), { repeat: 3 });
        return readStats(c);
      },
    );
    assert.deepEqual(got.vm, got.kernel);
    assert.deepEqual(got.kernel.programs, {
      main_prog: { runs: 11, verdicts: { XDP_ABORTED: 3, XDP_PASS: 5 } },
      port8080_prog: { runs: 2, verdicts: { XDP_PASS: 2 } },
      port22_prog: { runs: 1, verdicts: { XDP_PASS: 1 } },
    });
    assert.deepEqual(got.kernel.sites[0]?.keys, [
      { key: 0, calls: 2, misses: 0 },
      { key: 1, calls: 3, misses: 2 },
    ]);
  } finally {
    await unlock();
  }
});
