import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { test } from "node:test";
import {
  arp,
  buildPacket,
  eth,
  ipv4,
  ipv6,
  readPcap,
  readPcapBatch,
  tcp,
  udp,
  vlan,
  writePcap,
} from "../../src/net/index.js";
import { loadCollectionSpec } from "../../src/object/load-collection-spec.js";
import { type BatchPacket, loadVmCollection, type VmCollection } from "../../src/vm/vm-collection.js";
import { tcpSyn4 } from "../support/packets.js";

// VmProgram.runBatch (issue 14): a capture replayed in one call gives each packet what run() gives
// it, on both tiers, from an array or from a pcap packed in one buffer.

const PACKETS = [
  tcpSyn4(8080),
  tcpSyn4(22),
  tcpSyn4(443),
  buildPacket([eth({}), vlan({ vid: 7 }), ipv4({ src: "10.0.0.1", dst: "10.0.0.2" }), tcp({ dport: 23 })]),
  buildPacket([
    eth({}),
    vlan({ vid: 10, tpid: 0x88a8 }),
    vlan({ vid: 20 }),
    ipv6({ src: "fd00::1", dst: "fd00::2" }),
    udp({ dport: 53 }),
  ]),
  buildPacket([eth({}), arp({ op: "request", senderIp: "10.0.0.1", targetIp: "10.0.0.2" })]),
  new Uint8Array(13), // too short: refused, as run() refuses it
];

function load(tier: "compiled" | "js" | "interpreter", object: string, entry: string): VmCollection {
  const c = loadVmCollection(loadCollectionSpec(new Uint8Array(readFileSync(object)), { file: object }), {
    tier,
    possibleCpus: 2,
  });
  if (entry === "parse") {
    c.maps.stages?.set(0, c.programs.tcp_stage as never);
    c.maps.stages?.set(1, c.programs.udp_stage as never);
  } else {
    c.maps.prog_array?.set(0, c.programs.port8080_prog as never);
    c.maps.prog_array?.set(1, c.programs.port22_prog as never);
  }
  return c;
}

const CASES = [
  { object: "test/bpf/bench/dispatch_counter.bpf.o", entry: "main_prog", counters: "hits" },
  { object: "test/bpf/bench/parser.bpf.o", entry: "parse", counters: "port_count" },
];

for (const { object, entry, counters } of CASES) {
  for (const tier of ["compiled", "js", "interpreter"] as const) {
    test(`runBatch on ${object} (${tier}) gives each packet run()'s verdict, output and chain, and the same counters`, async () => {
      const good = PACKETS.slice(0, -1);
      const one = load(tier, object, entry);
      const expected: { retval: number; out: string; chain: string }[] = [];
      for (const p of good) {
        const r = await one.programs[entry]?.run(p);
        assert.ok(r);
        expected.push({
          retval: r.retval,
          out: Buffer.from(r.dataOut).toString("hex"),
          chain: (r.chain ?? []).join(">"),
        });
      }
      for (const packed of [false, true]) {
        const batch = load(tier, object, entry);
        const prog = batch.programs[entry];
        assert.ok(prog);
        const seen: { retval: number; out: string; chain: string }[] = [];
        const views = new Set<BatchPacket>();
        const retvals = new Uint32Array(good.length + 3).fill(0xdead);
        const input = packed ? readPcapBatch(writePcap(good)).batch : good;
        const res = prog.runBatch(input, {
          retvals,
          onPacket: (i, retval, p) => {
            assert.equal(i, seen.length);
            views.add(p);
            seen.push({
              retval,
              out: Buffer.from(p.bytes.subarray(p.start, p.end)).toString("hex"),
              chain: p.chain.join(">"),
            });
          },
        });
        assert.deepEqual(seen, expected, packed ? "packed" : "array");
        assert.equal(res.retvals, retvals, "verdicts go into the array given");
        assert.deepEqual(
          [...retvals.subarray(0, good.length)],
          expected.map((e) => e.retval),
        );
        assert.equal(retvals[good.length], 0xdead, "past the batch, untouched");
        assert.equal(views.size, 1, "one BatchPacket for every packet: nothing allocated per packet");
        assert.equal(res.packets, good.length);
        assert.equal(res.faults, 0);
        const dump = (c: VmCollection) =>
          [...(c.maps[counters]?.entries() ?? [])].map(
            ([k, v]) => `${Buffer.from(k).toString("hex")}=${Buffer.from(v).toString("hex")}`,
          );
        assert.deepEqual(dump(batch), dump(one), "the same counts");
        assert.ok(
          dump(one).some((e) => !/=0+$/.test(e)),
          "the stages counted something",
        );
      }
    });
  }
}

test("runBatch refuses a packet test_run refuses, and a retvals array too small", () => {
  const c = load("compiled", CASES[0]?.object as string, "main_prog");
  const prog = c.programs.main_prog;
  assert.ok(prog);
  assert.throws(() => prog.runBatch(PACKETS), /packet of 13 bytes is shorter than the 14 bytes/);
  assert.throws(
    () => prog.runBatch(PACKETS.slice(0, 3), { retvals: new Uint32Array(2) }),
    /retvals holds 2 verdicts, the batch has 3 packets/,
  );
});

test("readPcapBatch packs the packets readPcap reads, over the file's own bytes", () => {
  const file = writePcap(PACKETS.slice(0, -1), { littleEndian: false, nanos: true });
  const { batch, linktype } = readPcapBatch(file, "x.pcap");
  const plain = readPcap(file, "x.pcap");
  assert.equal(linktype, plain.linktype);
  assert.equal(batch.count, plain.packets.length);
  assert.equal(batch.bytes, file, "no copy");
  for (let i = 0; i < batch.count; i++) {
    const off = batch.offsets[i] as number;
    assert.deepEqual(batch.bytes.subarray(off, off + (batch.lengths[i] as number)), plain.packets[i]?.data);
  }
  assert.throws(
    () => readPcapBatch(file.subarray(0, file.length - 3), "x.pcap"),
    /runs past the end of the file/,
  );
});
