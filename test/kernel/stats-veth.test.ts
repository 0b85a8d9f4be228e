/**
 * Stats against real traffic: the seed attached with `tsbpf attach --stats --pin` on a veth in a
 * test-made network namespace, real SYNs sent to it, and each count read back from the pinned
 * stats map (`readPinnedStats`) checked against what was sent — then slot 1 emptied, and the
 * SYNs to port 22 show up as misses of key 1 at the dispatcher's tail-call site.
 */
import assert from "node:assert/strict";
import { execFileSync } from "node:child_process";
import { readFileSync, rmSync } from "node:fs";
import { resolve } from "node:path";
import { test } from "node:test";
import { readPinnedStats } from "../../src/kernel/pinned-stats.js";
import { loadCollectionSpec } from "../../src/object/load-collection-spec.js";
import { createVethNs, runCli, sendSyn, startCli } from "./attach-support.js";
import { ensureBpffs, hasCommand, kernelSkipReason } from "./support.js";

const SEED = resolve("examples/tail-call/tail_call.bpf.o");
const TAILS = ["--tail", "prog_array:0=port8080_prog", "--tail", "prog_array:1=port22_prog"];
const skip =
  kernelSkipReason() ??
  (hasCommand("ip") && hasCommand("bpftool") && ensureBpffs() ? undefined : "needs ip, bpftool and a bpffs");
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

test("attach --stats --pin: per-stage runs and per-key misses match the SYNs sent", { skip }, async () => {
  const net = createVethNs("st");
  const pin = `/sys/fs/bpf/tsbpf-stats-test-${process.pid}`;
  const spec = loadCollectionSpec(new Uint8Array(readFileSync(SEED)), { file: SEED });
  try {
    const p = startCli([
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
      ...TAILS,
    ]);
    await p.waitFor(/pinned under/);
    const [N, M, K] = [3, 2, 4];
    for (let i = 0; i < N; i++) sendSyn(undefined, net.peerIp, 8080);
    for (let i = 0; i < M; i++) sendSyn(undefined, net.peerIp, 22);
    for (let i = 0; i < K; i++) sendSyn(undefined, net.peerIp, 9999);
    await sleep(300);
    const first = readPinnedStats(pin, spec);
    assert.equal(first.programs.port8080_prog?.runs, N, JSON.stringify(first));
    assert.equal(first.programs.port22_prog?.runs, M, JSON.stringify(first));
    assert.ok((first.programs.main_prog?.runs ?? 0) >= N + M + K, JSON.stringify(first));
    const site = () => readPinnedStats(pin, spec).sites[0];
    assert.deepEqual(
      first.sites[0]?.keys.map((k) => [k.key, k.calls, k.misses]),
      [
        [0, N, 0],
        [1, M, 0],
      ],
    );
    assert.equal(first.sites[0]?.site.line, 52);

    // Empty slot 1: the next SYNs to 22 fall through, and are counted as misses of key 1.
    execFileSync("bpftool", ["map", "delete", "pinned", `${pin}/maps/prog_array`, "key", "1", "0", "0", "0"]);
    for (let i = 0; i < M; i++) sendSyn(undefined, net.peerIp, 22);
    await sleep(300);
    const after = readPinnedStats(pin, spec);
    assert.equal(after.programs.port22_prog?.runs, M, "no more runs of the emptied stage");
    const key1 = site()?.keys.find((k) => k.key === 1);
    assert.deepEqual(key1, { key: 1, calls: 2 * M, misses: M });
    assert.equal(after.sites[0]?.misses, M);

    // The CLI prints the same counts as the library.
    const cli = runCli(["stats", SEED, "--pin", pin, "--json"]);
    assert.equal(cli.status, 0, cli.stderr);
    assert.deepEqual(JSON.parse(cli.stdout), readPinnedStats(pin, spec));
    assert.match(runCli(["stats", SEED, "--pin", pin]).stdout, /prog_array\[1\]: 4 calls, 2 misses/);

    p.child.kill("SIGINT");
    assert.equal(await p.exited, 0, p.stderr());
    assert.match(p.stdout(), /port22_prog: 2 runs/);
  } finally {
    runCli(["detach", "--pin", pin]);
    rmSync(pin, { recursive: true, force: true });
    net.remove();
  }
});
