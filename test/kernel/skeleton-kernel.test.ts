/**
 * Generated skeletons on the kernel (root): typed.bpf.o driven through its skeleton shows on the
 * kernel what the library's typed()/globals() show there and what the skeleton shows on the VM;
 * skel_shapes.bpf.o's tc prog array, typedef-keyed hash and map of maps work in the kernel; and
 * a skeleton attaches to an interface in a test-made namespace and detaches when disposed.
 */
import assert from "node:assert/strict";
import { test } from "node:test";
import { hostPossibleCpus } from "../../src/backend/possible-cpus.js";
import { globals, rewriteGlobals, typed } from "../../src/backend/typed-map.js";
import type { BackendName } from "../../src/backend/types.js";
import type { BtfValue } from "../../src/btf/codec.js";
import { Collection } from "../../src/collection.js";
import * as net from "../../src/net/index.js";
import { TailCall } from "../../examples/tail-call/tail_call.skel.js";
import { SkelShapes } from "../bpf/typed/skel_shapes.skel.js";
import { Typed, type counter } from "../bpf/typed/typed.skel.js";
import { createVethNs, traceLock, xdpProgIds } from "./attach-support.js";
import { loadSpec } from "./both-engines.js";
import { hasCommand, kernelSkipReason } from "./support.js";

const skip = kernelSkipReason();
const PACKETS = [
  net.buildPacket([
    net.eth({}),
    net.ipv4({ src: "10.0.0.1", dst: "10.0.0.2", ttl: 64 }),
    net.tcp({ sport: 40000, dport: 8080, flags: "S" }),
  ]),
  net.buildPacket([
    net.eth({}),
    net.ipv4({ src: "192.168.1.9", dst: "8.8.8.8", ttl: 1 }),
    net.udp({ sport: 5353, dport: 53 }),
    net.payload("q"),
  ]),
];
const KEY = { saddr: 1, daddr: 2, sport: 3, dport: 4, proto: 17 };

const json = (v: unknown): string => JSON.stringify(v, (_k, x) => (typeof x === "bigint" ? `${x}n` : x));
const sorted = <T>(xs: Iterable<T>): T[] => [...xs].sort((a, b) => (json(a) < json(b) ? -1 : 1));
/** Per-CPU values summed: which CPU a kernel test run lands on varies. */
const sums = (entries: Iterable<[number, { packets: bigint; bytes: bigint }[]]>) =>
  sorted(
    [...entries].map(([k, v]) => [
      k,
      v.reduce((a, c) => ({ packets: a.packets + c.packets, bytes: a.bytes + c.bytes }), {
        packets: 0n,
        bytes: 0n,
      }),
    ]),
  );

/** typed.bpf.o configured, run and written through its skeleton; what its views show. */
async function throughSkeleton(backend: BackendName) {
  const open = Typed.open();
  open.rodata.drop_port = 53;
  open.rodata.banner = "both";
  await using skel = await open.load({ backend, vm: { possibleCpus: hostPossibleCpus() } });
  const retvals: number[] = [];
  for (const p of PACKETS) retvals.push((await skel.progs.typed_prog.run(p)).retval);
  skel.maps.flows.set(KEY, { last: "VERDICT_ODD", name: "user" });
  skel.maps.per_proto.set(99, { packets: 7n });
  skel.bss.last_verdict = "VERDICT_DROP";
  skel.data.last_key = { sport: 7 };
  const perProto: [number, counter[]][] = [...skel.maps.per_proto];
  return {
    retvals,
    flows: sorted(skel.maps.flows),
    counters: sorted(skel.maps.counters),
    perProto: sums(perProto),
    rodata: { ...skel.rodata },
    data: { ...skel.data },
    bss: { ...skel.bss },
  };
}

/** The same through the library's typed views, without a skeleton. */
async function throughLibrary(backend: BackendName) {
  const spec = loadSpec("test/bpf/typed/typed.bpf.o");
  rewriteGlobals(spec, ".rodata", { drop_port: 53, banner: "both" });
  using coll = await Collection.load(spec, { backend, vm: { possibleCpus: hostPossibleCpus() } });
  const retvals: number[] = [];
  for (const p of PACKETS) retvals.push((await coll.programs.typed_prog?.run(p))?.retval ?? -1);
  typed(coll, "flows").set(KEY, { last: "VERDICT_ODD", name: "user" });
  const perProto = typed<number, { packets: bigint; bytes: bigint }[]>(coll, "per_proto");
  perProto.set(99, { packets: 7n });
  globals(coll, ".bss").set("last_verdict", "VERDICT_DROP");
  globals(coll, ".data").set("last_key", { sport: 7 });
  return {
    retvals,
    flows: sorted(typed(coll, "flows")),
    counters: sorted(typed(coll, "counters")),
    perProto: sums(perProto),
    rodata: globals(coll, ".rodata").read() as Record<string, BtfValue>,
    data: globals(coll, ".data").read(),
    bss: globals(coll, ".bss").read(),
  };
}

test("typed.bpf.o's skeleton on the kernel shows what typed() shows there and what it shows on the VM", {
  skip,
}, async () => {
  const kernel = await throughSkeleton("kernel");
  assert.deepEqual(kernel, await throughLibrary("kernel"));
  assert.deepEqual(kernel, await throughSkeleton("vm"));
  assert.deepEqual(kernel.retvals, [2, 1], "drop_port 53, set before load, reached the kernel's .rodata");
  assert.equal(kernel.rodata.banner, "both");
  assert.equal(kernel.bss.last_verdict, 1);
  assert.equal(kernel.flows.length, 3);
});

test("skel_shapes.bpf.o's skeleton in the kernel: tc prog array, typedef keys, enum globals, map of maps", {
  skip,
}, async () => {
  const open = SkelShapes.open();
  open.rodata.min_kind = "EVENT_LARGE";
  await using skel = await open.load({ backend: "kernel" });
  assert.equal(skel.rodata.min_kind, 2);
  skel.maps.tc_jumps.set(0, skel.progs.tc_stage);
  assert.equal(skel.maps.tc_jumps.delete(0), true);
  assert.equal(skel.maps.tc_jumps.delete(0), false);
  const packet = PACKETS[0] as Uint8Array;
  const ranges = skel.maps.ranges_by_port_with_a_long_map_name;
  ranges.set({ lo: packet.length & 0xff }, { flags: "WIDE_LOW", range: { state: 1 } });
  assert.deepEqual(ranges.get({ lo: packet.length & 0xff }), {
    a_member_with_a_name_that_is_also_rather_long_for_a_c_program: 0n,
    flags: 1n,
    range: { lo: 0, hi: 0, state: 1 },
  });
  assert.equal((await skel.progs.emit.run(packet)).retval, 1, "the kernel program finds the key");
  skel.maps.outer.set(1, skel.maps.inner_template.map);
  assert.equal(skel.maps.outer.delete(1), true);
  assert.equal(skel.bss.seq, 1n);
});

test("a skeleton attaches its XDP program in a namespace and detaches it when disposed", {
  skip: skip ?? (hasCommand("ip") ? undefined : "needs ip (iproute2)"),
}, async () => {
  const unlock = await traceLock();
  const veth = createVethNs("k");
  try {
    const skel = await TailCall.openAndLoad({ backend: "kernel", netns: veth.ns });
    try {
      skel.maps.prog_array.set(0, skel.progs.port8080_prog);
      const { main_prog: link } = await skel.attach({ main_prog: { iface: veth.peerIf } });
      assert.equal(skel.links.main_prog, link);
      assert.deepEqual(xdpProgIds(veth.peerIf, veth.ns), [skel.progs.main_prog.info().id]);
    } finally {
      await skel[Symbol.asyncDispose]();
    }
    assert.deepEqual(xdpProgIds(veth.peerIf, veth.ns), [], "nothing left attached");
  } finally {
    veth.remove();
    await unlock();
  }
});
