/**
 * `tsbpf attach` and `tsbpf detach` as a user runs them: a child process attached to one end of a
 * veth pair whose other end is in a network namespace of this test, real TCP SYNs sent across,
 * the trace lines it prints, and what is left in the kernel afterwards (ip link, bpftool).
 */
import assert from "node:assert/strict";
import { execFileSync, spawnSync } from "node:child_process";
import { existsSync, rmSync } from "node:fs";
import { resolve } from "node:path";
import { test } from "node:test";
import { attachCommand } from "../../src/cli/attach.js";
import { detachCommand } from "../../src/cli/detach.js";
import type { CliIo } from "../../src/cli/io.js";
import { ensureTracefs } from "../../src/kernel/mounts.js";
import { TracePipeReader } from "../../src/trace/trace-pipe.js";
import {
  createVethNs,
  loadedProgramIds,
  runCli,
  sendSyn,
  startCli,
  traceLock,
  xdpProgIds,
  AS_NOBODY,
} from "./attach-support.js";
import { ensureBpffs, hasCommand, kernelSkipReason } from "./support.js";

const SEED = resolve("examples/tail-call/tail_call.bpf.o");
const TAILS = ["--tail", "prog_array:0=port8080_prog", "--tail", "prog_array:1=port22_prog"];
const skip =
  kernelSkipReason() ??
  (hasCommand("ip") && hasCommand("nsenter") && hasCommand("bpftool") && hasCommand("flock") && ensureBpffs()
    ? undefined
    : "needs ip (iproute2), nsenter, bpftool, flock and a bpffs at /sys/fs/bpf");
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
// nsenter switches only the network namespace; `ip netns exec` would also remount /sys (and hide bpffs).
const inNs = (ns: string) => ["nsenter", `--net=/run/netns/${ns}`];
const TRACE_LINE = /^(\d+\.\d{6}) (.+)-(\d+) \[(\d{3})\] (.*)$/;

/** The ids of the programs of the collection behind XDP program `mainId` (all share its maps). */
function collectionProgramIds(mainId: number): number[] {
  const all = loadedProgramIds() as { id: number; map_ids?: number[] }[];
  const maps = new Set(all.find((p) => p.id === mainId)?.map_ids ?? []);
  return all.filter((p) => (p.map_ids ?? []).some((m) => maps.has(m))).map((p) => p.id);
}

/**
 * The trace messages our own traffic caused. trace_pipe is global and other tests on this machine
 * may run the same seed object through BPF_PROG_TEST_RUN (in their own processes), so lines are
 * attributed by task: XDP runs in softirq context on the sending task, on ksoftirqd, or on the
 * idle task, never on an unrelated user process.
 */
function traceMessages(stdout: string, senders: readonly number[]): string[] {
  return stdout
    .split("\n")
    .map((l) => TRACE_LINE.exec(l))
    .filter((m) => m !== null)
    .filter((m) => senders.includes(Number(m[3])) || m[3] === "0" || (m[2] ?? "").startsWith("ksoftirqd/"))
    .map((m) => m[5] as string);
}

test("attach wires the seed, prints exactly its two messages, and leaves nothing behind", {
  skip,
}, async () => {
  const unlock = await traceLock();
  const net = createVethNs("b");
  try {
    // Attached inside the test's namespace, where nothing listens: each SYN is one packet.
    const p = startCli(
      ["attach", SEED, "--prog", "main_prog", "--iface", net.peerIf, ...TAILS],
      inNs(net.ns),
    );
    await p.waitFor(/printing trace lines/);
    const [mainId] = xdpProgIds(net.peerIf, net.ns);
    assert.ok(mainId, "an XDP program is attached");
    const ours = collectionProgramIds(mainId);
    assert.equal(ours.length, 3, "main_prog and the two port programs are loaded");
    const senders = [8080, 22, 9999].map((port) => sendSyn(undefined, net.peerIp, port));
    await sleep(800);
    p.child.kill("SIGINT");
    assert.equal(await p.exited, 0, p.stderr());
    const out = p.stdout();
    const first = out.split("\n")[0] ?? "";
    assert.match(
      first,
      new RegExp(
        `^attached main_prog to ${net.peerIf} \\(ifindex \\d+, mode native\\); slots: prog_array\\[0\\]=port8080_prog, prog_array\\[1\\]=port22_prog$`,
      ),
    );
    assert.deepEqual(
      traceMessages(out, senders),
      ["Packet to port 8080 processed", "Packet to port 22 processed"],
      out,
    );
    assert.match(p.stderr(), /nothing is pinned, so the pipeline ends when this command exits/);
    assert.match(out, new RegExp(`detached main_prog from ${net.peerIf}`));
    assert.deepEqual(xdpProgIds(net.peerIf, net.ns), [], "no XDP program left on the interface");
    const left = new Set(loadedProgramIds().map((x) => x.id));
    assert.deepEqual(
      ours.filter((id) => left.has(id)),
      [],
      "none of the attach command's programs is still loaded",
    );
  } finally {
    net.remove();
    await unlock();
  }
});

test("with --pin the pipeline outlives the command, and detach --pin removes it", { skip }, async () => {
  const unlock = await traceLock();
  const net = createVethNs("c");
  const dir = `/sys/fs/bpf/tsbpf-att-${process.pid}`;
  try {
    const p = startCli(
      ["attach", SEED, "--prog", "main_prog", "--iface", net.peerIf, ...TAILS, "--pin", dir],
      inNs(net.ns),
    );
    await p.waitFor(/printing trace lines/);
    assert.doesNotMatch(p.stderr(), /nothing is pinned/);
    const [mainId] = xdpProgIds(net.peerIf, net.ns);
    assert.ok(mainId);
    const ours = collectionProgramIds(mainId);
    p.child.kill("SIGINT");
    assert.equal(await p.exited, 0, p.stderr());
    assert.match(p.stdout(), /left the pipeline pinned under/);
    assert.deepEqual(xdpProgIds(net.peerIf, net.ns), [mainId], "still attached after the command exited");
    for (const f of [
      "link",
      "meta",
      "main/maps/prog_array",
      "main/progs/main_prog",
      "main/progs/port8080_prog",
      "main/progs/port22_prog",
    ])
      assert.ok(existsSync(`${dir}/${f}`), f);

    // The pinned prog array still holds its slots: a SYN to 8080 still reaches port8080_prog.
    const stop = new AbortController();
    const seen: string[] = [];
    const reading = (async () => {
      for await (const l of new TracePipeReader({ dir: ensureTracefs(), signal: stop.signal }))
        seen.push(l.message);
    })();
    await sleep(100);
    sendSyn(undefined, net.peerIp, 8080);
    await sleep(600);
    stop.abort();
    await reading;
    assert.ok(seen.includes("Packet to port 8080 processed"), seen.join(" | "));

    const d = runCli(["detach", "--pin", dir]);
    assert.equal(d.status, 0, d.stderr);
    assert.match(
      d.stdout,
      new RegExp(
        `^detached tail_call\\.bpf\\.o from ${net.peerIf} \\(ifindex \\d+\\), and removed 7 pins and ${dir}\n$`,
      ),
    );
    assert.deepEqual(xdpProgIds(net.peerIf, net.ns), []);
    assert.equal(existsSync(dir), false);
    const left = new Set(loadedProgramIds().map((x) => x.id));
    assert.deepEqual(
      ours.filter((id) => left.has(id)),
      [],
    );
    // Nothing pinned there any more: detach says so in one line.
    const again = runCli(["detach", "--pin", dir]);
    assert.equal(again.status, 2);
    assert.match(again.stderr, /^tsbpf: no pinned pipeline at .*: no such directory\n$/);
  } finally {
    if (existsSync(`${dir}/link`)) runCli(["detach", "--pin", dir]);
    rmSync(dir, { recursive: true, force: true });
    net.remove();
    await unlock();
  }
});

test("a verifier rejection is one tsbpf: line naming the C line; --verbose adds the log", {
  skip: kernelSkipReason(),
}, () => {
  const obj = resolve("test/bpf/kernel/broken.bpf.o");
  const r = runCli(["attach", obj, "--prog", "unchecked_read", "--iface", "lo"]);
  assert.equal(r.status, 1);
  assert.equal(r.stdout, "");
  const lines = r.stderr.trimEnd().split("\n");
  assert.equal(lines.length, 1, r.stderr);
  assert.match(
    lines[0] ?? "",
    /^tsbpf: program unchecked_read: the verifier rejected it at instruction 1 \(broken\.bpf\.c:20: if \(iph->protocol == 6\).*\): .*packet.* — hint: check `data \+ N > data_end`/,
  );
  const v = runCli(["attach", obj, "--prog", "unchecked_read", "--iface", "lo", "--verbose"]);
  assert.equal(v.status, 1);
  assert.match(v.stderr, /--- verifier log ---\n/);
  assert.match(v.stderr, /invalid access to packet, off=23 size=1/);
  assert.match(v.stderr, /processed \d+ insns/);
});

test("without privileges attach fails with one line naming the missing capabilities", {
  skip:
    kernelSkipReason() ??
    (hasCommand("setpriv") ? undefined : "needs setpriv (util-linux) to drop privileges"),
}, () => {
  const r = runCli(["attach", SEED, "--prog", "main_prog", "--iface", "lo", ...TAILS], [...AS_NOBODY]);
  assert.equal(r.status, 1, r.stderr);
  const lines = r.stderr.trimEnd().split("\n");
  assert.equal(lines.length, 1, r.stderr);
  assert.match(
    lines[0] ?? "",
    /^tsbpf: .*EPERM.* — hint: needs root, or CAP_BPF with CAP_NET_ADMIN and CAP_PERFMON; this process lacks CAP_BPF, CAP_NET_ADMIN, CAP_PERFMON/,
  );
});

function io(): CliIo & { out: string[] } {
  const out: string[] = [];
  return {
    out,
    stdout: (t) => out.push(t),
    stderr: (t) => out.push(t),
    readStdin: async () => "",
    cwd: process.cwd(),
  };
}

test("attach and detach refuse bad arguments before touching the kernel", async () => {
  const bad: [string[], RegExp][] = [
    [[SEED, "--iface", "lo"], /missing --prog/],
    [[SEED, "--prog", "main_prog"], /missing --iface/],
    [
      [SEED, "--prog", "main_prog", "--iface", "lo", "--mode", "turbo"],
      /--mode must be one of auto, native, generic, offload/,
    ],
    [[SEED, "--prog", "main_prog", "--iface", "lo", "--pin", "/tmp/x"], /not inside a bpffs mount/],
    [[SEED, "--prog", "nope", "--iface", "lo"], /no program named 'nope'/],
    [
      [SEED, "--prog", "main_prog", "--iface", "lo", "--tail", "prog_array:7=port22_prog"],
      /slot 7 is past max_entries 2/,
    ],
    [[SEED, "--prog", "main_prog", "--iface", "lo", "--tail", "prog_array=1"], /expected MAP:KEY=PROG/],
  ];
  for (const [args, re] of bad) {
    await assert.rejects(attachCommand(args, io(), { verbose: false }), (e: Error) => {
      assert.equal(e.name, "UsageError", `${args.join(" ")}: ${e.message}`);
      assert.match(e.message, re);
      return true;
    });
  }
  await assert.rejects(detachCommand([], io(), { verbose: false }), /missing --pin DIR/);
  const help = io();
  assert.equal(await attachCommand(["--help"], help, { verbose: false }), 0);
  assert.match(help.out.join(""), /^usage: tsbpf attach OBJ --prog NAME --iface IF/);
});

test("attach keeps its SIGINT/SIGTERM handlers until cleanup ends, so a second Ctrl+C cannot kill it half-way", {
  skip,
}, async () => {
  const unlock = await traceLock();
  const dev = `tss${process.pid % 100000}`;
  spawnSync("ip", ["link", "del", dev], { stdio: "ignore" });
  execFileSync("ip", ["link", "add", dev, "type", "veth", "peer", "name", `${dev}p`]);
  try {
    const before = { int: process.listenerCount("SIGINT"), term: process.listenerCount("SIGTERM") };
    const out = io();
    const running = attachCommand([SEED, "--prog", "main_prog", "--iface", dev, ...TAILS], out, {
      verbose: false,
    });
    for (let i = 0; i < 200 && !/printing trace lines/.test(out.out.join("")); i++) await sleep(50);
    assert.match(out.out.join(""), /printing trace lines/);
    process.emit("SIGINT");
    // Without a listener Node's default action would end the process on the next signal.
    assert.equal(process.listenerCount("SIGINT"), before.int + 1, "SIGINT still handled during cleanup");
    assert.equal(process.listenerCount("SIGTERM"), before.term + 1, "SIGTERM still handled during cleanup");
    process.emit("SIGINT");
    process.emit("SIGTERM");
    assert.equal(await running, 0);
    assert.equal(process.listenerCount("SIGINT"), before.int, "handlers removed after cleanup");
    assert.equal(process.listenerCount("SIGTERM"), before.term);
    assert.match(out.out.join(""), new RegExp(`detached main_prog from ${dev}`));
    const shown = JSON.parse(
      execFileSync("ip", ["-j", "-d", "link", "show", "dev", dev], { encoding: "utf8" }),
    );
    assert.equal(shown[0]?.xdp, undefined, "nothing left attached");
  } finally {
    spawnSync("ip", ["link", "del", dev], { stdio: "ignore" });
    await unlock();
  }
});

test("trace lines are printed as timestamp, task-pid, [cpu], message", async () => {
  const { formatTraceLine } = await import("../../src/cli/attach.js");
  const line = {
    task: "<idle>",
    pid: 0,
    cpu: 3,
    flags: "..s2.",
    timestamp: 8853.538349,
    fn: "bpf_trace_printk",
    message: "Packet to port 8080 processed\n",
  };
  assert.equal(formatTraceLine(line), "8853.538349 <idle>-0 [003] Packet to port 8080 processed");
});
