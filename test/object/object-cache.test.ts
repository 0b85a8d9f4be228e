/**
 * The object cache (src/object/object-cache.ts) through a host held in memory, as bin/tsbpf.js
 * holds a file: what one process remembers at exit, the next opens by the object's exact bytes,
 * as the spec parsing would give; anything else (other bytes, a damaged file, an object whose
 * text would not open) is parsed, and nothing the caller does to its bytes reaches the cache.
 * test/api/package-entry.test.ts runs the real host and file.
 */
import assert from "node:assert/strict";
import { readdirSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { test } from "node:test";
import { isParseError } from "../../src/errors.js";
import { loadRemembered } from "../../src/object/load-collection-spec.js";
import {
  OBJECT_MAX_BYTES,
  OBJECTS_KEPT,
  type ObjectCacheHost,
  objectCache,
} from "../../src/object/object-cache.js";
import { parseCollectionSpec } from "../../src/object/parse-collection-spec.js";
import { mapsLoadedBy } from "../../src/object/prepared.js";
import { printkSitesOf } from "../../src/object/prepared-spec.js";
import { printkSites } from "../../src/object/printk-sites.js";
import type { CollectionSpec, ProgramSpec } from "../../src/object/types.js";
import { checkPlan } from "../../src/tailcall/check-plan.js";
import { planFromObject } from "../../src/tailcall/plan.js";

const TAIL = new Uint8Array(readFileSync("examples/tail-call/tail_call.bpf.o"));

/** A host whose file is `file.data`; `exit()` runs what the library asked to run at exit. */
function memoryHost(file: { data: Uint8Array | undefined }) {
  const atExit: (() => void)[] = [];
  const said: string[] = [];
  const host: ObjectCacheHost = {
    // What the file held when the process started (each test makes a host per process).
    get content() {
      return file.data;
    },
    write: (data) => {
      file.data = data.slice();
    },
    atExit: (fn) => atExit.push(fn),
    trace: (m) => said.push(m),
  };
  return {
    host,
    said,
    exit: () => {
      for (const fn of atExit.splice(0)) fn();
    },
  };
}

/** One process: opens each object through a fresh cache over `file`, then exits. */
function run(file: { data: Uint8Array | undefined }, objects: readonly Uint8Array[], name = "x.bpf.o") {
  const p = memoryHost(file);
  const memo = objectCache(p.host);
  const specs = objects.map((o) => loadRemembered(memo, o, { file: name }));
  p.exit();
  return { specs, said: p.said };
}

const lazy = (s: CollectionSpec): boolean =>
  Object.values(s.programs).some(
    (p) => Object.getOwnPropertyDescriptor(p, "instructions")?.get !== undefined,
  );

/** Every object the repository builds or keeps that parses: examples and test objects. */
function objects(): { path: string; bytes: Uint8Array }[] {
  const out: { path: string; bytes: Uint8Array }[] = [];
  const walk = (dir: string): void => {
    for (const e of readdirSync(dir, { withFileTypes: true })) {
      const path = join(dir, e.name);
      if (e.isDirectory()) walk(path);
      else if (e.name.endsWith(".bpf.o")) {
        const bytes = new Uint8Array(readFileSync(path));
        try {
          parseCollectionSpec(bytes);
          out.push({ path, bytes });
        } catch {
          // Objects made to be refused (test/bpf's bad ones) are not for this test.
        }
      }
    }
  };
  walk("examples");
  walk("test/bpf");
  return out;
}

test("the next process opens each object from the cache, as parsing gives it", () => {
  const all = objects();
  assert.ok(all.length >= 5, `found ${all.length} objects`);
  for (let i = 0; i < all.length; i += OBJECTS_KEPT) {
    const batch = all.slice(i, i + OBJECTS_KEPT);
    const file = { data: undefined as Uint8Array | undefined };
    const first = run(
      file,
      batch.map((o) => o.bytes),
    );
    assert.ok(file.data !== undefined, "written at exit");
    assert.ok(!first.specs.some(lazy), "the first process parses");
    const second = run(
      file,
      batch.map((o) => o.bytes),
    );
    batch.forEach((o, k) => {
      const spec = second.specs[k] as CollectionSpec;
      assert.ok(lazy(spec), `${o.path}: opened from the cache`);
      assert.deepEqual(spec, parseCollectionSpec(o.bytes, { file: "x.bpf.o" }), o.path);
    });
  }
});

test("a hit takes the file name of this open, and only exactly the same bytes hit", () => {
  const file = { data: undefined as Uint8Array | undefined };
  run(file, [TAIL], "first.o");
  const [same] = run(file, [TAIL.slice()], "second.o").specs;
  assert.ok(same !== undefined && lazy(same));
  assert.equal(same.file, "second.o");
  // One byte of the string table changed: same length, another object.
  const changed = TAIL.slice();
  changed[changed.length - 2] = (changed[changed.length - 2] as number) ^ 1;
  const other = run(file, [changed]);
  assert.ok(!lazy(other.specs[0] as CollectionSpec), "other bytes are parsed");
  assert.ok(!other.said.some((m) => m.startsWith("hit")));
});

test("a 100 KB object hits on exactly the same bytes only", () => {
  // A content made by hand: one 100 KB "object" (find() compares bytes; it never opens the text).
  const big = new Uint8Array(100 * 1024).map((_, i) => (i * 7) & 0xff);
  const text = Buffer.from("a text", "utf8");
  const content = Buffer.concat([Buffer.from(`[[${big.byteLength},${text.byteLength}]]\n`), big, text]);
  const memo = objectCache(memoryHost({ data: content }).host);
  assert.equal(memo.find(big.slice())?.text, "a text");
  for (const at of [0, 64 * 1024, big.byteLength - 1]) {
    const changed = big.slice();
    changed[at] = (changed[at] as number) ^ 1;
    assert.equal(memo.find(changed), undefined, `byte ${at} changed`);
  }
  assert.equal(memo.find(big.subarray(1)), undefined, "one byte shorter");
});

test("bytes changed by the caller after open reach neither the spec nor the cache", () => {
  const file = { data: undefined as Uint8Array | undefined };
  const mine = TAIL.slice();
  const p = memoryHost(file);
  const memo = objectCache(p.host);
  const parsed = loadRemembered(memo, mine, { file: "x.bpf.o" });
  mine.fill(0);
  p.exit();
  const [again] = run(file, [TAIL]).specs;
  assert.ok(again !== undefined && lazy(again), "the cache kept the bytes as opened");
  assert.deepEqual(again, parseCollectionSpec(TAIL, { file: "x.bpf.o" }));
  // And a lazy spec decodes from its own copy, not from the caller's array.
  const q = memoryHost(file);
  const mine2 = TAIL.slice();
  const opened = loadRemembered(objectCache(q.host), mine2, { file: "x.bpf.o" });
  mine2.fill(0);
  assert.deepEqual(opened, parsed);
});

test("a damaged file, or one that does not add up, is parsed past and written anew", () => {
  const good = { data: undefined as Uint8Array | undefined };
  run(good, [TAIL]);
  const whole = good.data as Uint8Array;
  const damaged = [
    new TextEncoder().encode("not json\n"),
    new TextEncoder().encode("[[1,2]]\nab"),
    whole.subarray(0, whole.byteLength - 1),
    new TextEncoder().encode('[["a",1]]\n'),
    new Uint8Array(0),
  ];
  for (const data of damaged) {
    const file = { data };
    const r = run(file, [TAIL]);
    assert.ok(!lazy(r.specs[0] as CollectionSpec));
    assert.ok(r.said.includes("unreadable: parsing"), `said ${r.said.join("; ")}`);
    assert.deepEqual(file.data, whole, "written anew");
  }
});

test("bad input is thrown as before and nothing is remembered of it", () => {
  const file = { data: undefined as Uint8Array | undefined };
  const p = memoryHost(file);
  const memo = objectCache(p.host);
  assert.throws(() => loadRemembered(memo, TAIL.subarray(0, 100), { file: "cut.o" }), isParseError);
  p.exit();
  assert.equal(file.data, undefined);
});

test("the newest objects are kept, and one too large to keep is parsed each time", () => {
  const file = { data: undefined as Uint8Array | undefined };
  // OBJECTS_KEPT + 2 distinct objects: the tail-call object with 1, 2, ... bytes after its end,
  // which an ELF file's reader ignores.
  const variants = Array.from({ length: OBJECTS_KEPT + 2 }, (_, i) => {
    const b = new Uint8Array(TAIL.byteLength + i + 1);
    b.set(TAIL);
    return b;
  });
  assert.equal(variants.length, OBJECTS_KEPT + 2);
  run(file, variants.slice(0, 2));
  run(file, variants.slice(2));
  const again = run(file, variants).specs.map(lazy);
  // The second process's OBJECTS_KEPT objects are kept; the first process's two are not.
  assert.deepEqual(again, [false, false, ...Array(OBJECTS_KEPT).fill(true)]);
  const big = new Uint8Array(OBJECT_MAX_BYTES + 1);
  big.set(TAIL);
  const p = memoryHost(file);
  const memo = objectCache(p.host);
  let asked = false;
  memo.remember(big, () => {
    asked = true;
    return "{}";
  });
  p.exit();
  assert.equal(asked, false, "too large: not remembered");
});

test("a text that would not open is not kept", () => {
  const file = { data: undefined as Uint8Array | undefined };
  const p = memoryHost(file);
  const memo = objectCache(p.host);
  memo.remember(TAIL.slice(), () => undefined);
  p.exit();
  assert.equal(file.data, undefined);
});

test("what a plan check and the trace filter ask of a program comes from the text, the same as parsed, decoding nothing but to report a finding", () => {
  for (const { path, bytes } of objects()) {
    const file = { data: undefined as Uint8Array | undefined };
    run(file, [bytes]);
    const [opened] = run(file, [bytes]).specs;
    assert.ok(opened !== undefined && lazy(opened), path);
    const parsed = parseCollectionSpec(bytes, { file: "x.bpf.o" });
    const le = parsed.byteOrder === "little";
    const report = checkPlan(planFromObject(opened));
    for (const [name, p] of Object.entries(opened.programs)) {
      const q = parsed.programs[name] as ProgramSpec;
      assert.deepEqual(p.tailCalls, q.tailCalls, `${path} ${name}: tail calls`);
      assert.deepEqual(printkSitesOf(p), printkSites(q), `${path} ${name}: printk sites`);
      assert.deepEqual(mapsLoadedBy(p, le), mapsLoadedBy(q, le), `${path} ${name}: maps loaded`);
    }
    const want = checkPlan(planFromObject(parsed));
    assert.deepEqual(report, want, `${path}: the same findings`);
    // Only a finding decodes its program: its C line, or the call path of a stack finding.
    const named = new Set(want.findings.map((f) => f.program));
    for (const [name, p] of Object.entries(opened.programs)) {
      const decoded = Object.getOwnPropertyDescriptor(p, "instructions")?.get === undefined;
      if (!named.has(name)) assert.equal(decoded, false, `${path} ${name}: decoded without a finding`);
      // Decoded from here on: functions are not carried.
      assert.deepEqual(p.functions, parsed.programs[name]?.functions, `${path} ${name}: functions`);
    }
  }
});

test("sites read from the text stay as read when the program is decoded later, as a parsed program's do", () => {
  const file = { data: undefined as Uint8Array | undefined };
  run(file, [TAIL]);
  const [opened] = run(file, [TAIL]).specs;
  const p = opened?.programs.main_prog as ProgramSpec;
  const sites = p.tailCalls;
  assert.equal(sites.length, 1);
  p.instructions = [];
  assert.equal(p.tailCalls, sites, "read before the edit: kept");
  assert.deepEqual(printkSitesOf(p), [], "printk sites follow the edited program");
  const [other] = run(file, [TAIL]).specs;
  const r = other?.programs.main_prog as ProgramSpec;
  r.instructions = [];
  assert.deepEqual(r.tailCalls, [], "edited before the first read: worked out from the edit");
});
