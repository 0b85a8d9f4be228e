/**
 * `bpf_perf_event_output` with packet bytes appended (the flags' BPF_F_CTXLEN_MASK bits) on both
 * engines, XDP and tc: test/bpf/events/perf_ctxlen.bpf.o puts the packet's first u32 in the
 * flags' upper half, so each run asks for another number of packet bytes (none, some, all, one
 * more than the packet has, an unknown flag bit). Both engines give the same return values and
 * the same samples, and the samples are what the kernel's bpf_xdp_event_output and
 * bpf_skb_event_output make: the data, then that many bytes from the packet's start, padded.
 */
import assert from "node:assert/strict";
import { test } from "node:test";
import { globals } from "../../src/backend/typed-map.js";
import type { BackendName } from "../../src/backend/types.js";
import { Collection } from "../../src/collection.js";
import { Errno } from "../../src/abi/index.js";
import { hex, loadSpec } from "./both-engines.js";
import { kernelSkipReason } from "./support.js";

const FILE = "test/bpf/events/perf_ctxlen.bpf.o";
const LEN = 60;
/** Packet bytes asked for (the flags' upper 32 bits): bits 20 and up are not a length. */
const HIS = [0, 1, 4, 8, 14, 33, LEN, LEN + 1, 0xfffff, (1 << 20) | 4];

/** A packet of LEN bytes that starts with `hi` (little-endian) and then counts. */
function packet(hi: number): Uint8Array {
  const p = Uint8Array.from({ length: LEN }, (_, i) => (i * 7 + 3) & 0xff);
  new DataView(p.buffer).setUint32(0, hi >>> 0, true);
  return p;
}

interface Outcome {
  hi: number;
  ret: bigint;
  samples: string[];
}

async function runAll(
  backend: BackendName,
  prog: "xdp_ctxlen" | "tc_ctxlen",
  tier?: "interpreter" | "js" | "wasm",
): Promise<Outcome[]> {
  const c =
    backend === "vm"
      ? await Collection.load(loadSpec(FILE), { backend, ...(tier === undefined ? {} : { vm: { tier } }) })
      : await Collection.load(loadSpec(FILE), { backend });
  try {
    const r = c.events("perf", { pages: 1 });
    const out: Outcome[] = [];
    for (const hi of HIS) {
      await c.programs[prog]?.run(packet(hi));
      const samples: string[] = [];
      r.consume((rec) => {
        samples.push(hex(rec));
      });
      out.push({ hi, ret: globals(c, ".bss").get("last_ret") as bigint, samples });
    }
    return out;
  } finally {
    c.close();
  }
}

/** What the kernel's event output makes of `hi`: its return value and the sample, padded. */
function expected(hi: number): Outcome {
  if (hi >= 1 << 20) return { hi, ret: BigInt(-Errno.EINVAL), samples: [] };
  if (hi > LEN) return { hi, ret: BigInt(-Errno.EFAULT), samples: [] };
  const data = new Uint8Array(8);
  new DataView(data.buffer).setUint32(0, hi, true);
  new DataView(data.buffer).setUint32(4, LEN, true);
  const raw = ((8 + hi + 4 + 7) & ~7) - 4;
  const sample = new Uint8Array(raw);
  sample.set(data);
  sample.set(packet(hi).subarray(0, hi), 8);
  return { hi, ret: 0n, samples: [hex(sample)] };
}

for (const prog of ["xdp_ctxlen", "tc_ctxlen"] as const) {
  test(`perf output with BPF_F_CTXLEN_MASK: the VM gives the kernel's samples and errors (${prog})`, {
    skip: kernelSkipReason(),
  }, async () => {
    const kernel = await runAll("kernel", prog);
    const vm = await runAll("vm", prog);
    assert.deepEqual(kernel, HIS.map(expected), "the kernel does what its source says");
    assert.deepEqual(vm, kernel);
  });

  test(`perf output with BPF_F_CTXLEN_MASK on the VM, each tier (${prog})`, async () => {
    for (const tier of ["interpreter", "js", "wasm"] as const) {
      assert.deepEqual(await runAll("vm", prog, tier), HIS.map(expected), tier);
    }
  });
}
