/**
 * Typed map views on the VM (no root): test/bpf/typed/typed.bpf.c counts packets per 5-tuple in
 * a hash with struct keys and values, per protocol in a per-CPU hash, in total in an array, and
 * updates .data/.bss globals. Expected values are worked out here from the packets sent, and the
 * typed keys are checked against bytes laid out independently with DataView.
 */
import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { test } from "node:test";
import { globals, rewriteGlobals, typed, typedMap } from "../../src/backend/typed-map.js";
import type { LoadedCollection } from "../../src/backend/types.js";
import type { BtfValue } from "../../src/btf/codec.js";
import { Collection } from "../../src/collection.js";
import { isMapError, isTsbpfError } from "../../src/errors.js";
import * as net from "../../src/net/index.js";
import { loadCollectionSpec } from "../../src/object/load-collection-spec.js";
import type { CollectionSpec } from "../../src/object/types.js";

const FILE = "test/bpf/typed/typed.bpf.o";
const XDP_DROP = 1;
const XDP_PASS = 2;

const spec = (): CollectionSpec => loadCollectionSpec(new Uint8Array(readFileSync(FILE)), { file: FILE });
const ip = (s: string): number => s.split(".").reduce((a, o) => a * 256 + Number(o), 0);

interface Flow {
  src: string;
  dst: string;
  sport: number;
  dport: number;
  proto: "tcp" | "udp";
  ttl: number;
  syn?: boolean;
}
const packet = (f: Flow): Uint8Array =>
  net.buildPacket([
    net.eth({}),
    net.ipv4({ src: f.src, dst: f.dst, ttl: f.ttl }),
    f.proto === "tcp"
      ? net.tcp({ sport: f.sport, dport: f.dport, flags: f.syn ? "S" : "A" })
      : net.udp({ sport: f.sport, dport: f.dport }),
    net.payload("x".repeat(f.sport % 7)),
  ]);

const FLOWS: Flow[] = [
  { src: "10.0.0.1", dst: "10.0.0.2", sport: 40000, dport: 8080, proto: "tcp", ttl: 64, syn: true },
  { src: "10.0.0.1", dst: "10.0.0.2", sport: 40000, dport: 8080, proto: "tcp", ttl: 63 },
  { src: "192.168.1.9", dst: "8.8.8.8", sport: 5353, dport: 53, proto: "udp", ttl: 1 },
];

async function runAll(coll: LoadedCollection, flows = FLOWS): Promise<number[]> {
  const out: number[] = [];
  for (const f of flows) out.push((await coll.programs.typed_prog?.run(packet(f)))?.retval ?? -1);
  return out;
}

/** The flow_key bytes, laid out by hand (little-endian BPF). */
function keyBytes(f: Flow): Uint8Array {
  const b = new Uint8Array(16);
  const dv = new DataView(b.buffer);
  dv.setUint32(0, ip(f.src), true);
  dv.setUint32(4, ip(f.dst), true);
  dv.setUint16(8, f.sport, true);
  dv.setUint16(10, f.dport, true);
  b[12] = f.proto === "tcp" ? 6 : 17;
  return b;
}

test("struct keys and values decode to what the program counted", async () => {
  const coll = await Collection.load(spec(), { backend: "vm" });
  try {
    assert.deepEqual(await runAll(coll), [XDP_PASS, XDP_PASS, XDP_PASS]);
    const flows = typed(coll, "flows");
    const entries = [...flows];
    assert.equal(entries.length, 2);
    const tcpLen = packet(FLOWS[0] as Flow).length;
    const udpLen = packet(FLOWS[2] as Flow).length;
    const tcpKey = {
      saddr: ip("10.0.0.1"),
      daddr: ip("10.0.0.2"),
      sport: 40000,
      dport: 8080,
      proto: 6,
      pad: [0, 0, 0],
    };
    assert.deepEqual(flows.get(tcpKey), {
      packets: 2n,
      bytes: BigInt(2 * tcpLen),
      name: "tcp",
      last: XDP_PASS, // VERDICT_PASS
      ttl: 63,
      is_tcp: 1,
      syn: 0,
      seen: 6,
      delta: -tcpLen,
      pad16: 0,
      first_bytes: { word: 0xffffffff, octets: [255, 255, 255, 255] },
      min_len: tcpLen,
      max_len: tcpLen,
    });
    const udp = flows.get({
      saddr: ip("192.168.1.9"),
      daddr: ip("8.8.8.8"),
      sport: 5353,
      dport: 53,
      proto: 17,
    }) as Record<string, BtfValue>;
    assert.equal(udp.name, "udp");
    assert.equal(udp.ttl, 1);
    assert.equal(udp.is_tcp, 0);
    assert.equal(udp.bytes, BigInt(udpLen));
    // Typed keys encode to the bytes the program built.
    const raw = [...(coll.maps.flows?.keys() ?? [])].map((k) => Buffer.from(k).toString("hex")).sort();
    assert.deepEqual(
      raw,
      [keyBytes(FLOWS[0] as Flow), keyBytes(FLOWS[2] as Flow)]
        .map((k) => Buffer.from(k).toString("hex"))
        .sort(),
    );
    assert.deepEqual(flows.encodeKey(tcpKey), keyBytes(FLOWS[0] as Flow));

    assert.deepEqual(typed(coll, "counters").get(0), { packets: 3n, bytes: BigInt(2 * tcpLen + udpLen) });
    assert.deepEqual([...typed(coll, "counters").keys()], [0, 1]);
  } finally {
    coll.close();
  }
});

test("per-CPU maps read one value per CPU and write one or all", async () => {
  const coll = await Collection.load(spec(), { backend: "vm", vm: { possibleCpus: 3 } });
  try {
    await runAll(coll);
    const per = typed<number, { packets: bigint; bytes: bigint }[]>(coll, "per_proto");
    const tcp = per.get(6);
    assert.ok(tcp);
    assert.equal(tcp.length, 3);
    assert.equal(
      tcp.reduce((a, c) => a + c.packets, 0n),
      2n,
    );
    per.set(17, { packets: 5n });
    assert.deepEqual(per.get(17), [
      { packets: 5n, bytes: 0n },
      { packets: 5n, bytes: 0n },
      { packets: 5n, bytes: 0n },
    ]);
    per.set(1, [{ packets: 1n }, { bytes: 2n }, {}]);
    assert.deepEqual(per.get(1), [
      { packets: 1n, bytes: 0n },
      { packets: 0n, bytes: 2n },
      { packets: 0n, bytes: 0n },
    ]);
    assert.throws(
      () => per.set(1, [{ packets: 1n }]),
      (e: unknown) => isTsbpfError(e) && /1 per-CPU values given, the map has 3 CPUs/.test(e.message),
    );
    assert.deepEqual(
      [...per.keys()].sort((a, b) => a - b),
      [1, 6, 17],
    );
  } finally {
    coll.close();
  }
});

test("set, has, delete and iteration through typed keys", async () => {
  const coll = await Collection.load(spec(), { backend: "vm" });
  try {
    const flows = typed(coll, "flows");
    const key = { saddr: ip("10.0.0.1"), daddr: ip("10.0.0.2"), sport: 40000, dport: 8080, proto: 6 };
    flows.set(key, { packets: 100n, name: "seeded", last: "VERDICT_DROP", min_len: 1, max_len: 2 });
    await runAll(coll, [FLOWS[0] as Flow]);
    const v = flows.get(key) as Record<string, BtfValue>;
    assert.equal(v.packets, 101n);
    assert.equal(v.name, "seeded"); // the program only names new flows
    assert.equal(v.last, XDP_PASS);
    assert.equal(v.min_len, 1);
    assert.equal(v.max_len, packet(FLOWS[0] as Flow).length);
    assert.equal(flows.has(key), true);
    assert.equal(flows.delete(key), true);
    assert.equal(flows.delete(key), false);
    assert.equal(flows.has(key), false);
    assert.equal(flows.get(key), undefined);
    // Arrays cannot delete: the engine's EINVAL comes through.
    assert.throws(
      () => typed(coll, "counters").delete(0),
      (e: unknown) => isMapError(e) && e.errno === 22,
    );
    // Bad values name the map and the member.
    assert.throws(
      () => flows.set(key, { packets: -1n }),
      (e: unknown) =>
        isTsbpfError(e) &&
        e.name === "UsageError" &&
        /^value\.packets: -1 does not fit u64 \(map flows\)/.test(e.message),
    );
    assert.throws(
      () => flows.set({ ...key, port: 1 }, {}),
      (e: unknown) => isTsbpfError(e) && /^key: struct flow_key has no member 'port'/.test(e.message),
    );
    assert.throws(() => typed(coll, "nope"), /no map 'nope'/);
  } finally {
    coll.close();
  }
});

test("maps without BTF types pass bytes through", async () => {
  const coll = await Collection.load(spec(), { backend: "vm" });
  try {
    const raw = typed(coll, "untyped");
    assert.equal(raw.keyTypeId, undefined);
    assert.equal(raw.valueTypeId, undefined);
    const value = new Uint8Array([1, 2, 3, 4, 5, 6, 7, 8]);
    raw.set(7, value);
    raw.set(new Uint8Array([9, 0, 0, 0]), 0x0102n);
    assert.deepEqual(raw.get(7), value);
    assert.deepEqual(raw.get(9), new Uint8Array([2, 1, 0, 0, 0, 0, 0, 0]));
    assert.deepEqual([...raw.keys()].map((k) => Array.from(k as Uint8Array)).sort(), [
      [7, 0, 0, 0],
      [9, 0, 0, 0],
    ]);
    assert.throws(() => raw.set(1, { a: 1 }), /BTF does not describe this map's value/);
    // Without BTF at all, every map is raw.
    const counters = typedMap(coll.maps.counters as NonNullable<typeof coll.maps.counters>, undefined);
    assert.ok(counters.get(0) instanceof Uint8Array);
  } finally {
    coll.close();
  }
});

test("global variables read live, .data/.bss write, .rodata is set before load", async () => {
  const s = spec();
  rewriteGlobals(s, ".rodata", { drop_port: 53 });
  assert.throws(() => rewriteGlobals(s, ".rodata", { nope: 1 }), /no variable 'nope'/);
  assert.throws(
    () => rewriteGlobals(s, ".rodata", { drop_port: 65536 }),
    /drop_port: 65536 does not fit u16/,
  );
  const coll = await Collection.load(s, { backend: "vm" });
  try {
    const data = globals(coll, ".data");
    const bss = globals(coll, ".bss");
    const ro = globals(coll, ".rodata");
    assert.deepEqual(ro.read(), { drop_port: 53, banner: "typed" });
    assert.deepEqual(bss.read(), { runs: 0, last_verdict: 0, last_delta: 0, last_ptr: 0n });
    data.set("total_bytes", 10n);
    assert.deepEqual(await runAll(coll), [XDP_PASS, XDP_PASS, XDP_DROP]);
    const lens = FLOWS.map((f) => packet(f).length);
    assert.equal(data.get("total_bytes"), 10n + BigInt(lens.reduce((a, b) => a + b, 0)));
    assert.equal(data.get("last_name"), "udp");
    assert.deepEqual(data.get("last_key"), {
      saddr: ip("192.168.1.9"),
      daddr: ip("8.8.8.8"),
      sport: 5353,
      dport: 53,
      proto: 17,
      pad: [0, 0, 0],
    });
    assert.equal(data.get("ratio"), 1.5);
    assert.deepEqual(bss.read(), {
      runs: 3,
      last_verdict: XDP_DROP,
      last_delta: -(lens[2] as number),
      last_ptr: 0n,
    });
    data.set("last_name", "renamed");
    assert.equal(data.get("last_name"), "renamed");
    assert.equal(
      data.get("total_bytes"),
      10n + BigInt(lens.reduce((a, b) => a + b, 0)),
      "other variables kept",
    );
    assert.deepEqual(data.names.slice(0, 3), ["total_bytes", "last_name", "ratio"]);
    assert.throws(
      () => ro.set("drop_port", 1),
      (e: unknown) => isTsbpfError(e) && /read-only once loaded/.test(e.message),
    );
    assert.throws(
      () => data.set("last_name", "a name that is far too long"),
      /last_name: "a name that is far too long" is 27 bytes, char\[16\] holds 16 \(map .data\)/,
    );
    assert.throws(() => globals(coll, ".nope"), /no global-data section '.nope'/);
  } finally {
    coll.close();
  }
});
