/**
 * `tsbpf top` in a real terminal: tmux runs it against the seed attached with --stats --pin on a
 * veth in a test-made namespace, SYNs go through, and the captured screen shows each stage's
 * runs, the site's keys with the C line, and the chain's run time from the kernel's stats.
 */
import assert from "node:assert/strict";
import { execFileSync, spawnSync } from "node:child_process";
import { rmSync } from "node:fs";
import { resolve } from "node:path";
import { test } from "node:test";
import { createVethNs, runCli, sendSyn, startCli } from "./attach-support.js";
import { ensureBpffs, hasCommand, kernelSkipReason } from "./support.js";

const SEED = resolve("examples/tail-call/tail_call.bpf.o");
const skip =
  kernelSkipReason() ??
  (hasCommand("ip") && hasCommand("tmux") && ensureBpffs() ? undefined : "needs ip, tmux and a bpffs");
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

test("top shows live per-stage counts and the chain's run time in tmux", { skip }, async () => {
  const net = createVethNs("tp");
  const pin = `/sys/fs/bpf/tsbpf-top-test-${process.pid}`;
  const session = `tsbpf-top-${process.pid}`;
  let p: ReturnType<typeof startCli> | undefined;
  try {
    p = startCli([
      "attach",
      SEED,
      "--prog",
      "main_prog",
      "--iface",
      net.peerIf,
      "--netns",
      net.ns,
      "--pin",
      pin,
      "--stats",
      "--tail",
      "prog_array:0=port8080_prog",
    ]);
    await p.waitFor(/pinned under/);
    const cmd = [process.execPath, resolve("bin/tsbpf.js"), "top", "--pin", pin]
      .map((a) => `'${a}'`)
      .join(" ");
    // Wide enough that the chain line (numbers of any width) is never wrapped.
    execFileSync("tmux", ["new-session", "-d", "-s", session, "-x", "200", "-y", "30", cmd]);
    await sleep(500);
    for (let i = 0; i < 3; i++) sendSyn(undefined, net.peerIp, 8080);
    for (let i = 0; i < 2; i++) sendSyn(undefined, net.peerIp, 22);
    await sleep(2500);
    const screen = execFileSync("tmux", ["capture-pane", "-p", "-t", session], { encoding: "utf8" });
    assert.match(screen, /tsbpf top/, screen);
    // The kernel's own run time of the entry (the whole chain), for every SYN since top started.
    const chain = /since top started: (\d+) ns per packet over (\d+) packets/.exec(screen);
    assert.ok(chain, screen);
    assert.ok(Number(chain[2]) >= 5 && Number(chain[1]) > 0, screen);
    assert.match(screen, /port8080_prog\s+3\s/, screen);
    assert.match(screen, /main_prog prog_array tail_call\.bpf\.c:52\s+1\s+2\s+2\s/, screen);
    p.child.kill("SIGINT");
    assert.equal(await p.exited, 0, p.stderr());
  } finally {
    // A failed assertion must not leave attach running: the test would never end.
    if (p !== undefined && p.child.exitCode === null) p.child.kill("SIGKILL");
    spawnSync("tmux", ["kill-session", "-t", session], { stdio: "ignore" });
    runCli(["detach", "--pin", pin]);
    rmSync(pin, { recursive: true, force: true });
    net.remove();
  }
});
