/**
 * `generateSkeleton` on every object of the repository: the same bytes every time, laid out as
 * the project's Biome lays code out (so the module is formatted without a formatter), lint-clean,
 * and the committed skeletons are what their objects generate now. Types and the rules for
 * names, record types and bad input are checked on the generated text.
 */
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { basename, join, resolve } from "node:path";
import { test } from "node:test";
import { isTsbpfError, isUsageError } from "../../src/errors.js";
import { COMMITTED, generate, repositoryObjects } from "../support/skeletons.js";

/** A name long enough to make every line that holds it break. */
const LONG_NAME = `A${"VeryLongSkeletonName".repeat(5)}`;

/** Runs Biome with the project's settings on `files` (name → text); its exit status and output. */
function biomeCheck(files: Record<string, string>): { status: number | null; output: string } {
  const dir = mkdtempSync(join(tmpdir(), "tsbpf-skel-biome-"));
  try {
    const config = JSON.parse(readFileSync("biome.json", "utf8")) as Record<string, unknown>;
    delete config.$schema;
    delete config.files;
    writeFileSync(join(dir, "biome.json"), JSON.stringify(config));
    mkdirSync(join(dir, "src"));
    for (const [name, text] of Object.entries(files)) writeFileSync(join(dir, "src", name), text);
    const r = spawnSync(resolve("node_modules/.bin/biome"), ["check", "--max-diagnostics=50", "src"], {
      cwd: dir,
      encoding: "utf8",
    });
    return { status: r.status, output: `${r.stdout}${r.stderr}` };
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

test("every object gets a skeleton, the same bytes each time, formatted and lint-clean as Biome has it", () => {
  const objects = repositoryObjects();
  assert.ok(objects.length >= 30, `${objects.length} objects found`);
  const files: Record<string, string> = {};
  for (const object of objects) {
    const first = generate(object);
    assert.equal(generate(object), first, `${object}: generated twice, byte-identical`);
    files[basename(object).replace(/\.bpf\.o$/, ".skel.ts")] = first;
  }
  files["long-name.skel.ts"] = generate("test/bpf/typed/skel_shapes.bpf.o", { name: LONG_NAME });
  const r = biomeCheck(files);
  assert.equal(r.status, 0, r.output);
  // The check itself catches a line laid out otherwise.
  const bad = (files["typed.skel.ts"] as string).replace(
    "readonly flows: SkeletonMap<B, ",
    "readonly flows: SkeletonMap<\n B, ",
  );
  assert.notEqual(biomeCheck({ "bad.ts": bad }).status, 0, "Biome refuses a badly laid-out skeleton");
});

test("the committed skeletons are what their objects generate now", () => {
  for (const c of COMMITTED) {
    assert.equal(readFileSync(c.skeleton, "utf8"), generate(c.object), `${c.skeleton} is current`);
  }
});

test("types follow BTF: structs as interfaces, u64 as bigint, enums as unions with their names", () => {
  const typed = generate("test/bpf/typed/typed.bpf.o");
  assert.match(typed, /^export interface flow_key \{\n {2}saddr: number;\n/m);
  assert.match(typed, /^export interface flow_key_input \{\n {2}saddr\?: number;\n/m);
  assert.match(typed, /^ {2}packets: bigint;$/m);
  assert.match(typed, /^ {2}name: string;$/m, "char[16] reads as a string");
  assert.match(typed, /^ {2}last: verdict;$/m);
  assert.match(typed, /^ {2}last\?: verdict_input;$/m);
  assert.match(
    typed,
    /^ {2}first_bytes: \{\n {4}word: number;\n {4}octets: number\[\];\n {2}\};$/m,
    "a union",
  );
  assert.match(typed, /^ {2}min_len: number;$/m, "an anonymous struct's members are flattened");
  assert.match(typed, /^export const verdict = \{\n {2}VERDICT_NONE: 0,\n {2}VERDICT_PASS: 2,\n/m);
  assert.match(typed, /^export type verdict = 0 \| 2 \| 1 \| 2147483392;$/m);
  assert.match(typed, /^export type verdict_input = verdict \| keyof typeof verdict;$/m);
  assert.match(typed, /readonly per_proto: PerCpuMap<B, number, counter, number, counter_input>;/);
  assert.match(typed, /readonly untyped: SkeletonMap<B, Uint8Array, Uint8Array, MapScalar, MapScalar>;/);
  assert.match(typed, /^ {2}armed: boolean;$/m);
  assert.match(typed, /^ {2}grid: number\[\]\[\];$/m);
  assert.match(typed, /^ {2}get last_verdict\(\): verdict;\n {2}set last_verdict\(value: verdict_input\);$/m);
  assert.match(typed, /readonly rodata: Readonly<TypedRodata>;/);
  const shapes = generate("test/bpf/typed/skel_shapes.bpf.o");
  assert.match(shapes, /readonly events: RecordMap<B, event, event_input>;/, "the record type --type names");
  assert.match(shapes, /readonly tc_jumps: ProgArray<B, "sched_cls">;/, "the program type its user has");
  assert.match(shapes, /^export interface port_range_t \{/m, "a typedef names an anonymous struct");
  assert.match(shapes, /^ {2}state: number;$/m, "an anonymous enum is its number");
  assert.match(shapes, /readonly outer: MapOfMaps<B>;/);
  assert.doesNotMatch(shapes, /unused_event.*:.*event/, "a pointer is a bigint, not its target");
  const tail = generate("examples/tail-call/tail_call.bpf.o");
  assert.match(tail, /readonly prog_array: ProgArray<B, "xdp">;/);
  // The prepared spec (JSON data, not declarations) names every variable of the object.
  const declared = tail.replace(/const PREPARED = \[[\s\S]*?\n\];/, "");
  assert.ok(declared.length < tail.length, "the skeleton carries a prepared spec");
  assert.doesNotMatch(declared, /____fmt|readonly rodata/, "static variables stay private");
  assert.match(tail, /object: \{ base64: \(\) => OBJECT \}/);
  const linked = generate("examples/tail-call/tail_call.bpf.o", { objectPath: "../obj/tail_call.bpf.o" });
  assert.match(linked, /object: \{ url: new URL\("\.\.\/obj\/tail_call\.bpf\.o", import\.meta\.url\) \}/);
  assert.doesNotMatch(linked, /const OBJECT/, "nothing embedded with a path");
});

test("names: C names kept, clashes renamed, a name that cannot be declared refused", () => {
  assert.match(generate("examples/tail-call/tail_call.bpf.o"), /^export const TailCall: /m);
  assert.match(generate("examples/tail-call/tail_call.bpf.o", { name: "Seed" }), /^export type Seed<B /m);
  for (const name of ["class", "9lives", "tail-call", "Skeleton"]) {
    assert.throws(
      () => generate("examples/tail-call/tail_call.bpf.o", { name }),
      (e) => isUsageError(e) && /name/.test(e.message),
      name,
    );
  }
  // A C type called like the skeleton's own names gets a suffix instead.
  const renamed = generate("test/bpf/typed/typed.bpf.o", { name: "flow_key" });
  assert.match(renamed, /^export interface flow_key_2 \{/m);
  assert.match(renamed, /^export type flow_key<B extends BackendName> =/m);
});

test("record types: a typo'd map, a map BTF types, a struct not in BTF are refused, each saying why", () => {
  const err = (recordTypes: Record<string, string>, object = "test/bpf/typed/skel_shapes.bpf.o") => {
    try {
      generate(object, { recordTypes });
    } catch (e) {
      assert.ok(isTsbpfError(e) && isUsageError(e), String(e));
      return `${e.message} — ${e.hint}`;
    }
    assert.fail("no error");
  };
  assert.match(err({ evnts: "event" }), /no map 'evnts' in skel_shapes\.bpf\.o — maps: events, /);
  assert.match(err({ ranges_by_port_with_a_long_map_name: "event" }), /is a hash, which BTF types already/);
  assert.match(
    err({ events: "evnt" }),
    /no struct or union 'evnt' in the BTF of skel_shapes\.bpf\.o — .*unused/,
  );
  // maps_globals.bpf.o's struct event is only a local: clang left it out of BTF.
  assert.match(err({ rb: "event" }, "test/bpf/edge/maps_globals.bpf.o"), /no struct or union 'event'/);
  assert.match(
    generate("test/bpf/typed/skel_shapes.bpf.o", { recordTypes: { events: "struct event" } }),
    /RecordMap<B, event, event_input>/,
  );
});
