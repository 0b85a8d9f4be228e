/**
 * examples/tail-call/loader.ts, the seed's loader.c on tsbpf, run as a user runs it: attached to
 * one end of a veth pair, real TCP SYNs sent from the other, its printed lines, and nothing left
 * in the kernel after Ctrl+C.
 */
import assert from "node:assert/strict";
import { resolve } from "node:path";
import { test } from "node:test";
import {
  createVethNs,
  loadedProgramIds,
  sendSyn,
  startProcess,
  traceLock,
  xdpProgIds,
} from "./attach-support.js";
import { ensureBpffs, hasCommand, kernelSkipReason } from "./support.js";

const LOADER = resolve("dist/examples/tail-call/loader.js");
const skip =
  kernelSkipReason() ??
  (hasCommand("ip") && hasCommand("nsenter") && hasCommand("bpftool") && ensureBpffs()
    ? undefined
    : "needs ip (iproute2), nsenter, bpftool and a bpffs at /sys/fs/bpf");
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

test("the example loader wires the seed, prints its two messages and cleans up on SIGINT", {
  skip,
}, async () => {
  const unlock = await traceLock();
  const net = createVethNs("l");
  try {
    const p = startProcess([process.execPath, LOADER, net.peerIf], ["nsenter", `--net=/run/netns/${net.ns}`]);
    await p.waitFor(/Press Ctrl\+C to exit/);
    assert.match(
      p.stdout(),
      new RegExp(
        `^XDP program loaded and tail calls configured on interface ${net.peerIf} \\(ifindex: \\d+\\)\\.`,
      ),
    );
    const [mainId] = xdpProgIds(net.peerIf, net.ns);
    assert.ok(mainId, "the dispatcher is attached");
    for (const port of [8080, 22, 9999]) sendSyn(undefined, net.peerIp, port);
    await sleep(800);
    p.child.kill("SIGINT");
    assert.equal(await p.exited, 0, p.stderr());
    const messages = p
      .stdout()
      .split("\n")
      .map((l) => /: (Packet to port \d+ processed)$/.exec(l)?.[1])
      .filter((m) => m !== undefined);
    assert.deepEqual(messages, ["Packet to port 8080 processed", "Packet to port 22 processed"], p.stdout());
    assert.deepEqual(xdpProgIds(net.peerIf, net.ns), [], "no XDP program left on the interface");
    assert.ok(!loadedProgramIds().some((x) => x.id === mainId), "the dispatcher is no longer loaded");
  } finally {
    net.remove();
    await unlock();
  }
});
