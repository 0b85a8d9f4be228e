/**
 * Ctrl+C pressed again and again while a command cleans up: the cleanup still runs to its end.
 * A cls_bpf filter is a netlink object and a pinned pipeline is files in bpffs, not fds, so a
 * process killed half-way through its cleanup would leave part of them behind.
 */
import assert from "node:assert/strict";
import { existsSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { test } from "node:test";
import { downPipeline } from "../../src/pipeline/deploy.js";
import { type CliProcess, createVethNs, startCli, traceLock } from "./attach-support.js";
import { ensureBpffs, hasCommand, kernelSkipReason } from "./support.js";
import { qdiscKinds, tcFilterAttachArgs, tcFilters } from "./tc-support.js";

const skip =
  kernelSkipReason() ?? (hasCommand("ip") && hasCommand("tc") ? undefined : "needs ip and tc (iproute2)");

/** Sends `signal` to `p` every millisecond, as an impatient user does, until it is gone; how many. */
async function untilGone(p: CliProcess, signal: NodeJS.Signals): Promise<number> {
  let sent = 0;
  const timer = setInterval(() => {
    if (p.child.exitCode !== null || p.child.signalCode !== null) return;
    p.child.kill(signal);
    sent++;
  }, 1);
  try {
    await p.exited;
  } finally {
    clearInterval(timer);
  }
  return sent;
}

test("attach --tc-mode filter: SIGINT after SIGINT during the cleanup still removes the filter and its qdisc", {
  skip,
}, async () => {
  const unlock = await traceLock();
  const net = createVethNs("g");
  try {
    const p = startCli(tcFilterAttachArgs(net.peerIf), ["ip", "netns", "exec", net.ns]);
    let sent = 0;
    try {
      await p.waitFor(/printing trace lines|running without trace lines/);
      assert.equal(tcFilters(net.ns, net.peerIf, "ingress").length, 1, "the filter is on the hook");
    } finally {
      sent = await untilGone(p, "SIGINT");
    }
    assert.ok(sent > 1, `only ${sent} SIGINT sent`);
    assert.match(
      p.stdout(),
      /^detached tc_main from \S+; removed the clsact qdisc it added; prog arrays released$/m,
      `stdout: ${p.stdout()}\nstderr: ${p.stderr()}`,
    );
    assert.deepEqual(tcFilters(net.ns, net.peerIf, "ingress"), [], "no filter left");
    assert.equal(qdiscKinds(net.ns, net.peerIf).includes("clsact"), false, "no clsact left");
  } finally {
    net.remove();
    await unlock();
  }
});

test("up --watch --down-on-exit: SIGTERM after SIGTERM during the down still removes every pin", {
  skip: skip ?? (ensureBpffs() ? undefined : "needs a bpffs"),
}, async () => {
  const net = createVethNs("h");
  const name = `signals-${process.pid}`;
  const pin = `/sys/fs/bpf/tsbpf/${name}`;
  const dir = mkdtempSync(join(tmpdir(), "tsbpf-signals-"));
  const file = join(dir, `${name}.yaml`);
  let watcher: CliProcess | undefined;
  try {
    writeFileSync(
      file,
      `name: ${name}\nobject: ${resolve("test/bpf/upgrade/versioned.bpf.o")}\nentry: entry\nslots:\n  stages: {0: stage_a, 1: stage_b}\nglobals: {version: 1}\nattach: {iface: ${net.peerIf}, netns: ${net.ns}}\n`,
    );
    watcher = startCli(["up", file, "--watch", "--down-on-exit"]);
    await watcher.waitFor(/^watching /m, 20_000);
    assert.equal(existsSync(pin), true, "pinned");
    const sent = await untilGone(watcher, "SIGTERM");
    assert.ok(sent > 1, `only ${sent} SIGTERM sent`);
    assert.match(watcher.stdout(), /^detached /m, `stdout: ${watcher.stdout()}\nstderr: ${watcher.stderr()}`);
    assert.equal(existsSync(pin), false, "every pin removed");
  } finally {
    watcher?.child.kill("SIGKILL");
    await downPipeline(pin).catch(() => undefined);
    net.remove();
    rmSync(dir, { recursive: true, force: true });
  }
});
