/**
 * Event readers on both engines (the VM always; the kernel as root): test/bpf/events/events.bpf.o
 * emits sequence-numbered records through a ring buffer and a perf event array, and every test
 * proves on each engine that what the reader hands over is exactly what was produced: across the
 * ring's wrap-around, records larger than a page, discarded records skipped, drops counted by the
 * producer, a perf buffer's overflow reported as lost records, typed records, and a reader closed
 * (by itself or by its collection) while it waits.
 */
import assert from "node:assert/strict";
import { test } from "node:test";
import type { EventReader } from "../../src/backend/event-reader.js";
import { globals } from "../../src/backend/typed-map.js";
import type { BackendName } from "../../src/backend/types.js";
import { Collection } from "../../src/collection.js";
import { isUsageError } from "../../src/errors.js";
import { hostPossibleCpus } from "../../src/backend/possible-cpus.js";
import { type KernelCollection, loadKernelCollection } from "../../src/kernel/kernel-collection.js";
import { loadVmCollection, type VmCollection } from "../../src/vm/vm-collection.js";
import { Events } from "../bpf/events/events.skel.js";
import { loadSpec } from "./both-engines.js";
import { kernelSkipReason } from "./support.js";

const FILE = "test/bpf/events/events.bpf.o";
const RING = 16384;
const skipKernel = kernelSkipReason();

type Coll = KernelCollection | VmCollection;

async function load(backend: BackendName): Promise<Coll> {
  return backend === "kernel"
    ? Collection.load(loadSpec(FILE), { backend: "kernel" })
    : Collection.load(loadSpec(FILE), { backend: "vm" });
}

/** The producer's packet: record size, records per run. */
function cfg(size: number, count: number): Uint8Array {
  const p = new Uint8Array(64);
  const v = new DataView(p.buffer);
  v.setUint32(0, size, true);
  v.setUint32(4, count, true);
  return p;
}

/** Sequence number and size every record starts with. */
function head(r: Uint8Array): { seq: number; size: number } {
  const v = new DataView(r.buffer, r.byteOffset, r.byteLength);
  return { seq: Number(v.getBigUint64(0, true)), size: v.getUint32(8, true) };
}

function drops(c: Coll): bigint {
  return globals(c, ".bss").get("drops") as bigint;
}

/** Runs `body` on each engine in its own test; the kernel's skips without root. */
function both(name: string, body: (c: Coll, backend: BackendName) => Promise<void>): void {
  for (const backend of ["vm", "kernel"] as const) {
    test(`${name} (${backend})`, { skip: backend === "kernel" ? skipKernel : undefined }, async () => {
      const c = await load(backend);
      try {
        await body(c, backend);
      } finally {
        c.close();
      }
    });
  }
}

both(
  "ring buffer: sequence-numbered records across many wrap-arounds, none lost or duplicated",
  async (c) => {
    const r = c.events("rb");
    let expect = 0;
    let bytes = 0;
    const size = 100; // 112 bytes a record with its header: records straddle the ring's end
    for (let round = 0; round < 40; round++) {
      await c.programs.rb_emit?.run(cfg(size, 64));
      const n = r.consume((rec) => {
        const h = head(rec);
        assert.equal(rec.byteLength, size);
        assert.equal(h.size, size);
        assert.equal(h.seq, expect, `record ${expect} out of order or missing`);
        expect++;
        bytes += 112;
      });
      assert.equal(n, 64);
    }
    assert.equal(expect, 40 * 64);
    assert.ok(bytes > 10 * RING, "the producer went round the ring many times");
    assert.equal(drops(c), 0n);
    assert.equal(r.poll().length, 0, "nothing is handed over twice");
    await r.close();
  },
);

both("ring buffer: records larger than a page read whole", async (c) => {
  const r = c.events("rb");
  const size = 5000;
  let expect = 0;
  for (let round = 0; round < 8; round++) {
    await c.programs.rb_emit?.run(cfg(size, 3));
    const got = await r.read({ timeoutMs: 1000 });
    assert.equal(got.length, 3);
    for (const rec of got) {
      assert.equal(rec.byteLength, size);
      assert.deepEqual(head(rec), { seq: expect++, size });
      // The scratch value beyond the header is never written: zeros, wherever the record wrapped.
      assert.ok(
        rec.subarray(16).every((b) => b === 0),
        "the body of a wrapped record is contiguous",
      );
    }
  }
  assert.equal(drops(c), 0n);
});

both("ring buffer: discarded records are skipped", async (c) => {
  const r = c.events("rb", { type: "struct event" });
  await c.programs.rb_discard?.run(cfg(16, 10));
  const got = r.poll() as { seq: bigint; size: number }[];
  assert.deepEqual(
    got.map((e) => e.seq),
    [0n, 2n, 4n, 6n, 8n],
  );
  assert.ok(got.every((e) => e.size === 16));
});

both("ring buffer: a full ring fails the producer, counted by its own counter", async (c) => {
  const r = c.events("rb");
  await c.programs.rb_emit?.run(cfg(100, 200));
  const seqs = r.poll().map((x) => head(x).seq);
  const fit = Math.floor((RING - 1) / 112);
  assert.equal(seqs.length, fit);
  assert.deepEqual(
    seqs,
    Array.from({ length: fit }, (_, i) => i),
  );
  assert.equal(drops(c), BigInt(200 - fit));
});

both(
  "ring buffer: the async iterator yields typed records and ends when the collection closes",
  async (c) => {
    const r = c.events<{ seq: bigint; size: number; cpu: number }>("rb", { type: "event" });
    const seen: bigint[] = [];
    const loop = (async () => {
      for await (const e of r) seen.push(e.seq);
    })();
    for (let i = 0; i < 5; i++) {
      await c.programs.rb_emit?.run(cfg(16, 10));
      await new Promise((res) => setTimeout(res, 5));
    }
    const deadline = Date.now() + 3000;
    while (seen.length < 50 && Date.now() < deadline) await new Promise((res) => setTimeout(res, 10));
    c.close();
    await loop;
    assert.deepEqual(
      seen,
      Array.from({ length: 50 }, (_, i) => BigInt(i)),
    );
    assert.equal(r.closed, true);
  },
);

both("a reader closed while it waits returns [] and keeps the event loop free", async (c, backend) => {
  const r: EventReader = c.events("rb");
  const t0 = Date.now();
  const waiting = r.read();
  // While the read waits, timers still fire on time: the wait is off the main thread.
  await new Promise((res) => setTimeout(res, 100));
  const late = Date.now() - t0 - 100;
  assert.ok(late < 80, `a 100 ms timer fired ${late} ms late while the reader waited`);
  await r.close();
  assert.deepEqual(await waiting, []);
  assert.deepEqual(await r.read(), [], "a closed reader reads nothing");
  assert.equal(
    r.consume(() => assert.fail("no record after close")),
    0,
  );
  // A timed read with nothing coming returns [] after its timeout.
  const r2 = c.events("rb");
  const t1 = Date.now();
  assert.deepEqual(await r2.read({ timeoutMs: 50 }), []);
  assert.ok(Date.now() - t1 >= 45, `${backend}: the timeout was honoured`);
  // The collection closing under a waiting reader ends its read.
  const w2 = r2.read();
  c.close();
  assert.deepEqual(await w2, []);
  assert.equal(r2.closed, true);
});

both("perf event array: samples per CPU, and an overflowing buffer reports lost records", async (c) => {
  const r = c.events("perf", { pages: 1 });
  await c.programs.perf_emit?.run(cfg(16, 3));
  const got = r.poll();
  assert.deepEqual(
    got.map((x) => head(x).seq),
    [0, 1, 2],
  );
  // The kernel pads a raw sample so that its u32 size and data fill whole 8-byte words.
  assert.ok(got.every((x) => x.byteLength === 20));
  // One page holds 4 samples of 1000 bytes; the 6 others are dropped.
  await c.programs.perf_emit?.run(cfg(1000, 10));
  assert.equal(r.poll().length, 4);
  assert.equal(drops(c), 6n);
  // The kernel writes the lost record before the next sample that fits.
  await c.programs.perf_emit?.run(cfg(16, 1));
  const after = r.poll();
  assert.deepEqual(
    after.map((x) => head(x).seq),
    [13],
  );
  assert.equal(r.lost, 6);
  await r.close();
  assert.equal(r.lost, 6, "the count survives close");
});

both("misuse: a map that is not an event map, an unknown map or struct", async (c) => {
  assert.throws(
    () => c.events("scratch"),
    (e: unknown) => isUsageError(e) && /percpu_array/.test(e.message),
  );
  assert.throws(
    () => c.events("nope"),
    (e: unknown) => isUsageError(e) && /rb, perf/.test(String(e.hint)),
  );
  assert.throws(
    () => c.events("rb", { type: "struct nope" }),
    (e: unknown) => isUsageError(e),
  );
  assert.throws(
    () => c.events("perf", { pages: 3 }),
    (e: unknown) => isUsageError(e) && /power of 2/.test(e.message),
  );
  const r = c.events("rb");
  assert.throws(
    () => c.events("rb"),
    (e: unknown) => isUsageError(e) && /already has an open reader/.test(e.message),
  );
  await assert.rejects(r.read({ max: 0 }), (e: unknown) => isUsageError(e) && /at least 1/.test(e.message));
  await assert.rejects(r.read({ timeoutMs: -5 }), (e: unknown) => isUsageError(e));
  await r.close();
  await c.events("rb").close(); // a closed reader's map can be read again
});

both("perf event array: samples that wrap the buffer's end read whole, in order", async (c) => {
  const r = c.events("perf", { pages: 1 });
  let expect = 0;
  // 100-byte samples take 112 bytes: every few rounds one runs past the one-page buffer's end.
  for (let round = 0; round < 30; round++) {
    await c.programs.perf_emit?.run(cfg(100, 10));
    const n = r.consume((rec) => {
      assert.deepEqual(head(rec), { seq: expect++, size: 100 });
      assert.ok(rec.subarray(16, 100).every((b) => b === 0));
    });
    assert.equal(n, 10);
  }
  assert.equal(r.lost, 0);
  assert.equal(drops(c), 0n);
});

for (const backend of ["vm", "kernel"] as const) {
  test(`a generated skeleton's record map reads typed events (${backend})`, {
    skip: backend === "kernel" ? skipKernel : undefined,
  }, async () => {
    await using skel = await Events.openAndLoad({ backend });
    const r = skel.maps.rb.events();
    await skel.progs.rb_emit.run(cfg(16, 3));
    const got = r.poll();
    // Typed by the skeleton: seq is a bigint, size a number, no cast.
    const seqs: bigint[] = got.map((e) => e.seq);
    assert.deepEqual(seqs, [0n, 1n, 2n]);
    assert.ok(got.every((e) => e.size === 16));
    const p = skel.maps.perf.events({ pages: 1 });
    await skel.progs.perf_emit.run(cfg(16, 2));
    assert.deepEqual(
      p.poll().map((e) => e.seq),
      [3n, 4n],
    );
  });
}

for (const backend of ["vm", "kernel"] as const) {
  test(`each engine's own loader sizes a perf event array without max_entries, not only Collection.load (${backend})`, {
    skip: backend === "kernel" ? skipKernel : undefined,
  }, async () => {
    // The events bench loads through loadKernelCollection; the kernel refused max_entries 0 (EINVAL).
    const c: Coll =
      backend === "kernel"
        ? await loadKernelCollection(loadSpec(FILE), { onWarning: () => {} })
        : loadVmCollection(loadSpec(FILE), { possibleCpus: 3 });
    try {
      assert.equal(loadSpec(FILE).maps.perf_unsized?.maxEntries, 0, "the object leaves max_entries 0");
      assert.equal(c.maps.perf_unsized?.spec.maxEntries, backend === "vm" ? 3 : hostPossibleCpus());
      const r = c.events<{ seq: bigint }>("perf_unsized", { type: "event", pages: 1 });
      await c.programs.perf_unsized_emit?.run(cfg(16, 1));
      assert.deepEqual(
        r.poll().map((e) => e.seq),
        [42n],
      );
    } finally {
      c.close();
    }
  });
}

both("a perf event array without max_entries gets a slot per CPU, as libbpf sizes it", async (c) => {
  assert.equal(c.maps.perf_unsized?.spec.maxEntries, c.maps.perf_unsized?.possibleCpus);
  const r = c.events<{ seq: bigint }>("perf_unsized", { type: "event", pages: 1 });
  await c.programs.perf_unsized_emit?.run(cfg(16, 1));
  assert.deepEqual(
    r.poll().map((e) => e.seq),
    [42n],
  );
});
