/**
 * The upgrade's grace period (src/kernel/grace-period.ts) proven necessary, on a tc pipeline on a
 * cls_bpf filter: the entry of test/bpf/upgrade/tc_slow_entry.bpf.c spins about 10 ms (bpf_loop)
 * before its tail call, at the egress hook of a veth end whose namespace sends a UDP packet every
 * 20 ms, so an upgrade's replace often finds a packet inside the old entry. Replacing a filter's
 * program returns at once (the kernel frees the old one after an RCU grace period of its own), so
 * the old version's prog array must outlive that packet: released without waiting, it is emptied
 * under the packet, whose tail call falls through and counts as missed (this test then fails:
 * tried by removing the wait). With the wait, every packet sent is counted by one version, none
 * missed, and the upgrades that found a packet in flight waited for it.
 *
 * An XDP link or a tcx link cannot show it: the kernel's own switch waits for an RCU grace
 * period there (the XDP dispatcher's update, bpf_mprog's commit) before the update returns.
 */
import assert from "node:assert/strict";
import { execFileSync } from "node:child_process";
import { resolve } from "node:path";
import { test } from "node:test";
import { startProcess } from "./attach-support.js";
import { ensureBpffs, hasCommand, kernelSkipReason } from "./support.js";
import { versionedTcPipeline } from "./tc-support.js";

const OBJ = resolve("test/bpf/upgrade/tc_slow_entry.bpf.o");
/** bpf_loop iterations of the entry (at most 1 << 23): about 10 ms here. */
const SPIN = 8_000_000;
const UPGRADES = 20;
const skip =
  kernelSkipReason() ??
  (hasCommand("ip") && hasCommand("bpftool") && hasCommand("sysctl") && ensureBpffs()
    ? undefined
    : "needs ip, bpftool, sysctl and a bpffs");
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** The counters map through its pin: [v1, v2, missed]. */
function counters(pin: string): bigint[] {
  const out = JSON.parse(
    execFileSync("bpftool", ["-j", "map", "dump", "pinned", `${pin}/main/maps/counters`]).toString(),
  ) as { formatted?: { key: number; value: number } }[];
  const r: bigint[] = [0n, 0n, 0n];
  for (const { formatted: e } of out) if (e !== undefined && e.key < 3) r[e.key] = BigInt(e.value);
  return r;
}

/** A UDP sender to HOST:9, one packet every 20 ms until SIGTERM (60 s at most); prints {sent}. */
const SLOW_SENDER = `
const s = require("node:dgram").createSocket("udp4");
let sent = 0;
const t = setInterval(() => s.send(Buffer.alloc(18), 9, process.argv[1], () => sent++), 20);
const end = () => { clearInterval(t); setTimeout(() => { console.log(JSON.stringify({ sent })); process.exit(0); }, 50); };
process.on("SIGTERM", end);
setTimeout(end, 60000);`;

test("an upgrade of a filter pipeline waits for the packet inside the old entry: its tail call still finds the old prog array", {
  skip,
  timeout: 120_000,
}, async () => {
  const p = versionedTcPipeline({
    tag: "g",
    name: "upgrade-grace",
    obj: OBJ,
    slots: "0: stage",
    globals: `spin: ${SPIN}`,
    attach: "tc-mode: filter",
  });
  const { net, pin } = p;
  try {
    p.write(1);
    assert.equal((await p.up()).changed, true);
    // 50 packets/s of about 10 ms each: the sending CPU is inside the entry half the time.
    const sender = startProcess(
      [process.execPath, "-e", SLOW_SENDER, net.hostIp],
      ["ip", "netns", "exec", net.ns],
    );
    p.sender = sender;
    await sleep(300);
    const graces: number[] = [];
    for (let i = 1; i <= UPGRADES; i++) {
      p.write(i % 2 === 1 ? 2 : 1);
      const r = await p.up();
      assert.ok(r.upgraded, `upgrade ${i}`);
      graces.push(r.upgraded.graceMs);
      await sleep(20);
    }
    await sleep(100);
    sender.child.kill("SIGTERM");
    assert.equal(await sender.exited, 0, sender.stderr());
    const { sent } = JSON.parse(sender.stdout().trim().split("\n").at(-1) as string) as { sent: number };
    p.sender = undefined;
    await sleep(100);
    const c = counters(pin);
    const figures = `sent ${sent}; counted v1 ${c[0]} + v2 ${c[1]}; missed ${c[2]}; grace periods ${graces.map((g) => g.toFixed(1)).join(", ")} ms`;
    console.log(`# ${figures}`);
    assert.ok(sent >= 30, figures);
    assert.equal(
      c[2],
      0n,
      `a packet's tail call missed: the old prog array was emptied under it; ${figures}`,
    );
    assert.equal((c[0] as bigint) + (c[1] as bigint), BigInt(sent), figures);
    // Some switch found a packet in the old entry and waited for it (a grace period is about
    // 2 ms on an idle machine; one that waits for a spinning packet takes longer).
    assert.ok(Math.max(...graces) >= 1, figures);
  } finally {
    await p.remove();
  }
});
