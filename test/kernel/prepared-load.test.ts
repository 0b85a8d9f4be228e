/**
 * A skeleton carries its object's prepared form (object/prepared-spec.ts): loading through it
 * must make exactly the bpf() calls, with the same attrs and bytes, that parsing the object and
 * loading it makes (a recording fake Sys), on every fixture object whose skeleton can be
 * generated; reading or editing what the prepared form was made from must reach the kernel as
 * it does on the ELF path; and a prepared text made from another object, or not readable,
 * gives no spec (the skeleton then parses its object).
 */
import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { basename } from "node:path";
import { test } from "node:test";
import { rewriteGlobals } from "../../src/backend/typed-map.js";
import { isTsbpfError } from "../../src/errors.js";
import { generateSkeleton } from "../../src/gen/skeleton.js";
import { loadKernelCollection } from "../../src/kernel/kernel-collection.js";
import { loadCollectionSpec } from "../../src/object/load-collection-spec.js";
import { carriedBtfBlob } from "../../src/object/prepared.js";
import { encodePreparedSpec, openPreparedSpec } from "../../src/object/prepared-spec.js";
import type { CollectionSpec } from "../../src/object/types.js";
import { fixtureObjects } from "../elf/fixture-objects.js";
import { fakeSys, type RecordedCall } from "./support.js";

/** The prepared text a generated skeleton embeds (its `PREPARED` lines), or undefined. */
function preparedOfSkeleton(source: string): string | undefined {
  const m = /const PREPARED = \[\n([\s\S]*?)\n\];/.exec(source);
  if (m === null) return undefined;
  // The pieces are string literals (single-quoted when they hold double quotes): evaluate them.
  return (new Function(`return [${m[1]}].join("")`) as () => string)();
}

/** The bpf() calls loading `spec` makes, or the error it throws. */
async function callsOf(spec: CollectionSpec): Promise<RecordedCall[] | string> {
  let fd = 100;
  const { sys, calls } = fakeSys(() => fd++);
  try {
    const coll = await loadKernelCollection(spec, {
      sys,
      pinDir: "/nonexistent/tsbpf-prepared-test",
      onWarning: () => undefined,
    });
    coll.close();
    return calls;
  } catch (e) {
    return `${(e as Error).message}`;
  }
}

/** Each fixture that parses, with its bytes and the prepared text its generated skeleton embeds. */
function fixtures(): { obj: string; bytes: Uint8Array; text: string }[] {
  const out: { obj: string; bytes: Uint8Array; text: string }[] = [];
  for (const obj of fixtureObjects()) {
    const bytes = new Uint8Array(readFileSync(obj));
    let skeleton: string;
    try {
      const spec = loadCollectionSpec(bytes, { file: basename(obj) });
      skeleton = generateSkeleton(spec, bytes, { file: basename(obj) });
    } catch (e) {
      if (isTsbpfError(e)) continue; // fixtures meant to be refused, or names a skeleton cannot declare
      throw e;
    }
    const text = preparedOfSkeleton(skeleton);
    assert.ok(text !== undefined, `${obj}: the skeleton carries a prepared spec`);
    out.push({ obj, bytes, text });
  }
  return out;
}

test("loading through a skeleton's prepared spec makes the same bpf() calls as parsing the object", async () => {
  const all = fixtures();
  assert.ok(all.length >= 10, `skeletons generated (${all.length})`);
  let loads = 0;
  for (const { obj, bytes, text } of all) {
    const file = basename(obj);
    const parsed = loadCollectionSpec(bytes, { file });
    const lazy = openPreparedSpec(bytes, text, { file });
    assert.ok(lazy !== undefined, `${obj}: the prepared spec opens`);
    const want = await callsOf(parsed);
    const got = await callsOf(lazy);
    assert.deepEqual(got, want, obj);
    if (typeof want !== "string") loads++;
    // The prepared parts were used, not worked out again from a decoded spec.
    for (const p of Object.values(lazy.programs)) {
      assert.ok(
        Object.getOwnPropertyDescriptor(p, "instructions")?.get !== undefined,
        `${obj} ${p.name}: instructions still not decoded after load`,
      );
    }
    if (Object.getOwnPropertyDescriptor(lazy, "btf")?.get !== undefined) {
      assert.ok(carriedBtfBlob(lazy) !== undefined, `${obj}: BTF still carried after load`);
    }
    // Decoded on demand, the spec is the parsed one.
    assert.deepEqual(lazy, loadCollectionSpec(bytes, { file }), `${obj}: the same spec once decoded`);
  }
  assert.ok(loads >= 10, `fixtures loaded (${loads})`);
});

test("what is read or set after opening reaches the kernel as on the ELF path", async () => {
  const obj = "examples/tail-call/tail_call.bpf.o";
  const bytes = new Uint8Array(readFileSync(obj));
  const spec = loadCollectionSpec(bytes, { file: "tail_call.bpf.o" });
  const text = encodePreparedSpec(spec, bytes);
  const open = () => openPreparedSpec(bytes, text, { file: "tail_call.bpf.o" }) as CollectionSpec;

  // An instruction edited through the decoded program is what loads (exit code 1: XDP_DROP).
  const edit = (s: CollectionSpec) => {
    const p = s.programs.port22_prog;
    assert.ok(p !== undefined);
    const last = p.instructions.findIndex((i) => i.opcode === 0xb7 && i.dst === 0);
    (p.instructions[last] as { imm: number }).imm = 1;
  };
  const lazy = open();
  edit(lazy);
  const parsed = loadCollectionSpec(bytes, { file: "tail_call.bpf.o" });
  edit(parsed);
  const withEdit = await callsOf(lazy);
  assert.deepEqual(withEdit, await callsOf(parsed));
  assert.notDeepEqual(withEdit, await callsOf(open()), "the edit changed the bytes loaded");

  // Replaced BTF (here: dropped) is what loads.
  const noBtf = open();
  noBtf.btf = undefined;
  const parsedNoBtf = loadCollectionSpec(bytes, { file: "tail_call.bpf.o" });
  parsedNoBtf.btf = undefined;
  assert.deepEqual(await callsOf(noBtf), await callsOf(parsedNoBtf));
  assert.ok(carriedBtfBlob(noBtf) === undefined);

  // A map edited before load.
  const bigger = open();
  (bigger.maps.prog_array as { maxEntries: number }).maxEntries = 7;
  const parsedBigger = loadCollectionSpec(bytes, { file: "tail_call.bpf.o" });
  (parsedBigger.maps.prog_array as { maxEntries: number }).maxEntries = 7;
  assert.deepEqual(await callsOf(bigger), await callsOf(parsedBigger));
});

test("global variables set before load are map data: the programs stay prepared", async () => {
  const obj = "test/bpf/fixtures/globals.bpf.o";
  const bytes = new Uint8Array(readFileSync(obj));
  const parsed = loadCollectionSpec(bytes, { file: "globals.bpf.o" });
  const lazy = openPreparedSpec(bytes, encodePreparedSpec(parsed, bytes), { file: "globals.bpf.o" });
  assert.ok(lazy !== undefined);
  rewriteGlobals(parsed, ".rodata", { config_port: 8443 });
  rewriteGlobals(lazy, ".rodata", { config_port: 8443 });
  assert.notDeepEqual(
    lazy.maps[".rodata"]?.initialData,
    loadCollectionSpec(bytes).maps[".rodata"]?.initialData,
  );
  const calls = await callsOf(lazy);
  assert.deepEqual(calls, await callsOf(parsed));
  for (const p of Object.values(lazy.programs)) {
    assert.ok(
      Object.getOwnPropertyDescriptor(p, "instructions")?.get !== undefined,
      `${p.name} still prepared`,
    );
  }
});

test("a prepared text made from another object, or unreadable, opens nothing", () => {
  const a = new Uint8Array(readFileSync("examples/tail-call/tail_call.bpf.o"));
  const text = encodePreparedSpec(loadCollectionSpec(a, { file: "a" }), a);
  assert.ok(openPreparedSpec(a, text) !== undefined);
  const b = a.slice();
  b[b.length - 100] = (b[b.length - 100] as number) ^ 1; // one bit of the section headers
  assert.equal(openPreparedSpec(b, text), undefined);
  assert.equal(openPreparedSpec(a.subarray(0, a.length - 1), text), undefined);
  assert.equal(openPreparedSpec(a, text.slice(0, -1)), undefined, "truncated JSON");
  assert.equal(openPreparedSpec(a, text.replace('"format":4', '"format":5')), undefined, "another format");
  assert.equal(openPreparedSpec(a, "null"), undefined);
});
