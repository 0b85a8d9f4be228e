import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { test } from "node:test";
import { parseElf } from "../../src/elf/index.js";
import { isTsbpfError } from "../../src/errors.js";
import { loadCollectionSpec } from "../../src/object/index.js";
import { fixtureObjects } from "../elf/fixture-objects.js";

/** xorshift32: deterministic, so a failure can be replayed from its seed and iteration. */
function rng(seed: number): () => number {
  let x = seed >>> 0 || 1;
  return () => {
    x ^= x << 13;
    x >>>= 0;
    x ^= x >>> 17;
    x ^= x << 5;
    x >>>= 0;
    return x;
  };
}

/**
 * Loads `bytes` and classifies the outcome. loadCollectionSpec wraps any stray exception in a
 * ParseError whose cause is that exception; such a wrapper still counts as a failure here, since
 * it means some input slipped past a bounds check.
 */
function outcome(bytes: Uint8Array): "ok" | "typed" | string {
  try {
    loadCollectionSpec(bytes, { file: "fuzz.o" });
    return "ok";
  } catch (e) {
    if (!isTsbpfError(e)) return `untyped: ${String(e)}`;
    if (e.cause !== undefined && !isTsbpfError(e.cause)) return `wrapped: ${String(e.cause)}`;
    if (e.context.file !== "fuzz.o") return `no file in context: ${e.message}`;
    return "typed";
  }
}

const objects = [
  "examples/tail-call/tail_call.bpf.o",
  "test/bpf/object/linking.bpf.o",
  "test/bpf/object/linking-be.bpf.o",
  "test/bpf/object/legacy.bpf.o",
  "test/bpf/object/nobtf.bpf.o",
  ...fixtureObjects().filter((o) => o.startsWith("test/bpf/fixtures/")),
];

for (const obj of objects) {
  test(`truncated and bit-flipped copies fail only with typed errors: ${obj}`, { timeout: 120_000 }, () => {
    const orig = new Uint8Array(readFileSync(obj));
    assert.equal(outcome(orig), "ok");
    const failures: string[] = [];
    const started = Date.now();
    let slowest = 0;
    const check = (b: Uint8Array, what: string) => {
      const t0 = Date.now();
      const r = outcome(b);
      slowest = Math.max(slowest, Date.now() - t0);
      if (r !== "ok" && r !== "typed") failures.push(`${what}: ${r}`);
    };

    // Truncation at every 8th length, plus every length inside the ELF header.
    for (let len = 0; len < orig.length; len += len < 64 ? 1 : 8)
      check(orig.subarray(0, len), `truncate ${len}`);

    // Bit flips aimed at the parts the loader reads: headers, tables, code, BTF, maps.
    const elf = parseElf(orig);
    const ranges: [number, number][] = [[0, 64]];
    const shoff = Number(new DataView(orig.buffer).getBigUint64(40, elf.littleEndian));
    ranges.push([shoff, elf.sections.length * 64]);
    for (const s of elf.sections) {
      if (s.data.length > 0 && !s.name.startsWith(".debug")) ranges.push([s.offset, s.data.length]);
    }
    const next = rng(0x7eb9f + orig.length);
    for (let i = 0; i < 1500; i++) {
      const b = orig.slice();
      const flips = 1 + (next() % 4);
      for (let k = 0; k < flips; k++) {
        const [start, len] = ranges[next() % ranges.length] as [number, number];
        const at = start + (next() % len);
        b[at] = (b[at] as number) ^ (1 << (next() % 8));
      }
      check(b, `flip iteration ${i}`);
    }
    assert.deepEqual(failures.slice(0, 5), []);
    assert.ok(slowest < 2000, `slowest load took ${slowest} ms`);
    assert.ok(Date.now() - started < 110_000);
  });
}
