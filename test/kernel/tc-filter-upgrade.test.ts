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
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { test } from "node:test";
import { downPipeline, pipelineStats, swapStage, upPipeline } from "../../src/pipeline/deploy.js";
import { loadPipeline } from "../../src/pipeline/pipeline.js";
import { type CliProcess, createVethNs, runCli } from "./attach-support.js";
import { ensureBpffs, hasCommand, kernelSkipReason } from "./support.js";
import {
  qdiscKinds,
  tcFilters,
  tcxProgs,
  quietVeth,
  sendUdp,
  sentUdp,
  upgradeSwapAndDetect,
  versionCounters,
} from "./tc-support.js";

const OBJ = resolve("test/bpf/upgrade/tc_versioned.bpf.o");
const UPGRADES = 40;
const SWAPS = 20;
const skip =
  kernelSkipReason() ??
  (hasCommand("ip") && hasCommand("tc") && hasCommand("bpftool") && hasCommand("sysctl") && ensureBpffs()
    ? undefined
    : "needs ip, tc, bpftool, sysctl and a bpffs");
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

test("tc pipeline on a cls_bpf filter upgrades (the filter replaced in place) and swaps while packets are sent: each sent packet counted by exactly one version, no mixed chain", {
  skip,
  timeout: 240_000,
}, async () => {
  const net = createVethNs("d");
  const name = `tc-filter-upgrade-${process.pid}`;
  const pin = `/sys/fs/bpf/tsbpf/${name}`;
  const dir = mkdtempSync(join(tmpdir(), "tsbpf-tcfupgrade-"));
  const file = join(dir, `${name}.yaml`);
  const write = (version: number): void =>
    writeFileSync(
      file,
      `name: ${name}\nobject: ${OBJ}\nentry: entry\nslots:\n  stages: {0: stage_a, 1: stage_b}\nglobals: {version: ${version}}\nattach: {iface: ${net.peerIf}, netns: ${net.ns}, hook: tc-egress, tc-mode: filter}\nstate: [counters]\nstats: true\n`,
    );
  const send = (count: number) => sendUdp(net, count);
  let sender: CliProcess | undefined;
  try {
    quietVeth(net);
    write(1);
    const first = await upPipeline(await loadPipeline(file));
    assert.equal(first.changed, true);
    assert.equal(first.status.hook, "tc-egress");
    assert.equal(first.status.running, true);
    assert.equal(first.status.filter?.kind, "tc-filter");
    // One filter of ours on the hook: its place and program id, which each upgrade switches.
    const place = () =>
      tcFilters(net.ns, net.peerIf, "egress").map((f) => [f.pref, f.handle, f.name, f.progId]);
    let entryId = first.status.programs.find((p) => p.name === "entry")?.id;
    assert.deepEqual(place(), [[1, 1, "tsbpf-pin:entry", entryId]]);
    const c0 = versionCounters(pin);
    sender = send(0);
    await sleep(500);
    const t0 = performance.now();
    let graceMs = 0;
    let finalRuns = 0n;
    for (let i = 1; i <= UPGRADES; i++) {
      write(i % 2 === 1 ? 2 : 1);
      const r = await upPipeline(await loadPipeline(file));
      assert.ok(r.upgraded, `upgrade ${i}`);
      assert.deepEqual(r.upgraded.state, [{ object: "main", map: "counters", carried: true }]);
      assert.ok(r.upgraded.finalStats, "the old version's final counts");
      finalRuns += BigInt(r.upgraded.finalStats.programs.entry?.runs ?? 0);
      graceMs += r.upgraded.graceMs;
      // The filter is switched in place: one filter, same priority and handle, the new entry.
      const now = r.status.programs.find((p) => p.name === "entry")?.id;
      assert.notEqual(now, entryId);
      entryId = now;
      assert.deepEqual(place(), [[1, 1, "tsbpf-pin:entry", entryId]]);
      assert.equal(r.status.running, true);
    }
    const upgradeS = (performance.now() - t0) / 1000;
    const t1 = performance.now();
    for (let i = 1; i <= SWAPS; i++) {
      await swapStage(pin, { map: "stages", key: 0, program: i % 2 === 1 ? "stage_a2" : "stage_a" });
    }
    const swapS = (performance.now() - t1) / 1000;
    await sleep(300);
    sender.child.kill("SIGTERM");
    const sent = await sentUdp(sender);
    sender = undefined;
    const c = versionCounters(pin);
    const counted = (c[0] as bigint) + (c[1] as bigint) - (c0[0] as bigint) - (c0[1] as bigint);
    const figures = `sent ${sent.sent} (${sent.failed} failed) at ${(sent.packetsPerSecond / 1e3).toFixed(0)} k packets/s; counted v1 ${c[0]} + v2 ${c[1]} = ${counted}; mixed ${c[2]}; missed ${c[3]}; ${UPGRADES} upgrades in ${upgradeS.toFixed(1)} s (grace ${(graceMs / UPGRADES).toFixed(2)} ms each); ${SWAPS} swaps in ${swapS.toFixed(2)} s`;
    console.log(`# ${figures}`);
    assert.equal(sent.failed, 0, figures);
    assert.ok(sent.sent >= 10_000, figures);
    assert.equal(c[2], 0n, figures);
    assert.equal(c[3], 0n, figures);
    assert.equal(counted, BigInt(sent.sent), figures);
    assert.ok((c[0] as bigint) > 0n && (c[1] as bigint) > 0n, figures);
    // Counts belong to one version: the replaced versions' final counts and the running one's add
    // up to every packet, none counted twice or lost between versions.
    const current = BigInt((await pipelineStats(pin)).programs.entry?.runs ?? 0);
    assert.equal(finalRuns + current, (c[0] as bigint) + (c[1] as bigint), figures);

    // The CLI: an upgrade says what it carried over and the old version's final counts; status
    // shows the tc hook; swap and the restoring up work on a tc pipeline.
    write(2);
    await upgradeSwapAndDetect(net, file, pin, OBJ, "filter");

    const down = runCli(["down", file]);
    assert.equal(down.status, 0, down.stderr);
    // Nothing of ours is left: no filter, and the clsact qdisc up created is gone with it.
    assert.deepEqual(tcFilters(net.ns, net.peerIf, "egress"), []);
    assert.deepEqual(tcFilters(net.ns, net.peerIf, "ingress"), []);
    assert.ok(!qdiscKinds(net.ns, net.peerIf).includes("clsact"), qdiscKinds(net.ns, net.peerIf).join(","));
    assert.deepEqual(tcxProgs(net.peerIf, net.ns), []);
  } finally {
    sender?.child.kill("SIGKILL");
    await downPipeline(pin).catch(() => undefined);
    net.remove();
    rmSync(dir, { recursive: true, force: true });
  }
});
