/**
 * The upgrade proof for tc pipelines: test/bpf/upgrade/tc_versioned.bpf.o up at the tc egress
 * hook of the veth end inside a test-made namespace (a tcx link), a sender inside that namespace
 * sending UDP packets out of it as fast as it can, and meanwhile upgrades (alternating versions
 * 1 and 2 through globals:) and single-stage swaps. tc egress runs in the sender's own sendmsg,
 * before any queue, so every packet the sender sent passes the hook exactly once: the objects
 * count each packet for the version that ran it, any packet whose stages saw another version's
 * stamp (skb->cb[0], a mixed chain), and any tail call that fell through. Then: counted == sent,
 * 0 mixed, 0 missed, and the replaced versions' final counts plus the running one's add up.
 */
import assert from "node:assert/strict";
import { resolve } from "node:path";
import { test } from "node:test";
import { runCli } from "./attach-support.js";
import { ensureBpffs, hasCommand, kernelSkipReason } from "./support.js";
import { tcxProgs, upgradeSwapAndDetect, upgradesUnderLoad, versionedTcPipeline } from "./tc-support.js";

const OBJ = resolve("test/bpf/upgrade/tc_versioned.bpf.o");
const UPGRADES = 50;
const SWAPS = 50;
const skip =
  kernelSkipReason() ??
  (hasCommand("ip") && hasCommand("bpftool") && hasCommand("sysctl") && ensureBpffs()
    ? undefined
    : "needs ip, bpftool, sysctl and a bpffs");

test("tc pipeline upgrades and swaps while packets are sent: each sent packet counted by exactly one version, no mixed chain", {
  skip,
  timeout: 240_000,
}, async () => {
  const p = versionedTcPipeline({
    tag: "e",
    name: "tc-upgrade-test",
    obj: OBJ,
    slots: "0: stage_a, 1: stage_b",
    stats: true,
  });
  const { net } = p;
  try {
    p.write(1);
    const first = await p.up();
    assert.equal(first.changed, true);
    assert.equal(first.status.hook, "tc-egress");
    assert.equal(first.status.running, true);
    await upgradesUnderLoad(p, { upgrades: UPGRADES, swaps: SWAPS }, () => {
      // The link is switched, not replaced: one program on the hook, always.
      assert.deepEqual(tcxProgs(net.peerIf, net.ns), ["egress:entry"]);
    });

    // The CLI: an upgrade says what it carried over and the old version's final counts; status
    // shows the tc hook; swap and the restoring up work on a tc pipeline.
    p.write(2);
    await upgradeSwapAndDetect(net, p.file, p.pin, OBJ, "link");

    const down = runCli(["down", p.file]);
    assert.equal(down.status, 0, down.stderr);
    assert.deepEqual(tcxProgs(net.peerIf, net.ns), []);
  } finally {
    await p.remove();
  }
});
