/**
 * The upgrade proof for tc pipelines on a cls_bpf filter (`tc-mode: filter`), as
 * tc-upgrade-under-load.test.ts proves it for a tcx link: test/bpf/upgrade/tc_versioned.bpf.o up
 * at the tc egress hook of the veth end inside a test-made namespace, a UDP sender in that
 * namespace sending as fast as it can, and meanwhile upgrades (alternating versions 1 and 2) that
 * replace our filter's program in place (RTM_NEWTFILTER with NLM_F_REPLACE at the same priority and
 * handle) and single-stage swaps. tc egress runs in the sender's own sendmsg, so every sent
 * packet passes the hook exactly once: counted == sent, 0 mixed, 0 missed, the filter stays one
 * filter at the same place, and down leaves no filter and no clsact qdisc.
 */
import assert from "node:assert/strict";
import { resolve } from "node:path";
import { test } from "node:test";
import { runCli } from "./attach-support.js";
import { ensureBpffs, hasCommand, kernelSkipReason } from "./support.js";
import {
  qdiscKinds,
  tcFilters,
  tcxProgs,
  upgradeSwapAndDetect,
  upgradesUnderLoad,
  versionedTcPipeline,
} from "./tc-support.js";

const OBJ = resolve("test/bpf/upgrade/tc_versioned.bpf.o");
const UPGRADES = 40;
const SWAPS = 20;
const skip =
  kernelSkipReason() ??
  (hasCommand("ip") && hasCommand("tc") && hasCommand("bpftool") && hasCommand("sysctl") && ensureBpffs()
    ? undefined
    : "needs ip, tc, bpftool, sysctl and a bpffs");

test("tc pipeline on a cls_bpf filter upgrades (the filter replaced in place) and swaps while packets are sent: each sent packet counted by exactly one version, no mixed chain", {
  skip,
  timeout: 240_000,
}, async () => {
  const p = versionedTcPipeline({
    tag: "d",
    name: "tc-filter-upgrade",
    obj: OBJ,
    slots: "0: stage_a, 1: stage_b",
    attach: "tc-mode: filter",
    stats: true,
  });
  const { net } = p;
  try {
    p.write(1);
    const first = await p.up();
    assert.equal(first.changed, true);
    assert.equal(first.status.hook, "tc-egress");
    assert.equal(first.status.running, true);
    assert.equal(first.status.filter?.kind, "tc-filter");
    // One filter of ours on the hook: its place and program id, which each upgrade switches.
    const place = () =>
      tcFilters(net.ns, net.peerIf, "egress").map((f) => [f.pref, f.handle, f.name, f.progId]);
    let entryId = first.status.programs.find((p) => p.name === "entry")?.id;
    assert.deepEqual(place(), [[1, 1, "tsbpf-pin:entry", entryId]]);
    await upgradesUnderLoad(p, { upgrades: UPGRADES, swaps: SWAPS }, (r) => {
      // The filter is switched in place: one filter, same priority and handle, the new entry.
      const now = r.status.programs.find((p) => p.name === "entry")?.id;
      assert.notEqual(now, entryId);
      entryId = now;
      assert.deepEqual(place(), [[1, 1, "tsbpf-pin:entry", entryId]]);
      assert.equal(r.status.running, true);
    });

    // The CLI: an upgrade says what it carried over and the old version's final counts; status
    // shows the tc hook; swap and the restoring up work on a tc pipeline.
    p.write(2);
    await upgradeSwapAndDetect(net, p.file, p.pin, OBJ, "filter");

    const down = runCli(["down", p.file]);
    assert.equal(down.status, 0, down.stderr);
    // Nothing of ours is left: no filter, and the clsact qdisc up created is gone with it.
    assert.deepEqual(tcFilters(net.ns, net.peerIf, "egress"), []);
    assert.deepEqual(tcFilters(net.ns, net.peerIf, "ingress"), []);
    assert.ok(!qdiscKinds(net.ns, net.peerIf).includes("clsact"), qdiscKinds(net.ns, net.peerIf).join(","));
    assert.deepEqual(tcxProgs(net.peerIf, net.ns), []);
  } finally {
    await p.remove();
  }
});
