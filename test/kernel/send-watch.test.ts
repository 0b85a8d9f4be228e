/**
 * `tsbpf send` at its speed (one repeated packet, a capture of distinct ones), `tsbpf up --watch`
 * applying each change of its file (and keeping or taking down the pipeline on SIGTERM), and what
 * a new user gets wrong: swap into a slot that is not there, of a program that is not XDP, send
 * without an interface or to one that does not exist, stats in the wrong namespace, not root.
 */
import assert from "node:assert/strict";
import { execFileSync } from "node:child_process";
import { copyFileSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { test } from "node:test";
import { buildPacket } from "../../src/net/build.js";
import { writePcap } from "../../src/net/pcap.js";
import { downPipeline, pipelineStatus } from "../../src/pipeline/deploy.js";
import { AS_NOBODY, createVethNs, liveFramesRefusal, runCli, startCli } from "./attach-support.js";
import { ensureBpffs, hasCommand, kernelSkipReason } from "./support.js";

const OBJ = resolve("test/bpf/upgrade/versioned.bpf.o");
const BROKEN = resolve("test/bpf/upgrade/broken_stage.bpf.o");
const skip =
  kernelSkipReason() ??
  (hasCommand("ip") && hasCommand("bpftool") && ensureBpffs() ? undefined : "needs ip, bpftool and a bpffs");
/** Why send cannot transmit here (the kernel refuses live frames), or undefined. */
const liveRefused = skip === undefined ? await liveFramesRefusal() : undefined;

/** Waits until `re` matches the child's stdout `n` times. */
async function waitCount(
  child: ReturnType<typeof startCli>,
  re: RegExp,
  n: number,
  ms = 20_000,
): Promise<void> {
  const until = Date.now() + ms;
  while ((child.stdout().match(re) ?? []).length < n) {
    if (Date.now() > until) assert.fail(`waited for ${n} × ${re}: ${child.stdout()}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

/** The interface's transmit drops (veth counts frames its peer's full XDP ring refused there). */
function txDropped(iface: string): bigint {
  const [link] = JSON.parse(execFileSync("ip", ["-j", "-s", "link", "show", "dev", iface]).toString()) as {
    stats64?: { tx?: { dropped?: number } };
  }[];
  return BigInt(link?.stats64?.tx?.dropped ?? 0);
}

function counted(pin: string): bigint {
  const out = JSON.parse(
    execFileSync("bpftool", ["-j", "map", "dump", "pinned", `${pin}/main/maps/counters`]).toString(),
  ) as { formatted?: { key: number; value: number } }[];
  let n = 0n;
  for (const { formatted: e } of out) if (e !== undefined && e.key < 2) n += BigInt(e.value);
  return n;
}

test("send, up --watch and the mistakes a new user makes", { skip, timeout: 180_000 }, async (t) => {
  const net = createVethNs("w");
  const name = `watch-test-${process.pid}`;
  const pin = `/sys/fs/bpf/tsbpf/${name}`;
  const dir = mkdtempSync(join(tmpdir(), "tsbpf-watch-"));
  const file = join(dir, `${name}.yaml`);
  const write = (version: number, object = OBJ, state = "[counters]"): void =>
    writeFileSync(
      file,
      `name: ${name}\nobject: ${object}\nentry: entry\nslots:\n  stages: {0: stage_a, 1: stage_b}\nglobals: {version: ${version}}\nattach: {iface: ${net.peerIf}, netns: ${net.ns}}\nstate: ${state}\n`,
    );
  let watcher: ReturnType<typeof startCli> | undefined;
  try {
    write(1);
    watcher = startCli(["up", file, "--watch"]);
    await watcher.waitFor(/^watching /m, 20_000);
    assert.match(watcher.stdout(), /^up: /m);

    // send's part needs the kernel's live-frames mode, which some kernels refuse to root.
    if (liveRefused !== undefined) t.diagnostic(`send's part skipped: ${liveRefused}`);
    else {
      // One repeated packet, as fast as it goes: every frame reaches the pipeline and is counted,
      // except those veth refuses when the peer's XDP ring is full (its tx_dropped says how many).
      const dropped0 = txDropped(net.hostIf);
      const one = runCli([
        "send",
        "--iface",
        net.hostIf,
        "--packet",
        "udp:dport=9",
        "--count",
        "10000000",
        "--json",
      ]);
      assert.equal(one.status, 0, one.stderr);
      const r = JSON.parse(one.stdout) as { sent: number; refused: number; packetsPerSecond: number };
      console.log(
        `# send: one 42-byte packet, ${r.sent} frames at ${(r.packetsPerSecond / 1e6).toFixed(2)} M packets/s`,
      );
      assert.equal(r.sent, 10_000_000);
      assert.ok(r.packetsPerSecond >= 5e6, `${r.packetsPerSecond} packets/s`);
      // send reports the frames the veth refused (its tx_dropped while sending): with those, every
      // frame sent is counted. Up to a ring's worth (256) may still be on their way through the
      // peer's NAPI poll.
      const dropped = txDropped(net.hostIf) - dropped0;
      assert.ok(
        BigInt(r.refused) <= dropped,
        `send reports ${r.refused} refused, the veth counted ${dropped}`,
      );
      const refused = BigInt(r.refused);
      let reached = counted(pin);
      for (let i = 0; i < 40 && reached + refused < 10_000_000n; i++) {
        await new Promise((r) => setTimeout(r, 50));
        reached = counted(pin);
      }
      console.log(`# send: ${reached} counted by the pipeline, ${refused} refused by the veth (ring full)`);
      assert.ok(reached + refused >= 10_000_000n, `${reached} counted + ${refused} refused < 10000000 sent`);
      assert.ok(reached >= 5_000_000n, `only ${reached} of 10000000 frames reached the pipeline`);

      // A capture of distinct packets, in turn, with a rate.
      const caps = Array.from({ length: 1000 }, (_, i) =>
        buildPacket([
          { kind: "eth" },
          { kind: "ipv4", src: "10.9.0.1", dst: "10.9.0.2" },
          { kind: "udp", dport: 1000 + i },
        ]),
      );
      const pcap = join(dir, "distinct.pcap");
      writeFileSync(pcap, writePcap(caps));
      const before = counted(pin);
      const many = runCli(["send", "--iface", net.hostIf, "--pcap", pcap, "--count", "20000"]);
      assert.equal(many.status, 0, many.stderr);
      assert.match(
        many.stdout,
        /^sent 20000 frames \(1000 packets in turn\) out of \S+ in [\d.]+ s: [\d.]+ M packets\/s$/m,
      );
      console.log(`# send: ${many.stdout.trim()}`);
      // The host's own traffic on the veth (IPv6 neighbour discovery) may add a few frames.
      const got = counted(pin) - before;
      assert.ok(got >= 20_000n && got <= 20_050n, `${got} counted`);
      const slow = runCli([
        "send",
        "--iface",
        net.hostIf,
        "--packet",
        "udp:dport=9",
        "--rate",
        "1000",
        "--duration",
        "0.5",
        "--json",
      ]);
      assert.equal(slow.status, 0, slow.stderr);
      const s = JSON.parse(slow.stdout) as { sent: number };
      assert.ok(s.sent >= 400 && s.sent <= 600, `--rate 1000 for 0.5 s sent ${s.sent}`);
    }

    // --watch: a change is an upgrade; a broken change is reported and the running version stays.
    write(2);
    await watcher.waitFor(/^upgraded: /m, 20_000);
    assert.match(watcher.stdout(), /^state: counters carried over from the previous version$/m);
    write(1, BROKEN);
    await watcher.waitFor(/the running version stays up/, 20_000);
    assert.match(watcher.stderr(), /^tsbpf: .*(verif|permission|invalid)/im);
    assert.equal((await pipelineStatus(pin)).running, true);
    // The object files are watched too: a copy the file names, then rebuilt broken, then rebuilt again.
    const copy = join(dir, "stages.bpf.o");
    copyFileSync(OBJ, copy);
    write(3, copy);
    await waitCount(watcher, /^upgraded: /gm, 2);
    const seen = watcher.stdout().length;
    copyFileSync(BROKEN, copy);
    await waitCount(watcher, /the running version stays up/g, 2);
    assert.match(watcher.stdout().slice(seen), new RegExp(`: ${copy} changed$`, "m"));
    assert.equal((await pipelineStatus(pin)).running, true);
    // Rebuilt as it was: the version running is that one, so nothing changes.
    copyFileSync(OBJ, copy);
    await waitCount(watcher, /is already up under .* with the same content .*: nothing changed$/gm, 1);
    assert.equal((watcher.stdout().match(new RegExp(`: ${copy} changed$`, "gm")) ?? []).length, 2);
    watcher.child.kill("SIGTERM");
    assert.equal(await watcher.exited, 0, watcher.stderr());
    assert.match(watcher.stdout(), /exiting; the pipeline stays up under /);
    assert.equal((await pipelineStatus(pin)).running, true);

    // A state map the running version does not have starts fresh, and says so.
    write(1, OBJ, "[counters, stages]");
    const fresh = runCli(["up", file]);
    assert.equal(fresh.status, 0, fresh.stderr);
    assert.match(fresh.stdout, /^state: counters carried over/m);
    assert.match(fresh.stdout, /^state: stages carried over/m);
    write(1, OBJ, "[nosuch]");
    const typo = runCli(["up", file]);
    assert.equal(typo.status, 1);
    assert.match(typo.stderr, /^tsbpf: \S+: state\.0: main has no map nosuch — hint: its maps: /);

    // Mistakes.
    const bad: [string[], RegExp][] = [
      [["swap", file, "stages:7=stage_a"], /stages\[7\]: the prog array has 2 slots/],
      [["swap", file, "stagez:0=stage_a"], /has no prog array stagez/],
      [["swap", file, "stages:0=nosuch"], /has no programs nosuch/],
      [
        ["swap", file, `stages:0=${resolve("test/bpf/fixtures/sections.bpf.o")}:tc_prog`],
        /tc_prog is a \S+ program; stages of pipeline \S+ holds XDP programs/,
      ],
      [["swap", file, "stages-0=stage_a"], /is not MAP:KEY=\[OBJFILE:\]PROG/],
      [["send", "--packet", "udp"], /missing --iface/],
      [["send", "--iface", "tsbpf-nosuch0", "--packet", "udp", "--count", "1"], /no interface tsbpf-nosuch0/],
      [["send", "--iface", net.hostIf, "--packet", "udp"], /--count N or --duration S/],
      [["stats", file, "--netns", "tsbpf-nosuch-ns"], /.+/],
      [["up", file, "--down-on-exit"], /--down-on-exit goes with --watch/],
    ];
    for (const [args, re] of bad) {
      const x = runCli(args);
      assert.notEqual(x.status, 0, args.join(" "));
      assert.match(x.stderr, /^tsbpf: [^\n]*\n$/, `${args.join(" ")}: one line`);
      assert.match(x.stderr, re, args.join(" "));
    }
    const nobody = runCli(["send", "--iface", net.hostIf, "--packet", "udp", "--count", "1"], [...AS_NOBODY]);
    assert.equal(nobody.status, 1);
    assert.match(nobody.stderr, /^tsbpf: [^\n]*(EPERM|root|CAP_)/);

    // --down-on-exit takes it down on SIGTERM.
    write(1);
    watcher = startCli(["up", file, "--watch", "--down-on-exit"]);
    await watcher.waitFor(/^watching /m, 20_000);
    watcher.child.kill("SIGTERM");
    assert.equal(await watcher.exited, 0, watcher.stderr());
    assert.match(watcher.stdout(), /^detached /m);
    await assert.rejects(pipelineStatus(pin), /no pinned pipeline/);
  } finally {
    watcher?.child.kill("SIGKILL");
    await downPipeline(pin).catch(() => undefined);
    net.remove();
    rmSync(dir, { recursive: true, force: true });
  }
});

test("send reports the frames the peer refused (ring full or over its MTU): counted + refused = sent", {
  skip: skip ?? liveRefused,
  timeout: 60_000,
}, async () => {
  const net = createVethNs("r");
  const name = `send-refused-${process.pid}`;
  const pin = `/sys/fs/bpf/tsbpf/${name}`;
  const dir = mkdtempSync(join(tmpdir(), "tsbpf-refused-"));
  const file = join(dir, `${name}.yaml`);
  try {
    writeFileSync(
      file,
      `name: ${name}\nobject: ${OBJ}\nentry: entry\nslots:\n  stages: {0: stage_a, 1: stage_b}\nglobals: {version: 1}\nattach: {iface: ${net.peerIf}, netns: ${net.ns}}\n`,
    );
    const up = runCli(["up", file]);
    assert.equal(up.status, 0, up.stderr);
    // The peer takes frames of at most its MTU (200) + Ethernet and VLAN headers, and refuses the
    // rest as it refuses frames its full ring has no room for: both count in the sender's
    // tx_dropped (drivers/net/veth.c). Its NAPI in a thread of its own, the sender may also
    // outrun the ring: how many that refuses is the machine's business, the sum is not.
    execFileSync("ip", [
      "netns",
      "exec",
      net.ns,
      "sh",
      "-c",
      `echo 1 > /sys/class/net/${net.peerIf}/threaded`,
    ]);
    execFileSync("ip", ["-n", net.ns, "link", "set", net.peerIf, "mtu", "200"]);
    const line = (n: number, what: string) =>
      new RegExp(
        `^sent ${n} frames \\(${what}\\) out of ${net.hostIf} in [\\d.]+ s: [\\d.]+ M packets/s(?:; (\\d+) of them refused by the peer \\(its XDP ring was full, or the frame is over its MTU: ${net.hostIf}'s tx_dropped\\))?$`,
        "m",
      );
    /** Counted by the pipeline since `before`, once what is on its way has arrived. */
    const reachedSince = async (before: bigint, refused: bigint, sent: bigint): Promise<bigint> => {
      let reached = counted(pin) - before;
      for (let i = 0; i < 40 && reached + refused < sent; i++) {
        await new Promise((res) => setTimeout(res, 50));
        reached = counted(pin) - before;
      }
      return reached;
    };
    // The host's own traffic on the veth (IPv6 neighbour discovery) may add a few frames.
    const NOISE = 50n;

    // Small frames, repeated, as fast as they go.
    let before = counted(pin);
    let dropped0 = txDropped(net.hostIf);
    const r = runCli(["send", "--iface", net.hostIf, "--packet", "udp:dport=9", "--count", "200000"]);
    assert.equal(r.status, 0, r.stderr);
    console.log(`# send: ${r.stdout.trim()}`);
    const m = line(200000, "one 42-byte packet, repeated").exec(r.stdout);
    assert.ok(m, r.stdout);
    const refused = BigInt(m[1] ?? "0");
    assert.ok(refused <= txDropped(net.hostIf) - dropped0, `${refused} refused`);
    let reached = await reachedSince(before, refused, 200_000n);
    assert.ok(
      reached + refused >= 200_000n && reached + refused <= 200_000n + NOISE,
      `${reached} counted + ${refused} refused, 200000 sent`,
    );

    // Frames over the peer's MTU: every one refused, none counted.
    before = counted(pin);
    dropped0 = txDropped(net.hostIf);
    const big = runCli([
      "send",
      "--iface",
      net.hostIf,
      "--packet",
      "udp:dport=9/payload:size=400",
      "--count",
      "50000",
      "--json",
    ]);
    assert.equal(big.status, 0, big.stderr);
    const out = JSON.parse(big.stdout) as { sent: number; refused: number };
    assert.deepEqual([out.sent, out.refused], [50_000, 50_000], big.stdout);
    assert.equal(txDropped(net.hostIf) - dropped0, 50_000n);
    assert.ok(counted(pin) - before <= NOISE, `${counted(pin) - before} counted of frames the peer refused`);

    // A capture of a small and a big frame in turn: half refused, half counted, in one send.
    const pcap = join(dir, "mixed.pcap");
    const udp9 = (size: number) =>
      buildPacket([
        { kind: "eth" },
        { kind: "ipv4", src: "10.9.0.1", dst: "10.9.0.2" },
        { kind: "udp", dport: 9 },
        { kind: "payload", bytes: new Uint8Array(size) },
      ]);
    writeFileSync(pcap, writePcap([udp9(10), udp9(400)]));
    before = counted(pin);
    const mixed = runCli(["send", "--iface", net.hostIf, "--pcap", pcap, "--count", "2000"]);
    assert.equal(mixed.status, 0, mixed.stderr);
    const mm = line(2000, "2 packets in turn").exec(mixed.stdout);
    assert.ok(mm, mixed.stdout);
    const mixedRefused = BigInt(mm[1] ?? "0");
    assert.ok(mixedRefused >= 1000n, `${mixedRefused} refused of 1000 big frames`);
    reached = await reachedSince(before, mixedRefused, 2000n);
    assert.ok(
      reached + mixedRefused >= 2000n && reached + mixedRefused <= 2000n + NOISE,
      `${reached} counted + ${mixedRefused} refused, 2000 sent`,
    );
  } finally {
    runCli(["down", file]);
    await downPipeline(pin).catch(() => undefined);
    net.remove();
    rmSync(dir, { recursive: true, force: true });
  }
});
