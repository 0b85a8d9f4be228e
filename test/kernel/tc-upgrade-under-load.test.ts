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
import { execFileSync } from "node:child_process";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { test } from "node:test";
import { downPipeline, pipelineStats, swapStage, upPipeline } from "../../src/pipeline/deploy.js";
import { loadPipeline } from "../../src/pipeline/pipeline.js";
import { type CliProcess, createVethNs, runCli } from "./attach-support.js";
import { ensureBpffs, hasCommand, kernelSkipReason } from "./support.js";
import { tcxProgs, quietVeth, sendUdp, sentUdp, versionCounters } from "./tc-support.js";

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
    const upgrade = runCli(["up", file]);
    assert.equal(upgrade.status, 0, upgrade.stderr);
    assert.match(upgrade.stdout, /^upgraded: .* replaced in one switch on the link/m);
    assert.match(upgrade.stdout, /^state: counters carried over from the previous version$/m);
    assert.match(upgrade.stdout, /^final counts of the previous version:\n {2}entry: \d+ runs/m);
    assert.match(
      upgrade.stdout,
      /^up: .*, hook tc-egress \(tcx link\); slots: stages\[0\]=stage_a, stages\[1\]=stage_b$/m,
    );
    const sw = runCli(["swap", "--pin", pin, "stages:0=stage_a2", "--netns", net.ns]);
    assert.equal(sw.status, 0, sw.stderr);
    assert.match(sw.stdout, /^swapped stages\[0\]: stage_a -> stage_a2 \(one atomic slot update\)/);
    const back = runCli(["up", file]);
    assert.equal(back.status, 0, back.stderr);
    assert.match(
      back.stdout,
      /put the file's programs back in 1 slot\(s\) a swap had changed: stages\[0\]: stage_a2 -> stage_a/,
    );
    // A program of the wrong type is refused before anything changes.
    const xdp = runCli(["swap", file, `stages:0=${resolve("test/bpf/upgrade/versioned.bpf.o")}:stage_a`]);
    assert.equal(xdp.status, 2, xdp.stderr);
    assert.match(
      xdp.stderr,
      /^tsbpf: stage_a is a xdp program; stages of pipeline \S+ holds tc \(sched_cls\) programs: nothing was changed\n$/,
    );

    // The detectors detect. A version 1 stage (another object's, sharing the pipeline's maps by
    // name) swapped into the version 2 chain: every packet runs a mixed chain. An emptied slot:
    // every packet misses a tail call.
    const m0 = versionCounters(pin)[2] as bigint;
    const s1 = runCli(["swap", file, `stages:0=${OBJ}:stage_a`]);
    assert.equal(s1.status, 0, s1.stderr);
    assert.match(s1.stdout, /it uses the pipeline's maps stages, counters/);
    assert.equal((await sentUdp(send(1000))).sent, 1000);
    assert.equal(
      (versionCounters(pin)[2] as bigint) - m0,
      1000n,
      "every packet of the burst ran a mixed chain",
    );
    execFileSync("bpftool", [
      "map",
      "delete",
      "pinned",
      `${pin}/main/maps/stages`,
      "key",
      "1",
      "0",
      "0",
      "0",
    ]);
    const miss0 = versionCounters(pin)[3] as bigint;
    assert.equal((await sentUdp(send(1000))).sent, 1000);
    assert.equal(
      (versionCounters(pin)[3] as bigint) - miss0,
      1000n,
      "every packet of the burst missed a tail call",
    );

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
