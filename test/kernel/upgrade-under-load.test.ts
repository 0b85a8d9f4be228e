/**
 * The upgrade proof: test/bpf/upgrade/versioned.bpf.o up on the peer of a veth in a test-made
 * namespace, `tsbpf send` offering frames at full speed to the other end, and meanwhile 100
 * upgrades (alternating versions 1 and 2 through globals:) and 100 single-stage swaps. The
 * objects count each packet for the version that ran it, any packet whose stages saw another
 * version's stamp (a mixed chain), and any tail call that fell through. Then: counted ==
 * reached XDP (the veth's own XDP counters), 0 mixed, 0 missed. A failed upgrade (an object
 * the verifier refuses) leaves the old version running and counting.
 */
import assert from "node:assert/strict";
import { execFileSync } from "node:child_process";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { test } from "node:test";
import {
  downPipeline,
  pipelineStats,
  pipelineStatus,
  swapStage,
  upPipeline,
} from "../../src/pipeline/deploy.js";
import { loadPipeline } from "../../src/pipeline/pipeline.js";
import {
  createVethNs,
  liveFramesRefusal,
  runCli,
  quietVeth,
  sendUdp,
  sentUdp,
  startCli,
} from "./attach-support.js";
import { ensureBpffs, hasCommand, kernelSkipReason } from "./support.js";

const OBJ = resolve("test/bpf/upgrade/versioned.bpf.o");
const BROKEN = resolve("test/bpf/upgrade/broken_stage.bpf.o");
const skip =
  kernelSkipReason() ??
  (hasCommand("ip") && hasCommand("bpftool") && ensureBpffs() ? undefined : "needs ip, bpftool and a bpffs");
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
/** Why `tsbpf send` cannot make the load here (the kernel refuses live frames), or undefined. */
const liveRefused = skip === undefined ? await liveFramesRefusal() : undefined;

/** The counters map through its pin: [v1, v2, mixed, missed, no stamp]. */
function counters(pin: string): bigint[] {
  const out = JSON.parse(
    execFileSync("bpftool", ["-j", "map", "dump", "pinned", `${pin}/main/maps/counters`]).toString(),
  ) as { formatted?: { key: number; value: number } }[];
  const r: bigint[] = [0n, 0n, 0n, 0n, 0n];
  for (const { formatted: e } of out) if (e !== undefined && e.key < 5) r[e.key] = BigInt(e.value);
  return r;
}

/**
 * Packets the veth received, from its own counters: with an XDP program attached, every frame a
 * veth receives goes through it (veth adds its XDP packet count to rx_packets).
 */
function xdpPackets(ns: string, iface: string): bigint {
  const j = JSON.parse(
    execFileSync("ip", ["-n", ns, "-j", "-s", "link", "show", "dev", iface]).toString(),
  ) as {
    stats64: { rx: { packets: number } };
  }[];
  return BigInt(j[0]?.stats64.rx.packets ?? 0);
}

test("100 upgrades and 100 swaps under load: no packet missed, none ran a mixed chain", {
  skip,
  timeout: 300_000,
}, async (t) => {
  const net = createVethNs("u");
  const name = `upgrade-test-${process.pid}`;
  const pin = `/sys/fs/bpf/tsbpf/${name}`;
  const dir = mkdtempSync(join(tmpdir(), "tsbpf-upgrade-"));
  const file = join(dir, `${name}.yaml`);
  const write = (version: number, object = OBJ): void =>
    writeFileSync(
      file,
      `name: ${name}\nobject: ${object}\nentry: entry\nslots:\n  stages: {0: stage_a, 1: stage_b}\nglobals: {version: ${version}}\nattach: {iface: ${net.peerIf}, netns: ${net.ns}}\nstate: [counters]\nstats: true\n`,
    );
  let sender: ReturnType<typeof startCli> | undefined;
  try {
    // No traffic but the test's: no IPv6 neighbour discovery on the pair, and the peer's address
    // resolved for good (its XDP program drops the ARP replies a UDP load would wait for).
    quietVeth(net, "peer");
    write(1);
    const first = await upPipeline(await loadPipeline(file));
    assert.equal(first.changed, true);
    const xdp0 = xdpPackets(net.ns, net.peerIf);
    const c0 = counters(pin);
    // The load: tsbpf send, or where the kernel refuses its live-frames mode, UDP datagrams
    // through the host's stack (slower, the same proof).
    sender =
      liveRefused === undefined
        ? startCli(["send", "--iface", net.hostIf, "--packet", "udp:dport=9", "--duration", "120", "--json"])
        : sendUdp(net, 0, "peer");
    if (liveRefused !== undefined) t.diagnostic(`load from a UDP flood: ${liveRefused}`);
    await sleep(1000);
    const t0 = performance.now();
    let graceMs = 0;
    let finalRuns = 0n;
    for (let i = 1; i <= 100; i++) {
      write(i % 2 === 1 ? 2 : 1);
      const r = await upPipeline(await loadPipeline(file));
      assert.ok(r.upgraded, `upgrade ${i}`);
      assert.deepEqual(r.upgraded.state, [{ object: "main", map: "counters", carried: true }]);
      assert.ok(r.upgraded.finalStats, "the old version's final counts");
      finalRuns += BigInt(r.upgraded.finalStats.programs.entry?.runs ?? 0);
      graceMs += r.upgraded.graceMs;
    }
    const upgradeS = (performance.now() - t0) / 1000;
    const t1 = performance.now();
    for (let i = 1; i <= 100; i++) {
      await swapStage(pin, { map: "stages", key: 0, program: i % 2 === 1 ? "stage_a2" : "stage_a" });
    }
    const swapS = (performance.now() - t1) / 1000;

    // A failed upgrade: the verifier refuses the new object; the old version runs and counts on.
    write(1, BROKEN);
    const before = await pipelineStatus(pin);
    await assert.rejects(async () => upPipeline(await loadPipeline(file)), /verif|permission|invalid/i);
    const after = await pipelineStatus(pin);
    assert.equal(after.meta.hash, before.meta.hash);
    assert.equal(after.running, true);
    const c1 = counters(pin);
    await sleep(300);
    const c2 = counters(pin);
    assert.ok(
      (c2[0] as bigint) + (c2[1] as bigint) > (c1[0] as bigint) + (c1[1] as bigint),
      "still counting",
    );

    sender.child.kill("SIGTERM");
    await sender.exited;
    // send's summary has the frames the veth refused; the UDP sender's, the sends that failed.
    const sent = JSON.parse(sender.stdout().trim().split("\n").at(-1) as string) as {
      sent: number;
      refused?: number;
      failed?: number;
      packetsPerSecond: number;
    };
    await sleep(300);
    const c = counters(pin);
    const reached = xdpPackets(net.ns, net.peerIf) - xdp0;
    const counted = (c[0] as bigint) + (c[1] as bigint) - (c0[0] as bigint) - (c0[1] as bigint);
    const figures = `${liveRefused === undefined ? "tsbpf send" : "UDP flood"}: sent ${sent.sent} at ${(sent.packetsPerSecond / 1e6).toFixed(2)} Mpps (${liveRefused === undefined ? `${sent.refused} refused: ring full` : `${sent.failed} failed`}); reached XDP ${reached}; counted v1 ${c[0]} + v2 ${c[1]} = ${counted}; mixed ${c[2]}; missed ${c[3]}; no stamp ${c[4]}; 100 upgrades in ${upgradeS.toFixed(1)} s (grace ${(graceMs / 100).toFixed(2)} ms each); 100 swaps in ${swapS.toFixed(2)} s`;
    console.log(`# ${figures}`);
    assert.ok(sent.packetsPerSecond >= (liveRefused === undefined ? 1e6 : 2e4), figures);
    assert.equal(c[2], 0n, figures);
    assert.equal(c[3], 0n, figures);
    assert.equal(c[4], 0n, figures);
    assert.equal(counted, reached, figures);
    assert.ok((c[0] as bigint) > 0n && (c[1] as bigint) > 0n, figures);
    // Counts belong to one version: the 100 replaced versions' final counts and the running
    // one's add up to every packet, none counted twice or lost between versions.
    const current = BigInt((await pipelineStats(pin)).programs.entry?.runs ?? 0);
    assert.equal(finalRuns + current, (c[0] as bigint) + (c[1] as bigint) + (c[4] as bigint), figures);

    // The failed upgrade changed nothing: up of the running version's file changes nothing either.
    write(1);
    const up = runCli(["up", file]);
    assert.equal(up.status, 0, up.stderr);
    assert.match(up.stdout, /with the same content .*: nothing changed/);
    // A changed file: an upgrade, which says what it carried over and the old version's final counts.
    write(2);
    const upgrade = runCli(["up", file]);
    assert.equal(upgrade.status, 0, upgrade.stderr);
    assert.match(upgrade.stdout, /^upgraded: /m);
    assert.match(upgrade.stdout, /^state: counters carried over from the previous version$/m);
    assert.match(upgrade.stdout, /^final counts of the previous version:\n {2}entry: \d+ runs/m);
    const own = runCli(["swap", "--pin", pin, "stages:0=stage_a2"]);
    assert.equal(own.status, 0, own.stderr);
    // A program of the pipeline's own object is instrumented and counted: no warning.
    assert.doesNotMatch(own.stderr, /without stats counters/);
    const back = runCli(["up", file]);
    assert.equal(back.status, 0, back.stderr);
    assert.match(
      back.stdout,
      /put the file's programs back in 1 slot\(s\) a swap had changed: stages\[0\]: stage_a2 -> stage_a/,
    );

    // The detectors detect. A version 1 stage (another object's, sharing the pipeline's maps by
    // name) swapped into the version 2 chain: every packet runs a mixed chain. An emptied slot:
    // every packet misses a tail call.
    const mixedBefore = counters(pin)[2] as bigint;
    const sw = runCli(["swap", file, `stages:0=${OBJ}:stage_a`]);
    assert.equal(sw.status, 0, sw.stderr);
    assert.match(sw.stdout, /it uses the pipeline's maps stages, counters/);
    // The pipeline counts with stats; another object's program has no place in its layout.
    assert.match(
      sw.stderr,
      /warning: stage_a from \S+ runs without stats counters: 'tsbpf stats' goes on counting the tail calls into stages\[0\]/,
    );
    // 1000 packets: tsbpf send, or UDP datagrams where the kernel refuses live frames.
    const burst = async (): Promise<void> => {
      if (liveRefused !== undefined) assert.equal((await sentUdp(sendUdp(net, 1000, "peer"))).sent, 1000);
      else
        assert.equal(
          runCli(["send", "--iface", net.hostIf, "--packet", "udp:dport=9", "--count", "1000"]).status,
          0,
        );
    };
    await burst();
    await sleep(200);
    assert.ok((counters(pin)[2] as bigint) >= mixedBefore + 1000n, "a mixed chain is counted");
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
    await burst();
    await sleep(200);
    assert.ok((counters(pin)[3] as bigint) >= 1000n, "a missed tail call is counted");
  } finally {
    sender?.child.kill("SIGKILL");
    await downPipeline(pin).catch(() => undefined);
    net.remove();
    rmSync(dir, { recursive: true, force: true });
  }
});

test("an upgrade detects a link someone else changed, and changes nothing", { skip }, async () => {
  const { defaultSys } = await import("../../src/kernel/sys.js");
  const { getPinned } = await import("../../src/kernel/object-ops.js");
  const { updateLink } = await import("../../src/kernel/xdp-link.js");
  const { existsSync, readdirSync } = await import("node:fs");
  const net = createVethNs("c");
  const name = `upgrade-race-${process.pid}`;
  const pin = `/sys/fs/bpf/tsbpf/${name}`;
  const dir = mkdtempSync(join(tmpdir(), "tsbpf-upgrade-"));
  const file = join(dir, `${name}.yaml`);
  const write = (version: number): void =>
    writeFileSync(
      file,
      `name: ${name}\nobject: ${OBJ}\nentry: entry\nslots:\n  stages: {0: stage_a, 1: stage_b}\nglobals: {version: ${version}}\nattach: {iface: ${net.peerIf}, netns: ${net.ns}}\n`,
    );
  try {
    write(1);
    await upPipeline(await loadPipeline(file));
    // Someone else switches the link to another program (here: the pipeline's own stage_b).
    const sys = defaultSys();
    const link = getPinned(sys, `${pin}/link`);
    const other = getPinned(sys, `${pin}/main/progs/stage_b`);
    const entry = getPinned(sys, `${pin}/main/progs/entry`);
    try {
      updateLink(sys, link.value, other.value, entry.value);
      // BPF_F_REPLACE: the link no longer runs `entry`, so a switch expecting it is refused.
      assert.throws(
        () => updateLink(sys, link.value, entry.value, entry.value),
        (e: unknown) =>
          /^update link: EPERM$/.test((e as Error).message) &&
          /the link no longer runs the program it ran when this started/.test(
            (e as { hint?: string }).hint ?? "",
          ),
      );
    } finally {
      entry.close();
      other.close();
      link.close();
    }
    const before = readdirSync("/sys/fs/bpf/tsbpf").sort();
    write(2);
    await assert.rejects(
      async () => upPipeline(await loadPipeline(file)),
      /runs program id \d+, not the pipeline's entry entry: someone changed it; nothing was switched/,
    );
    assert.deepEqual(readdirSync("/sys/fs/bpf/tsbpf").sort(), before, "no pins left beside it");
    assert.equal(existsSync(`${pin}_tsbpf_next`), false);
    const s = await pipelineStatus(pin);
    assert.equal(s.link?.progId, s.programs.find((p) => p.name === "stage_b")?.id, "the other change stays");
  } finally {
    await downPipeline(pin).catch(() => undefined);
    net.remove();
    rmSync(dir, { recursive: true, force: true });
  }
});
