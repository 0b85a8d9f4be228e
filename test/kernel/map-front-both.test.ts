/**
 * One map front over both engines: the same mistake with a map gives the same error class, the
 * same message and the same errno on the VM and on the kernel, and the same correct call gives
 * the same result. Mistakes the front catches (sizes, integers that do not fit, objects where
 * bytes belong) never reach an engine; the others are the kernel's errno, which the VM mirrors.
 */
import assert from "node:assert/strict";
import { test } from "node:test";
import { UpdateFlag } from "../../src/abi/index.js";
import type { BackendName, BpfMap, LoadedCollection } from "../../src/backend/types.js";
import { Collection } from "../../src/collection.js";
import { isTsbpfError } from "../../src/errors.js";
import { loadSpec, onEachEngine } from "./both-engines.js";
import { kernelSkipReason } from "./support.js";

const skip = kernelSkipReason();
const MAPS = "test/bpf/edge/maps_globals.bpf.o";
const SEED = "examples/tail-call/tail_call.bpf.o";

/** What a call did, in a form two engines can be compared on. */
type Outcome = { ok: string } | { error: string; message: string; errno: number | undefined };

function outcome(fn: () => unknown): Outcome {
  try {
    const v = fn();
    return { ok: v instanceof Uint8Array ? Buffer.from(v).toString("hex") : JSON.stringify(v ?? null) };
  } catch (e) {
    if (!isTsbpfError(e)) throw e; // a RangeError or TypeError from deep inside is a defect
    return { error: e.name, message: e.message, errno: (e as { errno?: number }).errno };
  }
}

function mapOf(c: LoadedCollection, name: string): BpfMap {
  const m = c.maps[name];
  assert.ok(m, `map ${name}`);
  return m;
}

/** Each mistake (and a few right calls between them), by name, on a fresh collection. */
const MAP_CASES: Record<string, (c: LoadedCollection) => unknown> = {
  "key of the wrong size": (c) => mapOf(c, "arr").update(new Uint8Array(3), new Uint8Array(8)),
  "value of the wrong size": (c) => mapOf(c, "arr").update(new Uint8Array(4), new Uint8Array(7)),
  "per-CPU value of one CPU's size, raw": (c) =>
    mapOf(c, "pcpu_arr").update(new Uint8Array(4), new Uint8Array(8)),
  "flags as a number": (c) =>
    mapOf(c, "arr").update(new Uint8Array(4), new Uint8Array(8), 1 as unknown as bigint),
  "key that does not fit": (c) => mapOf(c, "arr").set(2 ** 32, 1),
  "value that does not fit": (c) => mapOf(c, "arr").set(0, 2n ** 64n),
  "fractional key": (c) => mapOf(c, "arr").set(1.5, 1),
  "string value": (c) => mapOf(c, "arr").set(0, "7" as unknown as number),
  "a program into an array": (c) => mapOf(c, "arr").set(0, c.programs.update_all as never),
  "index past max_entries": (c) => mapOf(c, "arr").set(9, 1),
  "unknown flags": (c) => mapOf(c, "arr").set(1, 1, 3n),
  "BPF_F_LOCK without a spin lock": (c) => mapOf(c, "arr").set(1, 1, UpdateFlag.LOCK),
  "NOEXIST on an array": (c) => mapOf(c, "arr").set(1, 1, UpdateFlag.NOEXIST),
  "delete from an array": (c) => mapOf(c, "arr").remove(1),
  "delete an absent hash key": (c) => mapOf(c, "hash").remove(99),
  "EXIST on an absent hash key": (c) => mapOf(c, "hash").set(5, 1, UpdateFlag.EXIST),
  "NOEXIST on a present hash key": (c) => {
    mapOf(c, "hash").set(5, 1);
    return mapOf(c, "hash").set(5, 2, UpdateFlag.NOEXIST);
  },
  "write to frozen .rodata": (c) => mapOf(c, ".rodata").set(0, new Uint8Array(53)),
  "lookup in a ring buffer": (c) => mapOf(c, "rb").lookup(new Uint8Array(0)),
  "a right write, read back": (c) => {
    mapOf(c, "hash").set(7, 0x1122334455667788n);
    return mapOf(c, "hash").get(7);
  },
  "one value on every CPU": (c) => {
    mapOf(c, "pcpu_arr").set(2, 5);
    return mapOf(c, "pcpu_arr")
      .lookupPerCpu(2)
      ?.map((v) => Buffer.from(v).toString("hex"));
  },
};

const SEED_CASES: Record<string, (c: LoadedCollection) => unknown> = {
  "a number into a prog array": (c) => mapOf(c, "prog_array").set(0, 5),
  "a map into a prog array": (c) => mapOf(c, "prog_array").set(0, mapOf(c, ".rodata")),
  "NOEXIST into a prog array": (c) =>
    mapOf(c, "prog_array").set(0, c.programs.port22_prog as never, UpdateFlag.NOEXIST),
  "a slot past max_entries": (c) => mapOf(c, "prog_array").set(1000, c.programs.port22_prog as never),
  "delete an empty slot": (c) => mapOf(c, "prog_array").remove(1),
  "fill a slot and clear it": (c) => {
    mapOf(c, "prog_array").set(1, c.programs.port22_prog as never);
    mapOf(c, "prog_array").remove(1);
    return mapOf(c, "prog_array").get(1);
  },
};

async function runCases(file: string, cases: Record<string, (c: LoadedCollection) => unknown>) {
  const out: Record<BackendName, Record<string, Outcome>> = { kernel: {}, vm: {} };
  for (const [name, fn] of Object.entries(cases)) {
    const r = await onEachEngine(
      (backend) => Collection.load(loadSpec(file), { backend }),
      async (c) => outcome(() => fn(c)),
    );
    out.kernel[name] = r.kernel;
    out.vm[name] = r.vm;
  }
  return out;
}

test("the same map mistake gives the same error on the VM and the kernel", { skip }, async () => {
  const { kernel, vm } = await runCases(MAPS, MAP_CASES);
  assert.deepEqual(vm, kernel);
  // And the errors are the ones meant, not the same accident twice.
  assert.deepEqual(vm["key of the wrong size"], {
    error: "UsageError",
    message: "map arr: key is 3 bytes, the map needs 4 bytes (map arr)",
    errno: undefined,
  });
  assert.match(
    (vm["per-CPU value of one CPU's size, raw"] as { message: string }).message,
    /the map needs \d+ bytes/,
  );
  assert.deepEqual(vm["index past max_entries"], {
    error: "MapError",
    message: "map arr: update key 9: E2BIG (map arr)",
    errno: 7,
  });
  assert.equal((vm["delete from an array"] as { errno: number }).errno, 22);
  assert.equal((vm["delete an absent hash key"] as { errno: number }).errno, 2);
  assert.equal((vm["NOEXIST on a present hash key"] as { errno: number }).errno, 17);
  assert.equal((vm["write to frozen .rodata"] as { errno: number }).errno, 1);
  assert.equal((vm["a program into an array"] as { error: string }).error, "UsageError");
  assert.deepEqual(vm["a right write, read back"], { ok: "8877665544332211" });
});

test("prog arrays refuse the same things the same way on both engines", { skip }, async () => {
  const { kernel, vm } = await runCases(SEED, SEED_CASES);
  assert.deepEqual(vm, kernel);
  assert.deepEqual(vm["a number into a prog array"], {
    error: "UsageError",
    message: "map prog_array: update key 0: a prog_array takes a program, not a number (map prog_array)",
    errno: undefined,
  });
  assert.equal((vm["a map into a prog array"] as { error: string }).error, "UsageError");
  assert.equal((vm["NOEXIST into a prog array"] as { errno: number }).errno, 22);
  assert.equal((vm["a slot past max_entries"] as { errno: number }).errno, 7);
  assert.equal((vm["delete an empty slot"] as { errno: number }).errno, 2);
  assert.deepEqual(vm["fill a slot and clear it"], { ok: "null" });
});

test("a program of one engine cannot go into the other engine's prog array", { skip }, async () => {
  const k = await Collection.load(loadSpec(SEED), { backend: "kernel" });
  const v = await Collection.load(loadSpec(SEED), { backend: "vm" });
  try {
    const intoKernel = outcome(() => mapOf(k, "prog_array").set(0, v.programs.port22_prog as never));
    const intoVm = outcome(() => mapOf(v, "prog_array").set(0, k.programs.port22_prog as never));
    assert.match(
      (intoKernel as { message: string }).message,
      /^map prog_array: update key 0: port22_prog is a program of another engine/,
    );
    assert.match(
      (intoVm as { message: string }).message,
      /^map prog_array: update key 0: port22_prog is a program of another engine/,
    );
  } finally {
    v.close();
    k.close();
  }
});
