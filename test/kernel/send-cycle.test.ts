/**
 * `tsbpf send` of distinct packets (a capture) through the cycling program
 * (kernel/live-frames-cycle.ts): the frames that reach the peer of a veth in a test-made
 * namespace are the capture's packets, byte for byte (lengths from 42 to 1442 bytes), in turn and
 * in order, over several turns and across syscalls; and a capture of 1000 packets sent 20000
 * times takes one BPF_PROG_TEST_RUN, not one a frame. The peer passes every frame to its stack
 * (an XDP_PASS program), where a packet socket captures them.
 */
import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import { test } from "node:test";
import { BpfCmd, ProgType, XdpAction } from "../../src/abi/index.js";
import { assemble } from "../../src/asm/assemble.js";
import { encodeInstructions } from "../../src/asm/instruction.js";
import { sendFrames } from "../../src/kernel/live-frames.js";
import { interfaceIndex } from "../../src/kernel/netlink-xdp.js";
import { inNetns } from "../../src/kernel/netns.js";
import { loadProgram } from "../../src/kernel/program-ops.js";
import { defaultSys, type Sys } from "../../src/kernel/sys.js";
import { attachXdpLink } from "../../src/kernel/xdp-link.js";
import { buildPacket } from "../../src/net/build.js";
import { createVethNs, liveFramesRefusal } from "./attach-support.js";
import { hex } from "./both-engines.js";
import { hasCommand, kernelSkipReason } from "./support.js";

const skip =
  kernelSkipReason() ?? (hasCommand("ip") && hasCommand("python3") ? undefined : "needs ip and python3");

/** Captures on IFACE (argv) the frames from 10.9.0.1 until COUNT of them or 10 s; prints them as hex, one a line. */
const CAPTURE = `
import socket, sys, time
s = socket.socket(socket.AF_PACKET, socket.SOCK_RAW, socket.htons(3))
s.bind((sys.argv[1], 0))
s.settimeout(0.2)
want, got, end = int(sys.argv[2]), [], time.time() + 10
print("ready", flush=True)
while len(got) < want and time.time() < end:
    try:
        f = s.recv(65535)
    except socket.timeout:
        continue
    if len(f) >= 34 and f[12:14] == b"\\x08\\x00" and f[26:30] == bytes([10, 9, 0, 1]):
        got.append(f.hex())
print("\\n".join(got), flush=True)
`;

/** A counting Sys: how many BPF_PROG_TEST_RUN calls went through it. */
function countingSys(): { sys: Sys; testRuns: () => number } {
  const base = defaultSys();
  let n = 0;
  const sys: Sys = Object.assign(Object.create(base) as Sys, {
    bpf: (cmd: number, attr: Uint8Array, ptrs?: Parameters<Sys["bpf"]>[2]) => {
      if (cmd === BpfCmd.PROG_TEST_RUN) n++;
      return base.bpf(cmd, attr, ptrs);
    },
  });
  return { sys, testRuns: () => n };
}

test("send of a capture: the peer gets its packets byte for byte, in turn, from one test run", {
  skip: skip ?? (await liveFramesRefusal()),
}, async () => {
  const net = createVethNs("sc");
  const sys = defaultSys();
  const pass = loadProgram(sys, {
    type: ProgType.xdp,
    insns: encodeInstructions(assemble(`mov %r0, ${XdpAction.PASS}\nexit`)),
    license: "GPL",
    name: "t_pass",
  }).fd;
  const link = inNetns(sys, net.ns, () =>
    attachXdpLink(sys, pass.value, interfaceIndex(sys, net.peerIf, net.ns)),
  );
  try {
    const packets = [0, 1400, 7, 300, 64, 1, 999].map((size, i) =>
      buildPacket([
        { kind: "eth" },
        { kind: "ipv4", src: "10.9.0.1", dst: "10.9.0.2" },
        { kind: "udp", dport: 2000 + i },
        { kind: "payload", bytes: Uint8Array.from({ length: size }, (_, j) => (j * 13 + i) & 0xff) },
      ]),
    );
    const frames = 3 * packets.length + 2;
    const cap = spawn("ip", ["netns", "exec", net.ns, "python3", "-c", CAPTURE, net.peerIf, String(frames)], {
      stdio: ["ignore", "pipe", "inherit"],
    });
    let out = "";
    cap.stdout.on("data", (d: Buffer) => {
      out += d.toString();
    });
    const exited = new Promise<number | null>((r) => cap.on("exit", r));
    try {
      while (!out.startsWith("ready")) await new Promise((r) => setTimeout(r, 20));
      // Two sends: the turn goes on where the first left it.
      const { sys: counting, testRuns } = countingSys();
      const first = await sendFrames({ iface: net.hostIf, packets, count: 10, sys: counting });
      const second = await sendFrames({ iface: net.hostIf, packets, count: frames - 10, sys: counting });
      assert.deepEqual([first.sent, second.sent, first.refused + second.refused], [10, frames - 10, 0]);
      assert.equal(testRuns(), 2, "one test run a send");
      const bytes = (from: number, n: number) =>
        Array.from({ length: n }, (_, k) => packets[(from + k) % packets.length]?.byteLength ?? 0).reduce(
          (a, b) => a + b,
        );
      assert.equal(first.bytes, bytes(0, 10));
      assert.equal(second.bytes, bytes(0, frames - 10), "each send starts the turn again");
      assert.equal(await exited, 0);
    } finally {
      cap.kill("SIGKILL");
    }
    const got = out
      .split("\n")
      .slice(1)
      .filter((l) => l !== "");
    const want = [
      ...Array.from({ length: 10 }, (_, k) => hex(packets[k % packets.length] as Uint8Array)),
      ...Array.from({ length: frames - 10 }, (_, k) => hex(packets[k % packets.length] as Uint8Array)),
    ];
    assert.deepEqual(got, want);

    // 1000 packets, 20000 frames: one test run (one a frame before).
    const many = Array.from({ length: 1000 }, (_, i) =>
      buildPacket([
        { kind: "eth" },
        { kind: "ipv4", src: "10.9.0.1", dst: "10.9.0.2" },
        { kind: "udp", dport: 1000 + i },
      ]),
    );
    const { sys: counting, testRuns } = countingSys();
    const r = await sendFrames({ iface: net.hostIf, packets: many, count: 20_000, sys: counting });
    assert.equal(r.sent, 20_000);
    assert.equal(testRuns(), 1);
  } finally {
    link.close();
    pass.close();
    net.remove();
  }
});
