/**
 * Stats against real traffic: the seed's pipeline put up with `tsbpf up --stats` on a veth in a
 * test-made network namespace, real SYNs sent to it, and each count read back through the pins
 * (`pipelineStats`, `tsbpf stats`) checked against what was sent — then slot 1 emptied, and the
 * SYNs to port 22 show up as misses of key 1 at the dispatcher's tail-call site.
 */
import assert from "node:assert/strict";
import { execFileSync } from "node:child_process";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { test } from "node:test";
import { pipelineStats } from "../../src/pipeline/deploy.js";
import { readSvgGraph } from "../support/svg-graph.js";
import { createVethNs, runCli, sendSyn } from "./attach-support.js";
import { ensureBpffs, hasCommand, kernelSkipReason } from "./support.js";

const SEED = resolve("examples/tail-call/tail_call.bpf.o");
const skip =
  kernelSkipReason() ??
  (hasCommand("ip") && hasCommand("bpftool") && ensureBpffs() ? undefined : "needs ip, bpftool and a bpffs");
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

test("up --stats: per-stage runs and per-key misses match the SYNs sent", { skip }, async () => {
  const net = createVethNs("st");
  const name = `stats-test-${process.pid}`;
  const pin = `/sys/fs/bpf/tsbpf/${name}`;
  const dir = mkdtempSync(join(tmpdir(), "tsbpf-stats-"));
  const file = join(dir, `${name}.yaml`);
  writeFileSync(
    file,
    `name: ${name}\nobject: ${SEED}\nentry: main_prog\nslots:\n  prog_array: {0: port8080_prog, 1: port22_prog}\nattach: {iface: ${net.peerIf}, netns: ${net.ns}}\n`,
  );
  try {
    // Without stats the counts are refused with a reason, not read as zeros.
    const plain = runCli(["up", file]);
    assert.equal(plain.status, 0, plain.stderr);
    const none = runCli(["stats", file]);
    assert.equal(none.status, 1, none.stderr);
    assert.match(
      none.stderr,
      /^tsbpf: pipeline \S+ under \S+ was put up without stats — hint: add stats: true/,
    );
    assert.equal(runCli(["down", file]).status, 0);

    const up = runCli(["up", file, "--stats"]);
    assert.equal(up.status, 0, up.stderr);
    const [N, M, K] = [3, 2, 4];
    for (let i = 0; i < N; i++) sendSyn(undefined, net.peerIp, 8080);
    for (let i = 0; i < M; i++) sendSyn(undefined, net.peerIp, 22);
    for (let i = 0; i < K; i++) sendSyn(undefined, net.peerIp, 9999);
    await sleep(300);
    const first = await pipelineStats(pin);
    assert.equal(first.programs.port8080_prog?.runs, N, JSON.stringify(first));
    assert.equal(first.programs.port22_prog?.runs, M, JSON.stringify(first));
    assert.ok((first.programs.main_prog?.runs ?? 0) >= N + M + K, JSON.stringify(first));
    assert.deepEqual(
      first.sites[0]?.keys.map((k) => [k.key, k.calls, k.misses]),
      [
        [0, N, 0],
        [1, M, 0],
      ],
    );
    assert.equal(first.sites[0]?.site.line, 52);

    // Empty slot 1: the next SYNs to 22 fall through, and are counted as misses of key 1.
    execFileSync("bpftool", [
      "map",
      "delete",
      "pinned",
      `${pin}/main/maps/prog_array`,
      "key",
      "1",
      "0",
      "0",
      "0",
    ]);
    for (let i = 0; i < M; i++) sendSyn(undefined, net.peerIp, 22);
    await sleep(300);
    const after = await pipelineStats(pin);
    assert.equal(after.programs.port22_prog?.runs, M, "no more runs of the emptied stage");
    const key1 = after.sites[0]?.keys.find((k) => k.key === 1);
    assert.deepEqual(key1, { key: 1, calls: 2 * M, misses: M });
    assert.equal(after.sites[0]?.misses, M);

    // The CLI prints the same counts as the library, from the file or the directory.
    const cli = runCli(["stats", file, "--json"]);
    assert.equal(cli.status, 0, cli.stderr);
    // Read later than `after`: the dispatcher may have seen one more packet the host sent on its
    // own meanwhile (IPv6 router solicitation, MLD), which passes it; the stages cannot have.
    const read = JSON.parse(cli.stdout) as typeof after;
    const extra = (read.programs.main_prog?.runs ?? 0) - (after.programs.main_prog?.runs ?? 0);
    assert.ok(extra >= 0 && extra <= 3, `main_prog ran ${extra} more times between the two reads`);
    const main = (x: typeof after) => {
      const m = x.programs.main_prog;
      return {
        ...x,
        programs: { ...x.programs, main_prog: m === undefined ? m : { ...m, runs: 0, verdicts: {} } },
      };
    };
    assert.deepEqual(main(read), main(after));
    assert.match(runCli(["stats", "--pin", pin]).stdout, /prog_array\[1\]: 4 calls, 2 misses/);

    // graph --stats draws the same counts: runs in the boxes, calls on the arrows, the misses of
    // the emptied slot 1 as a red arrow into a fall-through box (read back with an XML parser).
    const g = runCli(["graph", file, "--stats", "--format", "svg"]);
    assert.equal(g.status, 0, g.stderr);
    const { nodes, edges } = readSvgGraph(g.stdout);
    const box = (name: string) => nodes.find((n) => n.texts[0] === name);
    assert.deepEqual(box("port8080_prog")?.texts, ["port8080_prog", "xdp", `${N} runs · XDP_PASS ${N}`]);
    assert.deepEqual(box("port22_prog")?.texts.at(-1), `${M} runs · XDP_PASS ${M}`);
    assert.match(box("main_prog")?.texts.at(-1) ?? "", /^\d+ runs · XDP_PASS \d+$/);
    const titleOf = new Map(nodes.map((n) => [n.title, n.texts[0]]));
    const arrow = (to: string) => edges.find((e) => titleOf.get(e.to) === to);
    assert.deepEqual(arrow("port8080_prog")?.texts, ["prog_array[0]", "tail_call.bpf.c:52", `${N} calls`]);
    assert.deepEqual(arrow("port22_prog")?.texts, ["prog_array[1]", "tail_call.bpf.c:52", `${M} calls`]);
    const fell = edges.filter((e) => e.classes.includes("empty"));
    assert.deepEqual(
      fell.map((e) => e.texts),
      [["prog_array[1]", "tail_call.bpf.c:52", `${M} misses`]],
    );
    assert.equal(fell[0]?.stroke, "#c62828");
  } finally {
    runCli(["down", file]);
    rmSync(pin, { recursive: true, force: true });
    rmSync(dir, { recursive: true, force: true });
    net.remove();
  }
});
