/**
 * A generated skeleton opens from the prepared spec it carries (object/prepared-spec.ts) while
 * its object is the one the spec was made from, and otherwise parses the object: a rebuilt object
 * (given to open, or linked) falls back to parsing, with the usual mismatch error when its shape
 * changed; unreadable prepared text falls back; an embedded object edited by hand loads what
 * the prepared spec says and says so clearly when its instructions are read.
 */
import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { test } from "node:test";
import { isTsbpfError } from "../../src/errors.js";
import { loadCollectionSpec } from "../../src/object/load-collection-spec.js";
import { encodePreparedSpec } from "../../src/object/prepared-spec.js";
import type { CollectionSpec } from "../../src/object/types.js";
import { defineSkeleton } from "../../src/skeleton/define-skeleton.js";
import type { SkeletonDescriptor } from "../../src/skeleton/types.js";

const TAIL = new Uint8Array(readFileSync("examples/tail-call/tail_call.bpf.o"));
const OTHER = new Uint8Array(readFileSync("test/bpf/fixtures/globals.bpf.o"));
const base64 = (b: Uint8Array) => [Buffer.from(b).toString("base64")];

function descriptor(object: Uint8Array, prepared: string | undefined): SkeletonDescriptor {
  return {
    name: "TailCall",
    file: "tail_call.bpf.o",
    object: { base64: () => base64(object) },
    ...(prepared === undefined ? {} : { prepared: { json: () => [prepared] } }),
    programs: { main_prog: "xdp", port8080_prog: "xdp", port22_prog: "xdp" },
    maps: { prog_array: { type: "prog_array", keySize: 4, valueSize: 4, programType: "xdp" } },
    globals: {},
  };
}

const PREPARED = encodePreparedSpec(loadCollectionSpec(TAIL, { file: "tail_call.bpf.o" }), TAIL);
const specOf = (d: SkeletonDescriptor, object?: Uint8Array): CollectionSpec =>
  (
    defineSkeleton(d).open(object === undefined ? {} : { object }) as unknown as {
      spec: CollectionSpec;
    }
  ).spec;
const lazy = (s: CollectionSpec) =>
  Object.getOwnPropertyDescriptor(s.programs.main_prog, "instructions")?.get !== undefined;

test("a skeleton opens from its prepared spec, which decodes to the parsed one", () => {
  const s = specOf(descriptor(TAIL, PREPARED));
  assert.ok(lazy(s), "opened from the prepared spec");
  assert.deepEqual(s, loadCollectionSpec(TAIL, { file: "tail_call.bpf.o" }));
  assert.ok(lazy(specOf(descriptor(TAIL, PREPARED), TAIL)), "the same object given to open");
});

test("another object given to open is parsed, and a changed shape is the usual mismatch", () => {
  assert.ok(lazy(specOf(descriptor(TAIL, PREPARED), TAIL.slice())), "a copy of the same object");
  const d = descriptor(TAIL, PREPARED);
  assert.throws(
    () => specOf(d, OTHER),
    (e: unknown) => isTsbpfError(e) && /does not match its object/.test(e.message),
  );
});

test("unreadable prepared text falls back to parsing the object", () => {
  for (const bad of [
    PREPARED.slice(0, 200),
    "{}",
    "not json",
    PREPARED.replace('"format":4', '"format":9'),
  ]) {
    const s = specOf(descriptor(TAIL, bad));
    assert.ok(!lazy(s), "parsed");
    assert.deepEqual(s, loadCollectionSpec(TAIL, { file: "tail_call.bpf.o" }));
  }
  // Ranges that point outside the binary part.
  const t = JSON.parse(PREPARED) as { programs: { insns: number[] }[] };
  (t.programs[0] as { insns: number[] }).insns = [1e9, 8];
  assert.ok(!lazy(specOf(descriptor(TAIL, JSON.stringify(t)))));
});

test("an embedded object edited by hand: its instructions are refused with a clear error", () => {
  const edited = TAIL.slice();
  edited[100] = (edited[100] as number) ^ 0xff;
  const s = specOf(descriptor(edited, PREPARED));
  assert.ok(lazy(s), "the prepared spec, which is self-consistent, is what loads");
  assert.throws(
    () => s.programs.main_prog?.instructions,
    (e: unknown) =>
      isTsbpfError(e) &&
      /embedded object is not the one its prepared spec was made from/.test(e.message) &&
      /generate it again/.test(e.hint ?? ""),
  );
});
