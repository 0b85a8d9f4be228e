/**
 * A pipeline of two objects runs the same on the VM and the kernel: the dispatcher of one object
 * tail-calls the stages of another, for a corpus of packets; verdict, output packet and trace
 * lines are compared, and the counts of what each engine printed are checked against the packets.
 */
import assert from "node:assert/strict";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { test } from "node:test";
import type { BackendName } from "../../src/backend/types.js";
import * as net from "../../src/net/index.js";
import { loadPipeline } from "../../src/pipeline/pipeline.js";
import { traceLock } from "./attach-support.js";
import { kernelSkipReason } from "./support.js";

const skip = kernelSkipReason();
const SEED = resolve("examples/tail-call/tail_call.bpf.o");

const PACKETS = [
  ...[8080, 22, 9999, 443].map((dport) =>
    net.buildPacket([
      net.eth({}),
      net.ipv4({ src: "10.0.0.1", dst: "10.0.0.2" }),
      net.tcp({ sport: 40000, dport, flags: "S" }),
    ]),
  ),
  net.buildPacket([
    net.eth({}),
    net.ipv4({ src: "10.0.0.1", dst: "10.0.0.2" }),
    net.udp({ sport: 5353, dport: 22 }),
  ]),
  net.buildPacket([net.eth({ type: 0x0806 }), net.payload("arp?")]),
];

test("a pipeline of two objects runs identically on the VM and the kernel", { skip }, async () => {
  const dir = mkdtempSync(join(tmpdir(), "tsbpf-pipeline-both-"));
  const file = join(dir, "two.yaml");
  writeFileSync(
    file,
    `name: two
objects:
  dispatch: ${SEED}
  stages: ${SEED}
entry: dispatch:main_prog
slots:
  dispatch:prog_array:
    0: stages:port8080_prog
    1: stages:port22_prog
`,
  );
  const unlock = await traceLock();
  try {
    const out: Partial<Record<BackendName, unknown[]>> = {};
    for (const backend of ["kernel", "vm"] as const) {
      const pipeline = await loadPipeline(file);
      using live = await pipeline.load({ backend });
      const rows: unknown[] = [];
      for (const p of PACKETS) {
        const r = await live.run(p);
        rows.push({ retval: r.retval, out: Buffer.from(r.dataOut).toString("hex"), trace: r.trace });
      }
      out[backend] = rows;
    }
    assert.deepEqual(out.vm, out.kernel);
    const traces = (out.vm as { trace: string[] }[]).map((r) => r.trace);
    assert.deepEqual(traces, [
      ["Packet to port 8080 processed"],
      ["Packet to port 22 processed"],
      [],
      [],
      [],
      [],
    ]);
  } finally {
    await unlock();
    rmSync(dir, { recursive: true, force: true });
  }
});
