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
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { test } from "node:test";
import { downPipeline, pipelineStats, swapStage, upPipeline } from "../../src/pipeline/deploy.js";
import { loadPipeline } from "../../src/pipeline/pipeline.js";
import { type CliProcess, createVethNs, runCli } from "./attach-support.js";
import { ensureBpffs, hasCommand, kernelSkipReason } from "./support.js";
import {
  quietVeth,
  sendUdp,
  sentUdp,
  tcxProgs,
  upgradeSwapAndDetect,
  versionCounters,
} from "./tc-support.js";

const OBJ = resolve("test/bpf/upgrade/tc_versioned.bpf.o");
const UPGRADES = 50;
const SWAPS = 50;
const skip =
  kernelSkipReason() ??
  (hasCommand("ip") && hasCommand("bpftool") && hasCommand("sysctl") && ensureBpffs()
    ? undefined
    : "needs ip, bpftool, sysctl and a bpffs");
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

test("tc pipeline upgrades and swaps while packets are sent: each sent packet counted by exactly one version, no mixed chain", {
  skip,
  timeout: 240_000,
}, async () => {
  const net = createVethNs("e");
  const name = `tc-upgrade-test-${process.pid}`;
  const pin = `/sys/fs/bpf/tsbpf/${name}`;
  const dir = mkdtempSync(join(tmpdir(), "tsbpf-tcupgrade-"));
  const file = join(dir, `${name}.yaml`);
  const write = (version: number): void =>
    writeFileSync(
      file,
      `name: ${name}\nobject: ${OBJ}\nentry: entry\nslots:\n  stages: {0: stage_a, 1: stage_b}\nglobals: {version: ${version}}\nattach: {iface: ${net.peerIf}, netns: ${net.ns}, hook: tc-egress}\nstate: [counters]\nstats: true\n`,
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
      // The link is switched, not replaced: one program on the hook, always.
      assert.deepEqual(tcxProgs(net.peerIf, net.ns), ["egress:entry"]);
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
    await upgradeSwapAndDetect(net, file, pin, OBJ, "link");

    const down = runCli(["down", file]);
    assert.equal(down.status, 0, down.stderr);
    assert.deepEqual(tcxProgs(net.peerIf, net.ns), []);
  } finally {
    sender?.child.kill("SIGKILL");
    await downPipeline(pin).catch(() => undefined);
    net.remove();
    rmSync(dir, { recursive: true, force: true });
  }
});
