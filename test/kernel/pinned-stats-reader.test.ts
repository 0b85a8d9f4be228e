/**
 * The reader `tsbpf top` keeps open (`openPipelineStats`, kernel/pinned-stats.ts) on the seed's
 * pipeline up with stats on a veth in a test-made namespace: 100 refreshes open no pin (every
 * BPF_OBJ_GET counted through a wrapped Sys) and leave the process's fd count as it was; an
 * upgrade under it (new stats maps, new entry) is followed, with the generation counted and the
 * new version's counts read, not the frozen old ones; `down` is a LoadError, and `up` again is
 * followed too. Real SYNs are the packets counted.
 */
import assert from "node:assert/strict";
import { mkdtempSync, readdirSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { test } from "node:test";
import { BpfCmd } from "../../src/abi/index.js";
import { isLoadError } from "../../src/errors.js";
import { defaultSys, type Sys } from "../../src/kernel/sys.js";
import { openPipelineStats } from "../../src/pipeline/deploy.js";
import { createVethNs, runCli, sendSyn } from "./attach-support.js";
import { ensureBpffs, hasCommand, kernelSkipReason } from "./support.js";

const SEED = resolve("examples/tail-call/tail_call.bpf.o");
const skip = kernelSkipReason() ?? (hasCommand("ip") && ensureBpffs() ? undefined : "needs ip and a bpffs");
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const openFds = (): number => readdirSync("/proc/self/fd").length;

test("a stats reader keeps its fds for its life and follows an upgrade, down and up under it", {
  skip,
}, async () => {
  const net = createVethNs("rd");
  const name = `reader-test-${process.pid}`;
  const pin = `/sys/fs/bpf/tsbpf/${name}`;
  const dir = mkdtempSync(join(tmpdir(), "tsbpf-reader-"));
  const file = join(dir, `${name}.yaml`);
  const version = (slots: string): void =>
    writeFileSync(
      file,
      `name: ${name}\nobject: ${SEED}\nentry: main_prog\nstats: true\nslots:\n  prog_array: {${slots}}\nattach: {iface: ${net.peerIf}, netns: ${net.ns}}\n`,
    );
  const base = defaultSys();
  let pinOpens = 0;
  const sys: Sys = Object.assign(Object.create(base) as Sys, {
    bpf: (cmd: number, attr: Uint8Array, ptrs?: Parameters<Sys["bpf"]>[2]) => {
      if (cmd === BpfCmd.OBJ_GET) pinOpens++;
      return base.bpf(cmd, attr, ptrs);
    },
  });
  try {
    version("0: port8080_prog, 1: port22_prog");
    const up = runCli(["up", file]);
    assert.equal(up.status, 0, up.stderr);
    const fdsBefore = openFds();
    const reader = await openPipelineStats(pin, { sys });
    try {
      const held = openFds() - fdsBefore;
      assert.ok(held >= 2, `the stats map and the entry are held open (${held})`);
      for (let i = 0; i < 3; i++) sendSyn(undefined, net.peerIp, 8080);
      await sleep(200);
      const opensBefore = pinOpens;
      let last = reader.read();
      for (let i = 0; i < 100; i++) {
        last = reader.read();
        reader.entryRunStats();
      }
      assert.equal(pinOpens - opensBefore, 0, "100 refreshes open no pin");
      assert.equal(openFds() - fdsBefore, held, "and leave as many fds open as before");
      assert.equal(last.programs.port8080_prog?.runs, 3, JSON.stringify(last));
      assert.equal(reader.generation, 0);
      const firstHash = reader.meta.hash;

      // An upgrade (slot 1 emptied): new counters and a new entry; the reader follows, in one reopen.
      version("0: port8080_prog");
      const upgraded = runCli(["up", file]);
      assert.equal(upgraded.status, 0, upgraded.stderr);
      assert.match(upgraded.stdout, /upgraded/, upgraded.stdout);
      for (let i = 0; i < 2; i++) sendSyn(undefined, net.peerIp, 8080);
      sendSyn(undefined, net.peerIp, 22);
      await sleep(200);
      const after = reader.read();
      assert.equal(reader.generation, 1, "the counters started again");
      assert.notEqual(reader.meta.hash, firstHash, "the new version's description");
      assert.equal(after.programs.port8080_prog?.runs, 2, JSON.stringify(after));
      assert.equal(after.programs.port22_prog?.runs, 0, JSON.stringify(after));
      assert.deepEqual(
        after.sites[0]?.keys.map((k) => [k.key, k.calls, k.misses]),
        [
          [0, 2, 0],
          [1, 1, 1],
        ],
      );
      const opensAfterUpgrade = pinOpens;
      for (let i = 0; i < 100; i++) {
        reader.read();
        reader.entryRunStats();
      }
      assert.equal(pinOpens - opensAfterUpgrade, 0, "no pin opened after the reopen either");
      assert.equal(openFds() - fdsBefore, held, "the old version's fds were closed");

      // Taken down: one LoadError that says so. Up again: followed, counted from zero.
      assert.equal(runCli(["down", file]).status, 0);
      assert.throws(
        () => reader.read(),
        (e: unknown) =>
          isLoadError(e) && new RegExp(`^pipeline ${name} under ${pin} was taken down`).test(e.message),
      );
      const again = runCli(["up", file]);
      assert.equal(again.status, 0, again.stderr);
      sendSyn(undefined, net.peerIp, 8080);
      await sleep(200);
      assert.equal(reader.read().programs.port8080_prog?.runs, 1);
      assert.equal(reader.generation, 2);
      assert.ok(reader.entryRunStats().runCount >= 0n);
    } finally {
      reader.close();
    }
    assert.equal(openFds(), fdsBefore, "close lets every fd go");
  } finally {
    runCli(["down", file]);
    rmSync(pin, { recursive: true, force: true });
    rmSync(dir, { recursive: true, force: true });
    net.remove();
  }
});
