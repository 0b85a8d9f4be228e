/**
 * Generated skeletons on the VM (no root). The committed skeletons are imported as a user imports
 * them (so this file is also type-checked against them): what a skeleton reads and writes must be
 * what `typed()`/`globals()` read and write on a collection loaded from the same object without
 * it. Skeletons of every other object are generated here, transpiled and loaded: each loads where
 * `Collection.load` does, with the same programs and maps, and fails where it fails.
 */
import assert from "node:assert/strict";
import { mkdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { basename, join, resolve } from "node:path";
import { pathToFileURL } from "node:url";
import { test } from "node:test";
import ts from "typescript";
import { globals, readGlobals, rewriteGlobals, typed } from "../../src/backend/typed-map.js";
import type { LoadedCollection } from "../../src/backend/types.js";
import type { BtfValue } from "../../src/btf/codec.js";
import { Collection } from "../../src/collection.js";
import { isTsbpfError, isUsageError } from "../../src/errors.js";
import * as net from "../../src/net/index.js";
import { loadCollectionSpec } from "../../src/object/load-collection-spec.js";
import { RingbufMap } from "../../src/vm/maps/ringbuf-map.js";
import { TailCall } from "../../examples/tail-call/tail_call.skel.js";
import { SkelShapes, event_kind } from "../bpf/typed/skel_shapes.skel.js";
import { Typed, verdict } from "../bpf/typed/typed.skel.js";
import { generate, repositoryObjects } from "../support/skeletons.js";

const TYPED = "test/bpf/typed/typed.bpf.o";
const XDP_DROP = 1;
const XDP_PASS = 2;

const tcp = (dport: number, payload = "") =>
  net.buildPacket([
    net.eth({}),
    net.ipv4({ src: "10.0.0.1", dst: "10.0.0.2" }),
    net.tcp({ sport: 40000, dport, flags: "S" }),
    ...(payload === "" ? [] : [net.payload(payload)]),
  ]);
const udp = (dport: number) =>
  net.buildPacket([
    net.eth({}),
    net.ipv4({ src: "192.168.1.9", dst: "8.8.8.8", ttl: 1 }),
    net.udp({ sport: 5353, dport }),
  ]);
const PACKETS = [tcp(8080), tcp(8080, "hello"), udp(53), tcp(53)];

const json = (v: unknown): string => JSON.stringify(v, (_k, x) => (typeof x === "bigint" ? `${x}n` : x));
const sorted = <T>(xs: Iterable<T>): T[] => [...xs].sort((a, b) => (json(a) < json(b) ? -1 : 1));

/** Everything typed() and globals() show of a typed.bpf.o collection. */
function viewOf(coll: LoadedCollection) {
  return {
    flows: sorted(typed(coll, "flows").entries()),
    counters: sorted(typed(coll, "counters").entries()),
    perProto: sorted(typed(coll, "per_proto").entries()),
    untyped: sorted(typed(coll, "untyped").entries()),
    rodata: globals(coll, ".rodata").read(),
    data: globals(coll, ".data").read(),
    bss: globals(coll, ".bss").read(),
  };
}

test("typed.bpf.o through its skeleton reads and writes what typed() and globals() do", async () => {
  const open = Typed.open();
  assert.equal(open.rodata.banner, "typed", "globals read before load: the object's initial values");
  assert.equal(open.data.total_bytes, 1000n);
  open.rodata.drop_port = 53;
  open.rodata.banner = "skel";
  open.bss.last_verdict = "VERDICT_ODD";
  assert.deepEqual(readGlobals(open.spec, ".rodata"), { drop_port: 53, banner: "skel" });
  using skel = await open.load();
  assert.equal(skel.backend, "vm");

  // The same object, configured and driven through the library without the skeleton.
  const spec = loadCollectionSpec(new Uint8Array(readFileSync(TYPED)), { file: "typed.bpf.o" });
  rewriteGlobals(spec, ".rodata", { drop_port: 53, banner: "skel" });
  rewriteGlobals(spec, ".bss", { last_verdict: "VERDICT_ODD" });
  using plain = await Collection.load(spec);

  const retvals: number[] = [];
  for (const p of PACKETS) {
    const a = await skel.progs.typed_prog.run(p);
    const b = await plain.programs.typed_prog?.run(p);
    assert.equal(a.retval, b?.retval);
    retvals.push(a.retval);
  }
  assert.deepEqual(retvals, [XDP_PASS, XDP_PASS, XDP_DROP, XDP_DROP], "drop_port 53 was set before load");

  // Writes through the skeleton, and the same writes through typed() and globals().
  const key = { saddr: 1, daddr: 2, sport: 3, dport: 4, proto: 17 };
  skel.maps.flows.set(key, { last: "VERDICT_DROP", name: "user", first_bytes: { word: 7 } });
  typed(plain, "flows").set(key, { last: "VERDICT_DROP", name: "user", first_bytes: { word: 7 } });
  skel.maps.counters.set(1, { packets: 5n });
  typed(plain, "counters").set(1, { packets: 5n });
  skel.maps.per_proto.set(99, { bytes: 3n });
  typed(plain, "per_proto").set(99, { bytes: 3n });
  skel.maps.untyped.set(7, 9n);
  typed(plain, "untyped").set(7, 9n);
  skel.data.last_key = { sport: 99, pad: [1] };
  globals(plain, ".data").set("last_key", { sport: 99, pad: [1] });
  skel.bss.last_verdict = verdict.VERDICT_PASS;
  globals(plain, ".bss").set("last_verdict", "VERDICT_PASS");
  skel.data.grid = [[9], [8, 7]];
  globals(plain, ".data").set("grid", [[9], [8, 7]]);

  // Every view of the skeleton is what typed()/globals() give on the other collection...
  const ours = {
    flows: sorted(skel.maps.flows.entries()),
    counters: sorted(skel.maps.counters),
    perProto: sorted(skel.maps.per_proto.entries()),
    untyped: sorted(skel.maps.untyped.entries()),
    rodata: { ...skel.rodata },
    data: { ...skel.data },
    bss: { ...skel.bss },
  };
  const theirs = viewOf(plain);
  assert.deepEqual(ours, theirs);
  // ...and on its own collection: the skeleton adds no state of its own.
  assert.deepEqual(viewOf(skel.collection), theirs);

  // And they say what the program and the writes did.
  assert.equal(skel.bss.runs, 4);
  assert.equal(skel.rodata.banner, "skel");
  assert.deepEqual(skel.maps.counters.get(0), {
    packets: 4n,
    bytes: BigInt(PACKETS.reduce((a, p) => a + p.length, 0)),
  });
  assert.deepEqual(skel.maps.counters.get(1), { packets: 5n, bytes: 0n });
  assert.equal(skel.maps.flows.get(key)?.last, verdict.VERDICT_DROP);
  assert.equal(skel.maps.flows.get({ ...key, sport: 4 }), undefined);
  assert.equal(skel.maps.flows.has(key), true);
  assert.equal(skel.maps.per_proto.get(6)?.length, skel.maps.per_proto.map.possibleCpus);
  assert.deepEqual(skel.maps.untyped.get(7), new Uint8Array([9, 0, 0, 0, 0, 0, 0, 0]));
  assert.equal(skel.bss.last_verdict, 2);
  assert.equal(skel.maps.flows.delete(key), true);
  assert.equal(skel.maps.flows.delete(key), false);
});

test("globals are frozen once loaded: .rodata refuses writes, the open handle refuses everything", async () => {
  const open = Typed.open();
  using skel = await open.load({ backend: "vm" });
  const refused = (fn: () => unknown, pattern: RegExp) =>
    assert.throws(fn, (e) => isUsageError(e) && pattern.test(e.message), String(pattern));
  // What a JS caller (or a cast) could still try, that the types refuse.
  refused(() => Object.assign(skel.rodata, { drop_port: 1 }), /\.rodata is read-only once loaded/);
  refused(() => {
    open.rodata.drop_port = 1;
  }, /is loaded: .* is set on the opened one/);
  refused(() => {
    open.bss.runs = 1;
  }, /is loaded: .* is set on the opened one/);
  await assert.rejects(open.load(), (e) => isUsageError(e) && /loaded already/.test(e.message));
  // A load that failed loaded nothing: the globals still change, and another load may follow.
  const retry = Typed.open();
  await assert.rejects(retry.load({ backend: "kernel", netns: `tsbpf-no-such-netns-${process.pid}` }));
  retry.rodata.drop_port = 7;
  using again = await retry.load();
  assert.equal(again.rodata.drop_port, 7);
  // The live sections stay writable through the loaded skeleton.
  skel.bss.runs = 41;
  assert.equal(globals(skel.collection, ".bss").get("runs"), 41);
  assert.throws(
    () => {
      skel.bss.last_verdict = "VERDICT_MAYBE" as "VERDICT_DROP";
    },
    (e) => isTsbpfError(e) && /has no enumerator 'VERDICT_MAYBE'/.test(e.message),
  );
});

test("the seed's skeleton: slots filled with its programs, the dispatcher tail-calls them", async () => {
  await using skel = await TailCall.openAndLoad();
  const { prog_array } = skel.maps;
  prog_array.set(0, skel.progs.port8080_prog).set(1, skel.progs.port22_prog);
  assert.deepEqual((await skel.progs.main_prog.run(tcp(8080))).trace, ["Packet to port 8080 processed"]);
  assert.deepEqual((await skel.progs.main_prog.run(tcp(22))).trace, ["Packet to port 22 processed"]);
  assert.equal(prog_array.delete(0), true);
  assert.equal(prog_array.delete(0), false);
  assert.deepEqual((await skel.progs.main_prog.run(tcp(8080))).trace, [], "an empty slot falls through");
  // Only this object's programs, or another skeleton's, of the array's type: the types say so,
  // and a JS caller gets the same answer at run time.
  using shapes = await SkelShapes.openAndLoad({ vm: { space: skel.collection.space } });
  const foreign: unknown = shapes.progs.tc_stage;
  assert.throws(
    () => prog_array.set(0, foreign as typeof skel.progs.port22_prog),
    (e) => isUsageError(e) && /tc_stage is sched_cls, the array holds xdp programs/.test(e.message),
  );
  prog_array.set(0, shapes.progs.emit);
  assert.deepEqual((await skel.progs.main_prog.run(tcp(8080))).chain, ["main_prog", "emit"]);
});

test("skel_shapes: ring buffer records in the --type struct, typedef keys, enums by name, maps of maps", async () => {
  const open = SkelShapes.open();
  open.rodata.min_kind = "EVENT_LARGE";
  using skel = await open.load();
  assert.equal(skel.rodata.min_kind, event_kind.EVENT_LARGE);
  const events = skel.maps.events;
  assert.ok(events.map instanceof RingbufMap);
  const small = tcp(80);
  const large = tcp(80, "x".repeat(100));
  await skel.progs.emit.run(small);
  await skel.progs.emit.run(large);
  const records = events.map.drain().map((r) => events.decode(r));
  assert.deepEqual(records, [{ len: large.length, kind: event_kind.EVENT_LARGE, seq: 2n, tag: "x" }]);
  assert.deepEqual(events.decode(events.encode({ kind: "EVENT_SMALL", seq: 9n })), {
    len: 0,
    kind: 1,
    seq: 9n,
    tag: "",
  });
  assert.throws(
    () => events.decode(new Uint8Array(4)),
    (e) => isUsageError(e) && /4 bytes/.test(e.message),
  );

  const ranges = skel.maps.ranges_by_port_with_a_long_map_name;
  ranges.set({ lo: small.length & 0xff }, { flags: "WIDE_LOW", range: { state: 1 } });
  assert.deepEqual(ranges.get({ lo: small.length & 0xff, hi: 0 }), {
    a_member_with_a_name_that_is_also_rather_long_for_a_c_program: 0n,
    flags: 1n,
    range: { lo: 0, hi: 0, state: 1 },
  });
  assert.equal(
    (await skel.progs.emit.run(small)).retval,
    XDP_DROP,
    "the program finds the key user space set",
  );

  skel.maps.outer.set(1, skel.maps.inner_template.map);
  assert.equal(skel.maps.outer.delete(1), true);
  assert.equal(skel.maps.outer.delete(1), false);
  skel.maps.tc_jumps.set(0, skel.progs.tc_stage);
});

test("a skeleton refuses an object that no longer matches it, and reads a linked object at open()", async () => {
  const typedBytes = new Uint8Array(readFileSync(TYPED));
  assert.throws(
    () => TailCall.open({ object: typedBytes }),
    (e) => isUsageError(e) && /TailCall does not match its object .*: no program main_prog/.test(e.message),
  );
  assert.throws(
    () => Typed.open({ object: "/nonexistent/typed.bpf.o" }),
    (e) => isUsageError(e) && /cannot read \/nonexistent\/typed\.bpf\.o: ENOENT/.test(e.message),
  );
  // --path: nothing embedded, the object read from next to the module.
  const dir = resolve("dist/test/skeleton/linked");
  mkdirSync(dir, { recursive: true });
  try {
    const source = generate("examples/tail-call/tail_call.bpf.o", { objectPath: "./seed.bpf.o" });
    const mod = await importSkeleton(dir, "tail_call_linked", source);
    const skeleton = mod.TailCall as typeof TailCall;
    assert.throws(
      () => skeleton.open(),
      (e) => isUsageError(e) && /seed\.bpf\.o: ENOENT/.test(e.message),
    );
    writeFileSync(join(dir, "seed.bpf.o"), readFileSync("examples/tail-call/tail_call.bpf.o"));
    using skel = await skeleton.openAndLoad();
    assert.deepEqual(Object.keys(skel.progs), ["main_prog", "port8080_prog", "port22_prog"]);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

/** Transpiles a generated skeleton into `dir` (inside the package, so `tsbpf` resolves) and imports it. */
async function importSkeleton(dir: string, name: string, source: string): Promise<Record<string, unknown>> {
  const js = ts.transpileModule(source, {
    compilerOptions: { module: ts.ModuleKind.ES2022, target: ts.ScriptTarget.ES2022 },
  }).outputText;
  const file = join(dir, `${name}.js`);
  writeFileSync(file, js);
  return (await import(pathToFileURL(file).href)) as Record<string, unknown>;
}

/** What a loaded skeleton exposes, for comparing with the library's own view. */
interface AnySkeleton extends Disposable {
  progs: Record<string, { name: string }>;
  maps: Record<string, { name: string }>;
  collection: LoadedCollection;
}
interface AnySkeletonModule {
  openAndLoad(opts?: object): Promise<AnySkeleton>;
}

test("every object's skeleton loads on the VM where Collection.load does, with the same programs and maps", async () => {
  const dir = resolve("dist/test/skeleton/generated");
  mkdirSync(dir, { recursive: true });
  let loaded = 0;
  try {
    for (const object of repositoryObjects()) {
      const base = basename(object).replace(/\.bpf\.o$/, "");
      const mod = await importSkeleton(dir, base, generate(object));
      const name = /^export const (\w+): SkeletonModule</m.exec(generate(object))?.[1] as string;
      const skeleton = mod[name] as AnySkeletonModule;
      assert.ok(skeleton, `${object}: exports ${name}`);
      const spec = loadCollectionSpec(new Uint8Array(readFileSync(object)), { file: basename(object) });
      let plain: LoadedCollection | undefined;
      let plainError: unknown;
      try {
        plain = await Collection.load(spec);
      } catch (e) {
        plainError = e;
      }
      if (plain === undefined) {
        await assert.rejects(
          skeleton.openAndLoad(),
          (e) => isTsbpfError(e) && e.message === (plainError as Error).message,
          `${object}: the skeleton fails as Collection.load does`,
        );
        continue;
      }
      try {
        using skel = await skeleton.openAndLoad();
        loaded++;
        assert.deepEqual(Object.keys(skel.progs), Object.keys(plain.programs), object);
        const declared = Object.values(plain.maps)
          .filter((m) => m.spec.origin === "btf" || m.spec.origin === "legacy")
          .map((m) => m.name);
        assert.deepEqual(Object.keys(skel.maps), declared, object);
        for (const [mapName, view] of Object.entries(skel.maps)) {
          if (!("entries" in view)) continue;
          assert.deepEqual(
            [...(view as unknown as Iterable<[BtfValue, BtfValue]>)],
            [...typed(plain, mapName).entries()],
            `${object}: map ${mapName}`,
          );
        }
      } finally {
        plain.close();
      }
    }
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
  assert.ok(loaded >= 20, `${loaded} objects loaded through their skeletons`);
});
