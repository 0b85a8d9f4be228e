import assert from "node:assert/strict";
import { type SpawnSyncReturns, spawnSync } from "node:child_process";
import { existsSync, mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, test } from "node:test";
import { parseElf } from "../../src/elf/index.js";
import { kernelMapName } from "../../src/kernel/kernel-map.js";
import { loadCollectionSpec } from "../../src/object/index.js";
import { hasTool } from "../elf/fixture-objects.js";

/**
 * libbpf is the reference for how an object becomes programs and maps. `bpftool -d prog loadall`
 * makes libbpf log each subprogram it appends (in order), each map definition it reads and each
 * static `.values` slot; the same object through loadCollectionSpec must agree on all of them.
 */
// (legacy.bpf.o is not here: libbpf 1.x no longer reads `maps` sections at all.)
const objects = ["examples/tail-call/tail_call.bpf.o", "test/bpf/object/linking.bpf.o"];
const PIN_ROOT = "/sys/fs/bpf";

for (const obj of objects) {
  test(`matches libbpf's own reading of ${obj}`, (t) => {
    if (process.getuid?.() !== 0) return t.skip("needs root: bpftool loads the object into the kernel");
    if (!hasTool("bpftool", ["version"])) return t.skip("bpftool not installed");
    if (!existsSync(PIN_ROOT)) return t.skip("bpffs is not mounted at /sys/fs/bpf");
    const spec = loadCollectionSpec(readFileSync(obj), { file: obj });
    const dir = `${PIN_ROOT}/tsbpf-objtest-${process.pid}`;
    const byName = Object.values(spec.maps)
      .filter((m) => m.pinning === "by_name")
      .map((m) => `${PIN_ROOT}/${m.name}`);
    const preexisting = byName.filter((p) => existsSync(p));
    let log = "";
    try {
      const r = spawnSync("bpftool", ["-d", "prog", "loadall", obj, dir], { encoding: "utf8" });
      log = r.stderr + r.stdout;
      // libbpf may refuse legacy `maps` sections in strict mode; then only what it logged counts.
      if (r.status !== 0 && !/failed to load object|legacy map definitions/.test(log)) assert.fail(log);
    } finally {
      rmSync(dir, { recursive: true, force: true });
      for (const p of byName) if (!preexisting.includes(p)) rmSync(p, { force: true });
    }
    const added = new Map<string, string[]>();
    for (const m of log.matchAll(/prog '(\w+)': added \d+ insns from sub-prog '(\w+)'/g)) {
      const l = added.get(m[1] as string) ?? [];
      l.push(m[2] as string);
      added.set(m[1] as string, l);
    }
    for (const p of Object.values(spec.programs)) {
      assert.deepEqual(
        p.functions.slice(1).map((f) => f.name),
        added.get(p.name) ?? [],
        `subprograms of ${p.name}`,
      );
    }
    for (const m of log.matchAll(
      /map '([\w.]+)': found (type|max_entries|map_flags|pinning|key_size|value_size) = (\w+)\./g,
    )) {
      const [name, field, raw] = [m[1] as string, m[2] as string, Number(m[3])];
      const spec1 = name.endsWith(".inner") ? spec.maps[name.slice(0, -6)]?.innerMap : spec.maps[name];
      assert.ok(spec1, `map ${name}`);
      const mine = {
        type: spec1.type,
        max_entries: spec1.maxEntries,
        map_flags: spec1.flags,
        pinning: spec1.pinning === "by_name" ? 1 : 0,
        key_size: spec1.keySize,
        value_size: spec1.valueSize,
      }[field];
      assert.equal(mine, raw, `${name}.${field}`);
    }
    for (const m of log.matchAll(/map '([\w.]+)': found (key|value) \[(\d+)\], sz = (\d+)\./g)) {
      const s = m[1]?.endsWith(".inner") ? spec.maps[m[1].slice(0, -6)]?.innerMap : spec.maps[m[1] as string];
      assert.ok(s, m[1]);
      if (m[2] === "key") assert.deepEqual([s.keyTypeId, s.keySize], [Number(m[3]), Number(m[4])]);
      else assert.deepEqual([s.valueTypeId, s.valueSize], [Number(m[3]), Number(m[4])]);
    }
    const slots = [...log.matchAll(/map '(\w+)' slot \[(\d+)\] points to (?:map|prog) '(\w+)'/g)].map((m) => [
      m[1],
      Number(m[2]),
      m[3],
    ]);
    const mine = Object.values(spec.maps).flatMap((m) => m.contents.map((c) => [m.name, c.key, c.value]));
    assert.deepEqual(mine, slots);
    // Global data: libbpf names them <object prefix>.<section> (or the section name for
    // sections with a dot in their suffix); tsbpf uses the section name, so compare sections.
    const elf = parseElf(readFileSync(obj));
    const data = [
      ...log.matchAll(/map '[\w.]+' \(global data\): at sec_idx (\d+), offset 0, flags ([0-9a-f]+)\./g),
    ].map((m) => elf.sections[Number(m[1])]?.name);
    assert.ok(data.length > 0);
    assert.deepEqual(
      Object.values(spec.maps)
        .filter((m) => m.origin === "global-data")
        .map((m) => m.section),
      data,
    );
  });

  // Their flags are compared with what the system's libbpf creates (test/object/c/map-flags.c):
  // bpftool's debug log prints them before libbpf decides whether a section is mmap()able, and
  // bpftool 7.1 carries an older libbpf that made every one so.
  test(`every map of ${obj} has the flags libbpf creates it with`, (t) => {
    if (process.getuid?.() !== 0) return t.skip("needs root: libbpf loads the object into the kernel");
    const helper = mapFlagsHelper();
    if (typeof helper !== "string") return t.skip(helper.skip);
    if (!existsSync(PIN_ROOT)) return t.skip("bpffs is not mounted at /sys/fs/bpf");
    const pins = `${PIN_ROOT}/tsbpf-mapflags-${process.pid}`;
    let r: SpawnSyncReturns<string>;
    try {
      r = spawnSync(helper, [obj, pins], { encoding: "utf8" });
    } finally {
      rmSync(pins, { recursive: true, force: true });
    }
    assert.equal(r.status, 0, `${r.error?.message ?? r.signal ?? ""} ${r.stderr}`);
    const spec = loadCollectionSpec(readFileSync(obj), { file: obj });
    const libbpf = r.stdout.trim().split("\n").sort();
    const mine = Object.values(spec.maps)
      .map((m) => `${kernelMapName(m, spec.file)} ${m.flags.toString(16)}`)
      .sort();
    assert.deepEqual(mine, libbpf);
  });
}

let helperBuilt: string | { skip: string } | undefined;
let helperDir: string | undefined;
after(() => {
  if (helperDir !== undefined) rmSync(helperDir, { recursive: true, force: true });
});

/** test/object/c/map-flags.c built against the system's libbpf, once per run, or why not. */
function mapFlagsHelper(): string | { skip: string } {
  if (helperBuilt !== undefined) return helperBuilt;
  helperDir = mkdtempSync(join(tmpdir(), "tsbpf-map-flags-"));
  const out = join(helperDir, "map-flags");
  const cc = ["cc", "clang"].find((c) => hasTool(c));
  if (cc === undefined) {
    helperBuilt = { skip: "no C compiler (cc or clang) to build the libbpf helper" };
    return helperBuilt;
  }
  const r = spawnSync(cc, ["-O2", "test/object/c/map-flags.c", "-lbpf", "-o", out], { encoding: "utf8" });
  helperBuilt =
    r.status === 0
      ? out
      : { skip: `the libbpf helper did not build (needs libbpf-dev): ${r.stderr.split("\n")[0]}` };
  return helperBuilt;
}
