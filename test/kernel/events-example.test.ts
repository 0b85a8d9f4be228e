/**
 * examples/port-events end to end: the dispatcher whose stages report through a ring buffer.
 * On the kernel (root), its TypeScript loader and `tsbpf attach port-events.yaml` are attached to
 * one end of a veth pair in a test-made namespace, real TCP SYNs go to ports 8080, 22 and 9999
 * from the other end, and exactly the two handled ports' events are printed, decoded; nothing is
 * left attached after Ctrl+C. On the VM (no root), `tsbpf run port-events.yaml --pcap` prints the
 * same events for the same packets, and bad --events input gives one `tsbpf:` line.
 */
import assert from "node:assert/strict";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { test } from "node:test";
import { buildPacket, eth, ipv4, tcp } from "../../src/net/index.js";
import { writePcap } from "../../src/net/pcap.js";
import { runCli, spawnCli } from "../support/cli.js";
import { cliArgv, createVethNs, sendSyn, startProcess, xdpProgIds } from "./attach-support.js";
import { hasCommand, kernelSkipReason } from "./support.js";

const LOADER = resolve("dist/examples/port-events/loader.js");
const YAML = "examples/port-events/port-events.yaml";
const skip =
  kernelSkipReason() ??
  (hasCommand("ip") && hasCommand("nsenter") ? undefined : "needs ip (iproute2) and nsenter");
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** `port P: A:S -> B:D (N bytes)` lines of the loader, as [stage, dport]. */
function loaderEvents(out: string): [number, number][] {
  return out
    .split("\n")
    .map((l) => /^port (\d+): [\d.]+:\d+ -> [\d.]+:(\d+) \(\d+ bytes\)$/.exec(l))
    .filter((m) => m !== null)
    .map((m) => [Number(m[1]), Number(m[2])]);
}

test("the port-events loader prints one decoded event per handled packet and cleans up on SIGINT", {
  skip,
}, async () => {
  const net = createVethNs("e");
  try {
    const p = startProcess([process.execPath, LOADER, net.peerIf], ["nsenter", `--net=/run/netns/${net.ns}`]);
    try {
      await p.waitFor(/Press Ctrl\+C to exit/);
      assert.deepEqual(xdpProgIds(net.peerIf, net.ns).length, 1, "the dispatcher is attached");
      for (const port of [8080, 22, 9999]) sendSyn(undefined, net.peerIp, port);
      await sleep(500);
      p.child.kill("SIGINT");
      assert.equal(await p.exited, 0, p.stderr());
    } finally {
      p.child.kill("SIGKILL");
    }
    const got = loaderEvents(p.stdout());
    // A SYN may be retransmitted, never to a port without a stage.
    assert.ok(got.length >= 2, p.stdout());
    assert.deepEqual(
      [...new Set(got.map(([stage, dport]) => `${stage}/${dport}`))].sort(),
      ["22/22", "8080/8080"],
      p.stdout(),
    );
    assert.match(
      p.stdout(),
      new RegExp(
        `port 8080: ${net.hostIp.replace(/\./g, "\\.")}:\\d+ -> ${net.peerIp.replace(/\./g, "\\.")}:8080`,
      ),
    );
    assert.deepEqual(xdpProgIds(net.peerIf, net.ns), [], "no XDP program left on the interface");
  } finally {
    net.remove();
  }
});

test("tsbpf attach port-events.yaml prints the events: key's records as JSON", { skip }, async () => {
  const net = createVethNs("f");
  try {
    const p = startProcess(cliArgv(["attach", YAML, "--iface", net.peerIf, "--netns", net.ns]));
    try {
      await p.waitFor(/printing events of events/);
      for (const port of [22, 9999, 8080]) sendSyn(undefined, net.peerIp, port);
      await sleep(500);
      p.child.kill("SIGINT");
      assert.equal(await p.exited, 0, p.stderr());
    } finally {
      p.child.kill("SIGKILL");
    }
    const records = p
      .stdout()
      .split("\n")
      .filter((l) => l.startsWith("event events: "))
      .map(
        (l) => JSON.parse(l.slice("event events: ".length)) as { stage: number; dport: number; len: number },
      );
    assert.deepEqual([...new Set(records.map((r) => r.stage))].sort(), [22, 8080], p.stdout());
    assert.ok(records.every((r) => r.stage === r.dport && r.len >= 54));
    assert.deepEqual(xdpProgIds(net.peerIf, net.ns), []);
  } finally {
    net.remove();
  }
});

test("run port-events.yaml on the VM prints the events each packet produced", async () => {
  const dir = mkdtempSync(join(tmpdir(), "tsbpf-events-"));
  try {
    const syn = (dport: number) =>
      buildPacket([
        eth({}),
        ipv4({ src: "10.0.0.1", dst: "10.0.0.2" }),
        tcp({ sport: 40000, dport, flags: "S" }),
      ]);
    const pcap = join(dir, "in.pcap");
    writeFileSync(pcap, writePcap([syn(8080), syn(9999), syn(22)]));
    const r = await runCli([
      "run",
      YAML,
      "--pcap",
      pcap,
      "--events",
      "events",
      "--type",
      "port_event",
      "--json",
    ]);
    assert.equal(r.code, 0, r.stderr);
    const lines = r.stdout
      .trim()
      .split("\n")
      .map((l) => JSON.parse(l) as Record<string, unknown>);
    const shape = lines.map((l) =>
      "packet" in l
        ? `packet ${l.packet}`
        : `event ${(l.event as { record: { stage: number } }).record.stage}`,
    );
    assert.deepEqual(shape, ["packet 1", "event 8080", "packet 2", "packet 3", "event 22"]);
    const first = (lines[1]?.event as { record: Record<string, number> } | undefined)?.record;
    assert.deepEqual(first, {
      saddr: 0x0100000a,
      daddr: 0x0200000a,
      sport: 40000,
      dport: 8080,
      stage: 8080,
      len: 54,
    });
    // Without --events, the pipeline file's events: key (the struct it names).
    const fromFile = await runCli(["run", YAML, "--pcap", pcap]);
    assert.match(fromFile.stdout, /^ {2}event events: \{"saddr":16777226,.*"stage":8080,"len":54\}$/m);
    // Raw bytes without --type.
    const raw = await runCli(["run", YAML, "--pcap", pcap, "--events", "events"]);
    assert.match(raw.stdout, /^ {2}event events: 0a0000010a000002409c901f901f3600$/m);
    // Mistakes: one tsbpf: line each.
    for (const [args, why] of [
      [["--events", "nope"], /no map 'nope'.*its event maps: events/],
      [["--events", "prog_array"], /prog_array map: events come from a ringbuf or perf_event_array/],
      [["--events", "events", "--type", "struct nope"], /no struct or union 'struct nope'/],
      [["--type", "port_event"], /--type goes with --events MAP/],
    ] as const) {
      const bad = spawnCli(["run", YAML, "--pcap", pcap, ...args]);
      assert.notEqual(bad.code, 0, bad.stderr);
      assert.match(bad.stderr, why);
      assert.equal(bad.stderr.trim().split("\n").length, 1, bad.stderr);
      assert.match(bad.stderr, /^tsbpf: /);
    }
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
