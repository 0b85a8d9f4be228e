import assert from "node:assert/strict";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { test } from "node:test";
import { buildPacket, eth, ipv4, tcp, udp, writePcap } from "../../src/net/index.js";
import { runCli } from "../support/cli.js";

// run --pcap --summary (issue 14): a capture replayed as one batch, counted per verdict and per
// stage that gave it, on both tiers; the same counts as the per-packet output.

const SEED = "examples/tail-call/seed.yaml";

const tcpTo = (dport: number) =>
  buildPacket([
    eth({}),
    ipv4({ src: "10.0.0.1", dst: "10.0.0.2" }),
    tcp({ sport: 40000, dport, flags: "S" }),
  ]);
const udp53 = buildPacket([
  eth({}),
  ipv4({ src: "10.0.0.1", dst: "10.0.0.2" }),
  udp({ sport: 1, dport: 53 }),
]);

test("run --summary counts verdicts and the stage that gave each, on every tier, text and JSON", async () => {
  const dir = mkdtempSync(join(tmpdir(), "tsbpf-summary-"));
  try {
    const pcap = join(dir, "in.pcap");
    writeFileSync(pcap, writePcap([tcpTo(8080), tcpTo(22), tcpTo(8080), udp53, tcpTo(443)]));
    // compiled, the default engine, is the wasm tier here: the tier that ran is printed.
    const ran: Record<string, string> = {
      compiled: "wasm",
      wasm: "wasm",
      js: "js",
      interpreter: "interpreter",
    };
    for (const tier of ["compiled", "wasm", "js", "interpreter"]) {
      const r = await runCli(["run", SEED, "--pcap", pcap, "--summary", "--tier", tier]);
      assert.equal(r.code, 0, r.stderr);
      assert.match(r.stdout, new RegExp(`^packets: 5 \\(VM, ${ran[tier]} tier; \\d+ ns per packet\\)\\n`));
      assert.match(r.stdout, /\nverdicts:\n {2}XDP_PASS \(2\): 5\n/);
      assert.match(
        r.stdout,
        /\nverdict given by:\n {2}main_prog: 2\n {2}port8080_prog: 2\n {2}port22_prog: 1\n/,
      );
      assert.doesNotMatch(r.stdout, /packet 1:/, "no per-packet blocks");
      const j = await runCli(["run", SEED, "--pcap", pcap, "--summary", "--json", "--tier", tier]);
      assert.equal(j.code, 0, j.stderr);
      const lines = j.stdout.trim().split("\n");
      assert.equal(lines.length, 1);
      const s = (JSON.parse(lines[0] as string) as { summary: Record<string, unknown> }).summary;
      assert.deepEqual(s.verdicts, { XDP_PASS: 5 });
      assert.deepEqual(s.stages, { main_prog: 2, port8080_prog: 2, port22_prog: 1 });
      assert.equal(s.packets, 5);
      assert.equal(s.faults, 0);
      assert.equal(s.tier, ran[tier]);
    }
    // A misspelt tier: one line naming the four.
    const typo = await runCli(["run", SEED, "--pcap", pcap, "--tier", "wsam"]);
    assert.notEqual(typo.code, 0);
    assert.match(typo.stderr, /^tsbpf: run: --tier is compiled, wasm, js or interpreter, not 'wsam'\n/);
    // The per-packet output agrees.
    const each = await runCli(["run", SEED, "--pcap", pcap]);
    assert.equal(each.stdout.match(/chain: {4}main_prog -> port8080_prog/g)?.length, 2);
    assert.equal(each.stdout.match(/chain: {4}main_prog -> port22_prog/g)?.length, 1);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test("run --summary refuses --repeat and --data-out with one line", async () => {
  const dir = mkdtempSync(join(tmpdir(), "tsbpf-summary-"));
  try {
    const pcap = join(dir, "in.pcap");
    writeFileSync(pcap, writePcap([tcpTo(22)]));
    for (const extra of [
      ["--repeat", "3"],
      ["--data-out", join(dir, "out.pcap")],
    ]) {
      const r = await runCli(["run", SEED, "--pcap", pcap, "--summary", ...extra]);
      assert.equal(r.code, 2, r.stderr);
      assert.match(
        r.stderr,
        /^tsbpf: run: --summary counts each packet's one run; it does not go with --repeat or --data-out\n/,
      );
    }
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
