/**
 * The typed map views on both engines: test/bpf/typed/typed.bpf.o runs the same packets and the
 * same user-space writes on the kernel and on the VM, and every typed view (struct-keyed hash,
 * array, per-CPU hash, .data/.bss/.rodata variables) must be deepEqual. On the kernel the decoded
 * map contents are also checked against bpftool's own BTF-formatted dump.
 */
import assert from "node:assert/strict";
import { execFileSync } from "node:child_process";
import { rmSync } from "node:fs";
import { test } from "node:test";
import { globals, rewriteGlobals, typed } from "../../src/backend/typed-map.js";
import type { BackendName, LoadedCollection } from "../../src/backend/types.js";
import type { BtfValue } from "../../src/btf/codec.js";
import { Collection } from "../../src/collection.js";
import { hostPossibleCpus as possibleCpus } from "../../src/backend/possible-cpus.js";
import type { KernelMap } from "../../src/kernel/kernel-map.js";
import * as net from "../../src/net/index.js";
import { loadSpec, onEachEngine } from "./both-engines.js";
import { ensureBpffs, hasCommand, kernelSkipReason } from "./support.js";

const skip = kernelSkipReason();
const FILE = "test/bpf/typed/typed.bpf.o";
const VERDICT: Record<string, number> = {
  VERDICT_NONE: 0,
  VERDICT_PASS: 2,
  VERDICT_DROP: 1,
  VERDICT_ODD: 0x7fffff00,
};

const PACKETS = [
  net.buildPacket([
    net.eth({}),
    net.ipv4({ src: "10.0.0.1", dst: "10.0.0.2", ttl: 64 }),
    net.tcp({ sport: 40000, dport: 8080, flags: "S" }),
  ]),
  net.buildPacket([
    net.eth({}),
    net.ipv4({ src: "10.0.0.1", dst: "10.0.0.2", ttl: 61 }),
    net.tcp({ sport: 40000, dport: 8080, flags: "A" }),
    net.payload("hello"),
  ]),
  net.buildPacket([
    net.eth({}),
    net.ipv4({ src: "192.168.1.9", dst: "8.8.8.8", ttl: 1 }),
    net.udp({ sport: 5353, dport: 53 }),
    net.payload("q"),
  ]),
  net.buildPacket([
    net.eth({}),
    net.ipv4({ src: "1.2.3.4", dst: "5.6.7.8", protocol: 1 }),
    net.payload("icmp?"),
  ]),
];

const json = (v: unknown): string => JSON.stringify(v, (_k, x) => (typeof x === "bigint" ? `${x}n` : x));
const sorted = <T>(entries: Iterable<[T, BtfValue]>): [T, BtfValue][] =>
  [...entries].sort((a, b) => (json(a[0]) < json(b[0]) ? -1 : 1));

/** Everything the typed API shows after the same runs and writes. */
async function scenario(coll: LoadedCollection) {
  const retvals: number[] = [];
  for (const p of PACKETS) retvals.push((await coll.programs.typed_prog?.run(p))?.retval ?? -1);
  const flows = typed(coll, "flows");
  const per = typed<number, { packets: bigint; bytes: bigint }[]>(coll, "per_proto");
  const data = globals(coll, ".data");
  // User-space writes through the typed API, then one more run that reads and updates them.
  flows.set(
    { saddr: 0x0a000001, daddr: 0x0a000002, sport: 40000, dport: 8080, proto: 6 },
    { packets: 1000n, name: "seeded" },
  );
  flows.set(
    { saddr: 1, daddr: 2, sport: 3, dport: 4, proto: 17 },
    { last: "VERDICT_ODD", seen: 9, delta: -7, is_tcp: 1 },
  );
  const cpus = per.map.possibleCpus;
  per.set(
    99,
    Array.from({ length: cpus }, (_, i) => ({ packets: BigInt(i), bytes: BigInt(i * 10) })),
  );
  data.set("last_name", "from-user");
  data.set("last_key", { saddr: 0xffffffff, pad: [1, 2, 3] });
  retvals.push((await coll.programs.typed_prog?.run(PACKETS[0] as Uint8Array))?.retval ?? -1);
  assert.equal(flows.delete({ saddr: 9, daddr: 9, sport: 9, dport: 9, proto: 9 }), false);
  // Which CPU a kernel test run lands on varies: compare per-CPU sums, and the user-written key whole.
  const perSums = sorted(
    [...per.entries()].map(([k, v]): [number, BtfValue] => [
      k,
      v.reduce((a, c) => ({ packets: a.packets + c.packets, bytes: a.bytes + c.bytes }), {
        packets: 0n,
        bytes: 0n,
      }),
    ]),
  );
  return {
    retvals,
    flows: sorted(flows.entries()),
    counters: sorted(typed(coll, "counters").entries()),
    perSums,
    per99: per.get(99),
    cpus,
    data: data.read(),
    bss: globals(coll, ".bss").read(),
    rodata: globals(coll, ".rodata").read(),
  };
}

async function load(backend: BackendName): Promise<LoadedCollection> {
  const spec = loadSpec(FILE);
  rewriteGlobals(spec, ".rodata", { drop_port: 53, banner: "both" });
  return Collection.load(spec, { backend, vm: { possibleCpus: possibleCpus() } });
}

test("typed views are equal on the kernel and the VM", { skip }, async () => {
  const { kernel, vm } = await onEachEngine(load, scenario);
  assert.deepEqual(kernel, vm);
  // And the views say what the program did, not just the same nonsense twice.
  assert.deepEqual(vm.retvals, [2, 2, 1, 2, 2]);
  assert.equal(vm.flows.length, 3);
  assert.equal(vm.rodata.drop_port, 53);
  assert.equal(vm.rodata.banner, "both");
  assert.equal(vm.bss.runs, 5);
  assert.equal(vm.data.last_name, "tcp");
  assert.deepEqual(vm.per99?.[1], vm.cpus > 1 ? { packets: 1n, bytes: 10n } : undefined);
  const seeded = vm.flows.find(([k]) => (k as Record<string, BtfValue>).sport === 40000)?.[1] as Record<
    string,
    BtfValue
  >;
  assert.equal(seeded.packets, 1001n);
  assert.equal(seeded.name, "seeded");
});

/** bpftool's formatted JSON in the codec's shapes: hex bitfields to numbers, enum names to values, "" flattened. */
function fromBpftool(v: unknown): unknown {
  if (Array.isArray(v)) return v.map(fromBpftool);
  if (typeof v === "string" && /^0x[0-9a-f]+$/.test(v)) return Number.parseInt(v, 16);
  if (typeof v === "string" && v in VERDICT) return VERDICT[v];
  if (typeof v === "object" && v !== null) {
    const out: Record<string, unknown> = {};
    for (const [k, x] of Object.entries(v)) {
      if (k === "") Object.assign(out, fromBpftool(x));
      else out[k] = fromBpftool(x);
    }
    return out;
  }
  return v;
}
const toJsonShape = (v: unknown): unknown =>
  JSON.parse(JSON.stringify(v, (_k, x) => (typeof x === "bigint" ? Number(x) : x)));

test("decoded kernel maps agree with bpftool's BTF-formatted dump", { skip }, async (t) => {
  if (!hasCommand("bpftool")) return t.skip("needs bpftool on PATH");
  if (!ensureBpffs()) return t.skip("needs a bpffs at /sys/fs/bpf");
  const coll = await load("kernel");
  const pin = `/sys/fs/bpf/tsbpf-typed-${process.pid}`;
  try {
    await scenario(coll);
    for (const name of ["flows", "counters", ".bss"]) {
      (coll.maps[name] as KernelMap).pin(pin);
      try {
        const dump = JSON.parse(
          execFileSync("bpftool", ["map", "dump", "pinned", pin, "-j"], { encoding: "utf8" }),
        ) as {
          formatted: { key?: unknown; value: unknown };
        }[];
        if (name === ".bss") {
          // bpftool shows a section as a list of one-variable objects.
          const vars =
            (dump[0]?.formatted.value as Record<string, Record<string, unknown>[]> | undefined)?.[".bss"] ??
            [];
          assert.deepEqual(
            fromBpftool(Object.assign({}, ...vars)),
            toJsonShape(globals(coll, ".bss").read()),
          );
          continue;
        }
        const theirs = dump.map((e) => [fromBpftool(e.formatted.key), fromBpftool(e.formatted.value)]);
        const ours = [...typed(coll, name).entries()].map(toJsonShape);
        assert.equal(ours.length, theirs.length, name);
        assert.deepEqual(sortJson(ours), sortJson(theirs), name);
      } finally {
        rmSync(pin, { force: true });
      }
    }
  } finally {
    coll.close();
  }
});

const sortJson = (xs: unknown[]): unknown[] =>
  [...xs].sort((a, b) => (JSON.stringify(a) < JSON.stringify(b) ? -1 : 1));
