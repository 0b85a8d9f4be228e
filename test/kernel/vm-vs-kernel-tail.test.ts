/**
 * The VM against the running kernel: the seed dispatcher on every kind of packet (and every
 * truncation of one), and tail-call edge cases (test/bpf/edge/tail_*.bpf.c). Each case runs on
 * both engines through `Collection.load(spec, { backend })`; what is compared is the verdict, the
 * output packet, the trace messages and the maps afterwards.
 */
import assert from "node:assert/strict";
import { test } from "node:test";
import type { BackendName, LoadedCollection, RunResult } from "../../src/backend/types.js";
import { Collection } from "../../src/collection.js";
import { buildPacket } from "../../src/net/build.js";
import { BACKENDS, hex, loadSpec as spec, onBoth } from "./both-engines.js";
import { kernelSkipReason } from "./support.js";

const skip = kernelSkipReason();

/** What one run shows, in a form `deepEqual` compares across engines. */
function seen(r: RunResult): { retval: number; dataOut: string; trace: string[] } {
  return { retval: r.retval, dataOut: hex(r.dataOut), trace: r.trace };
}

/** Every u64 slot of an array map. */
function counters(c: LoadedCollection, map: string, n: number): bigint[] {
  const m = c.maps[map];
  assert.ok(m, `map ${map}`);
  const out: bigint[] = [];
  for (let i = 0; i < n; i++) {
    const v = m.get(i);
    out.push(v === undefined ? -1n : new DataView(v.buffer, v.byteOffset).getBigUint64(0, true));
  }
  return out;
}

const SEED = "examples/tail-call/tail_call.bpf.o";
const tcp = (dport: number, options?: Uint8Array) =>
  buildPacket([
    { kind: "eth", src: "02:00:00:00:00:01", dst: "02:00:00:00:00:02" },
    { kind: "ipv4", src: "10.0.0.1", dst: "10.0.0.2", ...(options === undefined ? {} : { options }) },
    { kind: "tcp", sport: 40000, dport, flags: "S" },
  ]);
const SEED_PACKETS: [string, Uint8Array][] = [
  ["TCP to 8080", tcp(8080)],
  ["TCP to 22", tcp(22)],
  ["TCP to 9999", tcp(9999)],
  [
    "UDP to 8080",
    buildPacket([
      { kind: "eth" },
      { kind: "ipv4", src: "10.0.0.1", dst: "10.0.0.2" },
      { kind: "udp", sport: 1, dport: 8080 },
    ]),
  ],
  ["ARP", buildPacket([{ kind: "eth" }, { kind: "arp", senderIp: "10.0.0.1", targetIp: "10.0.0.2" }])],
  ["IPv4 options (ihl 8) to 8080", tcp(8080, new Uint8Array([1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 0]))],
  ["IPv4 options (ihl 15) to 22", tcp(22, new Uint8Array(40).fill(1))],
];

test("seed dispatcher: same verdict, packet and trace on VM and kernel for every packet kind", {
  skip,
}, async () => {
  const r = await onBoth(SEED, async (c) => {
    const { prog_array } = c.maps;
    const { main_prog, port8080_prog, port22_prog } = c.programs;
    assert.ok(prog_array && main_prog && port8080_prog && port22_prog);
    prog_array.set(0, port8080_prog);
    prog_array.set(1, port22_prog);
    const out: Record<string, unknown> = {};
    for (const [what, pkt] of SEED_PACKETS) out[what] = seen(await main_prog.run(pkt));
    // Truncated at every length from the Ethernet minimum to the whole TCP header.
    const full = tcp(8080);
    for (let n = 14; n <= full.length; n++)
      out[`TCP 8080 cut to ${n}`] = seen(await main_prog.run(full.subarray(0, n)));
    const opt = SEED_PACKETS[6]?.[1] as Uint8Array;
    for (let n = 14; n <= opt.length; n += 3)
      out[`options cut to ${n}`] = seen(await main_prog.run(opt.subarray(0, n)));
    return out;
  });
  assert.deepEqual(r.vm, r.kernel);
  // The comparison is not vacuous: the seed's verdicts and lines are there.
  const k = r.kernel as Record<string, { retval: number; trace: string[] }>;
  assert.deepEqual(k["TCP to 8080"]?.trace, ["Packet to port 8080 processed"]);
  assert.deepEqual(k["IPv4 options (ihl 15) to 22"]?.trace, ["Packet to port 22 processed"]);
  assert.equal(k["TCP 8080 cut to 14"]?.retval, 0, "truncated IP header: XDP_ABORTED");
  assert.equal(k["TCP 8080 cut to 20"]?.retval, 0);
});

test("packets shorter than 14 bytes are refused by both engines", { skip }, async () => {
  const r = await onBoth(SEED, async (c) => {
    const main = c.programs.main_prog;
    assert.ok(main);
    const errs: string[] = [];
    for (const n of [0, 1, 13]) {
      await assert.rejects(main.run(new Uint8Array(n)), (e: Error) => {
        errs.push(`${n}: refused`);
        return e instanceof Error;
      });
    }
    return errs;
  });
  assert.deepEqual(r.vm, r.kernel);
});

test("a slot replaced between packets: the next packet sees the new program", { skip }, async () => {
  const r = await onBoth(SEED, async (c) => {
    const { prog_array } = c.maps;
    const { main_prog, port8080_prog, port22_prog } = c.programs;
    assert.ok(prog_array && main_prog && port8080_prog && port22_prog);
    const out: unknown[] = [];
    prog_array.set(0, port8080_prog);
    out.push(seen(await main_prog.run(tcp(8080))));
    prog_array.set(0, port22_prog);
    out.push(seen(await main_prog.run(tcp(8080))));
    prog_array.remove(0);
    out.push(seen(await main_prog.run(tcp(8080))));
    return out;
  });
  assert.deepEqual(r.vm, r.kernel);
  assert.deepEqual(
    (r.kernel as { trace: string[] }[]).map((x) => x.trace),
    [["Packet to port 8080 processed"], ["Packet to port 22 processed"], []],
  );
});

const EDGES = "test/bpf/edge/tail_edges.bpf.o";
const keyed = (k: number) => {
  const p = new Uint8Array(60);
  p[12] = 0x08;
  p[14] = k;
  return p;
};

/** Wires the edge fixture: slot 0 self_chain, 1 empty_then_self, 2 sub_self, 3 target_a, 4 target_b. */
function wireEdges(c: LoadedCollection): void {
  const { jmp, jmp2 } = c.maps;
  const P = c.programs;
  assert.ok(
    jmp && jmp2 && P.self_chain && P.empty_then_self && P.sub_self && P.target_a && P.target_b && P.mixed,
  );
  jmp.set(0, P.self_chain);
  jmp.set(1, P.empty_then_self);
  jmp.set(2, P.sub_self);
  jmp.set(3, P.target_a);
  jmp.set(4, P.target_b);
  jmp2.set(0, P.mixed);
}

test("a self tail call runs 34 times; empty, out-of-range and computed empty slots do not count", {
  skip,
}, async () => {
  const r = await onBoth(EDGES, async (c) => {
    wireEdges(c);
    const P = c.programs;
    const a = seen(await (P.self_chain as NonNullable<typeof P.self_chain>).run(keyed(0)));
    // Key 7 (from the packet) is an empty slot, as are jmp[7] and jmp2[1]; 1000 is out of range.
    const b = seen(await (P.empty_then_self as NonNullable<typeof P.self_chain>).run(keyed(7)));
    // Key 200 is out of range when computed, too.
    const d = seen(await (P.empty_then_self as NonNullable<typeof P.self_chain>).run(keyed(200)));
    return { a, b, d, counts: counters(c, "counts", 8) };
  });
  assert.deepEqual(r.vm, r.kernel);
  assert.deepEqual(r.kernel.counts.slice(0, 2), [34n, 68n], "34 programs per packet on the kernel");
  assert.equal(r.kernel.a.retval, 1, "the 34th bpf_tail_call falls through to XDP_DROP");
});

test("a tail call from a subprogram returns the target's value to the subprogram's caller", {
  skip,
}, async () => {
  const r = await onBoth(EDGES, async (c) => {
    wireEdges(c);
    const caller = c.programs.sub_caller;
    assert.ok(caller);
    const out: Record<number, number> = {};
    // 3, 4: filled slots; 5, 6, 7: empty; 9: out of range. Caller and callee both hold stack.
    for (const k of [3, 4, 5, 6, 7, 9, 255]) out[k] = (await caller.run(keyed(k))).retval;
    return { out, counts: counters(c, "counts", 8) };
  });
  assert.deepEqual(r.vm, r.kernel);
  assert.equal(r.kernel.out[3], 7 + 4000, "target_a's 7 comes back to sub_caller");
});

test("the tail-call count is shared across bpf-to-bpf frames (nested tail calls from subprograms)", {
  skip,
}, async () => {
  const r = await onBoth(EDGES, async (c) => {
    wireEdges(c);
    const P = c.programs;
    const a = seen(await (P.sub_self as NonNullable<typeof P.sub_self>).run(keyed(0)));
    const b = seen(await (P.mixed as NonNullable<typeof P.mixed>).run(keyed(0)));
    return { a, b, counts: counters(c, "counts", 8) };
  });
  assert.equal(r.kernel.a.retval, 51 + 3 * 34);
  assert.deepEqual(r.vm, r.kernel);
});

test("a prog array refuses a program of another type with EINVAL on both engines", { skip }, async () => {
  const r = await onBoth(EDGES, async (c) => {
    const { jmp } = c.maps;
    const tc = c.programs.tc_prog;
    assert.ok(jmp && tc);
    try {
      jmp.set(5, tc);
      return "accepted";
    } catch (e) {
      return `${(e as Error).name} errno ${(e as { errno?: number }).errno}`;
    }
  });
  assert.equal(r.kernel, "MapError errno 22");
  assert.equal(r.vm, r.kernel);
});

test("tail calls from a subprogram under 256+ bytes of caller stack are refused at load by both", {
  skip,
}, async () => {
  const outcome = async (file: string) => {
    const res: Partial<Record<BackendName, string>> = {};
    for (const backend of BACKENDS) {
      try {
        const c = await Collection.load(spec(file), { backend });
        c.close();
        res[backend] = "loaded";
      } catch (e) {
        const m = /tail_calls are not allowed when call stack of previous frames is (\d+) bytes/.exec(
          (e as Error).message,
        );
        res[backend] = m ? `refused at ${m[1]} bytes` : `failed: ${(e as Error).message}`;
        if (backend === "vm" && m) {
          const insn = (e as { context?: { insn?: number } }).context?.insn;
          assert.equal(typeof insn, "number", "names the instruction");
        }
      }
    }
    return res;
  };
  const big = await outcome("test/bpf/edge/tail_stack_big.bpf.o");
  assert.equal(big.kernel, "refused at 304 bytes");
  assert.equal(big.vm, big.kernel);
  const edge = await outcome("test/bpf/edge/tail_stack_256.bpf.o");
  assert.equal(edge.kernel, "refused at 256 bytes");
  assert.equal(edge.vm, edge.kernel);
  const ok = await outcome("test/bpf/edge/tail_stack_ok.bpf.o");
  assert.deepEqual(ok, { kernel: "loaded", vm: "loaded" });
});
