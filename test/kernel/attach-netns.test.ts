/**
 * `tsbpf attach` with the interface in another network namespace, both ways a user does it:
 * `ip netns exec NS tsbpf attach ...` (a private mount namespace whose fresh /sys has neither
 * tracefs nor bpffs) and `tsbpf attach --netns NS ...` from the host (then `run --backend kernel
 * --netns` and `detach --pin --netns`). Also: only lines printed after attaching are shown, a
 * pipeline whose trace cannot be read stays attached, and the mistakes a new user makes (a typo
 * in the name, no root, no CAP_SYS_ADMIN) give one line each.
 */
import assert from "node:assert/strict";
import { execFileSync } from "node:child_process";
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { test } from "node:test";
import { loadKernelCollection } from "../../src/kernel/kernel-collection.js";
import { TraceStream } from "../../src/kernel/trace-stream.js";
import { buildPacket } from "../../src/net/build.js";
import { loadCollectionSpec } from "../../src/object/load-collection-spec.js";
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
  (hasCommand("ip") &&
  hasCommand("nsenter") &&
  hasCommand("unshare") &&
  hasCommand("bpftool") &&
  hasCommand("flock") &&
  ensureBpffs()
    ? undefined
    : "needs ip (iproute2), nsenter, unshare, bpftool, flock and a bpffs at /sys/fs/bpf");
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const TRACE_LINE = /^(\d+\.\d{6}) (.+)-(\d+) \[(\d{3})\] (.*)$/;

/** Every trace line the command printed, as [pid, message]. */
function traceLines(stdout: string): [number, string][] {
  return stdout
    .split("\n")
    .map((l) => TRACE_LINE.exec(l))
    .filter((m) => m !== null)
    .map((m) => [Number(m[3]), m[5] as string]);
}

/** The SYN the seed's main_prog sends to port 8080's program. */
const syn = (dport: number) =>
  buildPacket([
    { kind: "eth" },
    { kind: "ipv4", src: "10.0.0.1", dst: "10.0.0.2" },
    { kind: "tcp", sport: 40000, dport, flags: "S" },
  ]);

test("ip netns exec: attach mounts tracefs itself and prints the seed's lines for SYNs to 8080 and 22", {
  skip,
}, async () => {
  const unlock = await traceLock();
  const net = createVethNs("x");
  try {
    const p = startCli(
      ["attach", SEED, "--prog", "main_prog", "--iface", net.peerIf, ...TAILS],
      ["ip", "netns", "exec", net.ns],
    );
    await p.waitFor(/printing trace lines/);
    assert.equal(xdpProgIds(net.peerIf, net.ns).length, 1, "main_prog is attached in the namespace");
    for (const port of [8080, 22, 9999]) sendSyn(undefined, net.peerIp, port);
    await sleep(800);
    p.child.kill("SIGINT");
    assert.equal(await p.exited, 0, p.stderr());
    assert.doesNotMatch(p.stderr(), /tracefs|unavailable/);
    assert.deepEqual(
      traceLines(p.stdout()).map(([, m]) => m),
      ["Packet to port 8080 processed", "Packet to port 22 processed"],
      p.stdout(),
    );
    assert.match(p.stdout(), new RegExp(`detached main_prog from ${net.peerIf}`));
    assert.deepEqual(xdpProgIds(net.peerIf, net.ns), [], "nothing left attached");
  } finally {
    net.remove();
    await unlock();
  }
});

test("ip netns exec with --pin is refused before loading: a bpffs mounted there would vanish at exit", {
  skip,
}, () => {
  const net = createVethNs("y");
  const dir = `/sys/fs/bpf/tsbpf-nsx-${process.pid}`;
  const before = new Set(loadedProgramIds().map((p) => p.id));
  try {
    const r = runCli(
      ["attach", SEED, "--prog", "main_prog", "--iface", net.peerIf, ...TAILS, "--pin", dir],
      ["ip", "netns", "exec", net.ns],
    );
    assert.equal(r.status, 2, r.stderr);
    const lines = r.stderr.trimEnd().split("\n");
    assert.equal(lines.length, 1, r.stderr);
    assert.match(
      lines[0] ?? "",
      new RegExp(
        `^tsbpf: no bpffs is mounted on /sys/fs/bpf in the private mount namespace of 'ip netns exec ${net.ns}', and one mounted now would vanish when this command exits, taking the pins under ${dir} and the pipeline with it — hint: run 'tsbpf attach --netns ${net.ns} \\.\\.\\.' from the host instead`,
      ),
    );
    assert.equal(r.stdout, "");
    assert.deepEqual(xdpProgIds(net.peerIf, net.ns), []);
    assert.equal(existsSync(dir), false);
    const seedLoaded = loadedProgramIds().filter((p) => !before.has(p.id) && p.name === "main_prog");
    assert.deepEqual(seedLoaded, [], "nothing was loaded");
    // detach run the same way says why it finds nothing.
    const d = runCli(["detach", "--pin", dir], ["ip", "netns", "exec", net.ns]);
    assert.equal(d.status, 2);
    assert.match(
      d.stderr,
      new RegExp(
        `^tsbpf: no pinned pipeline at ${dir}: no such directory — hint: this process sees no bpffs there: it runs in the private mount namespace of 'ip netns exec ${net.ns}'`,
      ),
    );
  } finally {
    net.remove();
  }
});

test("when no trace can be read, the pipeline stays attached, the warning says why, and Ctrl+C detaches", {
  skip,
}, async () => {
  const unlock = await traceLock();
  const net = createVethNs("z");
  try {
    // A private mount namespace where /sys/kernel is an empty tmpfs: no tracefs, nowhere to mount it.
    const p = startCli(
      ["attach", SEED, "--prog", "main_prog", "--iface", net.peerIf, ...TAILS],
      [
        "unshare",
        "-m",
        "sh",
        "-c",
        'mount -t tmpfs none /sys/kernel && exec nsenter --net="$0" "$@"',
        `/run/netns/${net.ns}`,
      ],
    );
    await p.waitFor(/running without trace lines; press Ctrl\+C to stop/);
    await sleep(500);
    assert.match(
      p.stderr(),
      /^tsbpf: note: nothing is pinned.*\ntsbpf: warning: trace lines are unavailable: tracefs is not mounted, and \/sys\/kernel\/tracing does not exist to mount it on \(hint: .*\); the pipeline stays attached\n$/,
    );
    assert.equal(p.child.exitCode, null, "still running");
    const [mainId] = xdpProgIds(net.peerIf, net.ns);
    assert.ok(mainId, "still attached");
    // The pipeline works: this process, with tracefs, sees its line.
    const stop = new AbortController();
    const stream = TraceStream.open({ signal: stop.signal });
    const seen: string[] = [];
    const reading = (async () => {
      for await (const l of stream) seen.push(l.message);
    })();
    sendSyn(undefined, net.peerIp, 8080);
    await sleep(500);
    stop.abort();
    await reading;
    assert.ok(seen.includes("Packet to port 8080 processed"), seen.join(" | "));
    p.child.kill("SIGINT");
    assert.equal(await p.exited, 0, p.stderr());
    assert.match(p.stdout(), new RegExp(`detached main_prog from ${net.peerIf}`));
    assert.deepEqual(xdpProgIds(net.peerIf, net.ns), []);
  } finally {
    net.remove();
    await unlock();
  }
});

test("attach shows only lines printed after it attached, not one an earlier run left in trace_pipe", {
  skip,
}, async () => {
  const unlock = await traceLock();
  const net = createVethNs("w");
  try {
    // An earlier, unrelated run of the same object: its line waits unread in the global trace_pipe.
    const spec = loadCollectionSpec(new Uint8Array(readFileSync(SEED)), { file: "tail_call.bpf.o" });
    {
      using coll = await loadKernelCollection(spec);
      const progArray = coll.maps.prog_array;
      const { main_prog, port8080_prog } = coll.programs;
      assert.ok(progArray && main_prog && port8080_prog);
      progArray.set(0, port8080_prog);
      const r = await main_prog.run(syn(8080));
      assert.deepEqual(r.trace, ["Packet to port 8080 processed"]);
    }
    const p = startCli(
      ["attach", SEED, "--prog", "main_prog", "--iface", net.peerIf, ...TAILS],
      ["nsenter", `--net=/run/netns/${net.ns}`],
    );
    await p.waitFor(/printing trace lines/);
    const sender = sendSyn(undefined, net.peerIp, 22);
    await sleep(800);
    p.child.kill("SIGINT");
    assert.equal(await p.exited, 0, p.stderr());
    const lines = traceLines(p.stdout());
    assert.deepEqual(
      lines.filter(([pid]) => pid === process.pid),
      [],
      `no line of the earlier run (pid ${process.pid}):\n${p.stdout()}`,
    );
    assert.deepEqual(
      lines.map(([, m]) => m),
      ["Packet to port 22 processed"],
      `only the SYN sent after attaching (sender ${sender}):\n${p.stdout()}`,
    );
  } finally {
    net.remove();
    await unlock();
  }
});

test("--netns from the host: attach, run --backend kernel --netns, then detach --pin --netns", {
  skip,
}, async () => {
  const unlock = await traceLock();
  const net = createVethNs("v");
  const dir = `/sys/fs/bpf/tsbpf-netns-${process.pid}`;
  const tmp = mkdtempSync(join(tmpdir(), "tsbpf-netns-"));
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
      ...TAILS,
      "--pin",
      dir,
    ]);
    await p.waitFor(/printing trace lines/);
    assert.match(
      p.stdout(),
      new RegExp(
        `^attached main_prog to ${net.peerIf} \\(netns ${net.ns}, ifindex \\d+, mode native\\); slots: prog_array\\[0\\]=port8080_prog, prog_array\\[1\\]=port22_prog\n`,
      ),
    );
    const [mainId] = xdpProgIds(net.peerIf, net.ns);
    assert.ok(mainId, "attached to the interface inside the namespace");
    for (const port of [8080, 22, 9999]) sendSyn(undefined, net.peerIp, port);
    await sleep(800);
    p.child.kill("SIGINT");
    assert.equal(await p.exited, 0, p.stderr());
    assert.deepEqual(
      traceLines(p.stdout()).map(([, m]) => m),
      ["Packet to port 8080 processed", "Packet to port 22 processed"],
      p.stdout(),
    );
    // Pinned in the host's bpffs, still attached in the namespace.
    assert.ok(existsSync(`${dir}/link`), "the link is pinned in the host's bpffs");
    assert.deepEqual(xdpProgIds(net.peerIf, net.ns), [mainId]);

    // BPF_PROG_TEST_RUN looks the ingress interface up in the namespace it runs in.
    const ifindex = JSON.parse(
      execFileSync("ip", ["-n", net.ns, "-j", "link", "show", "dev", net.peerIf], { encoding: "utf8" }),
    )[0].ifindex as number;
    const pkt = join(tmp, "syn8080.bin");
    writeFileSync(pkt, syn(8080));
    const runArgs = ["run", SEED, "--prog", "main_prog", ...TAILS, "--data-in", pkt, "--backend", "kernel"];
    const inNs = runCli([...runArgs, "--ingress-ifindex", String(ifindex), "--netns", net.ns]);
    assert.equal(inNs.status, 0, inNs.stderr);
    assert.match(inNs.stdout, /verdict: {2}XDP_PASS \(2\)\n/);
    assert.match(inNs.stdout, /trace: {4}Packet to port 8080 processed\n/);
    const onHost = runCli([...runArgs, "--ingress-ifindex", String(ifindex)]);
    assert.equal(onHost.status, 1, onHost.stdout);
    assert.match(
      onHost.stderr,
      /^tsbpf: test run: ENODEV .* — hint: no interface has the context's ingress ifindex/,
    );

    // A namespace the pipeline is not in is refused, and nothing is removed.
    const wrong = runCli(["detach", "--pin", dir, "--netns", `/proc/${process.pid}/ns/net`]);
    assert.equal(wrong.status, 2, wrong.stderr);
    assert.match(wrong.stderr, /^tsbpf: the pipeline pinned at .* is not attached in network namespace/);
    assert.ok(existsSync(`${dir}/link`));

    const d = runCli(["detach", "--pin", dir, "--netns", net.ns]);
    assert.equal(d.status, 0, d.stderr);
    assert.equal(
      d.stdout,
      `detached tail_call.bpf.o from ${net.peerIf} (netns ${net.ns}, ifindex ${ifindex}), and removed 7 pins and ${dir}\n`,
    );
    assert.deepEqual(xdpProgIds(net.peerIf, net.ns), []);
    assert.equal(existsSync(dir), false);
  } finally {
    if (existsSync(`${dir}/link`)) runCli(["detach", "--pin", dir]);
    rmSync(dir, { recursive: true, force: true });
    rmSync(tmp, { recursive: true, force: true });
    net.remove();
    await unlock();
  }
});

test("a typo in --netns, no root, and no CAP_SYS_ADMIN each give one line, and leave nothing attached", {
  skip: skip ?? (hasCommand("setpriv") ? undefined : "needs setpriv (util-linux) to drop privileges"),
}, () => {
  const net = createVethNs("u");
  const typo = `${net.ns}x`;
  try {
    const oneLine = (
      r: { status: number | null; stderr: string; stdout: string },
      status: number,
      re: RegExp,
    ) => {
      assert.equal(r.status, status, r.stderr);
      const lines = r.stderr.trimEnd().split("\n");
      assert.equal(lines.length, 1, r.stderr);
      assert.match(lines[0] ?? "", re);
    };
    const attach = ["attach", SEED, "--prog", "main_prog", "--iface", net.peerIf, ...TAILS];
    const unknown = new RegExp(
      `^tsbpf: no network namespace named '${typo}' \\(/var/run/netns/${typo} does not exist\\) — hint: \`ip netns list\` shows the names`,
    );
    oneLine(runCli([...attach, "--netns", typo]), 2, unknown);
    oneLine(runCli(["detach", "--pin", "/sys/fs/bpf/tsbpf-nope", "--netns", typo]), 2, unknown);
    oneLine(
      runCli(["run", SEED, "--prog", "main_prog", "--data-in", SEED, "--backend", "kernel", "--netns", typo]),
      2,
      unknown,
    );
    oneLine(
      runCli([...attach.slice(0, 5), "nope0", ...TAILS, "--netns", net.ns]),
      2,
      new RegExp(
        `^tsbpf: no network interface named "nope0" in network namespace '${net.ns}' — hint: \`ip -n ${net.ns} link\``,
      ),
    );
    oneLine(
      runCli([...attach, "--netns", net.ns], [...AS_NOBODY]),
      1,
      /^tsbpf: .*EPERM.* — hint: needs root, or CAP_BPF with CAP_NET_ADMIN and CAP_PERFMON/,
    );
    oneLine(
      runCli(
        [...attach, "--netns", net.ns],
        ["setpriv", "--inh-caps=-sys_admin", "--bounding-set=-sys_admin"],
      ),
      1,
      new RegExp(
        `^tsbpf: enter network namespace '${net.ns}': EPERM — hint: entering another network namespace needs root \\(CAP_SYS_ADMIN\\)$`,
      ),
    );
    assert.deepEqual(xdpProgIds(net.peerIf, net.ns), []);
  } finally {
    net.remove();
  }
});

test("attach PIPELINE: a two-object pipeline file attaches where its attach: says, and prints every stage's lines", {
  skip,
}, async () => {
  const unlock = await traceLock();
  const net = createVethNs("p");
  const dir = mkdtempSync(join(tmpdir(), "tsbpf-attach-pipeline-"));
  try {
    const file = join(dir, "two.yaml");
    writeFileSync(
      file,
      `name: two
objects:
  dispatch: ${SEED}
  stages: ${SEED}
entry: dispatch:main_prog
slots:
  dispatch:prog_array:
    0: stages:port8080_prog
    1: stages:port22_prog
attach:
  iface: ${net.peerIf}
  netns: ${net.ns}
`,
    );
    const p = startCli(["attach", file]);
    await p.waitFor(/printing trace lines/);
    assert.match(
      p.stdout(),
      /slots: dispatch:prog_array\[0\]=stages:port8080_prog, dispatch:prog_array\[1\]=stages:port22_prog/,
    );
    assert.equal(xdpProgIds(net.peerIf, net.ns).length, 1, "the entry is attached in the file's namespace");
    for (const port of [8080, 22, 9999]) sendSyn(undefined, net.peerIp, port);
    await sleep(800);
    p.child.kill("SIGINT");
    assert.equal(await p.exited, 0, p.stderr());
    assert.deepEqual(
      traceLines(p.stdout()).map(([, m]) => m),
      ["Packet to port 8080 processed", "Packet to port 22 processed"],
    );
    assert.deepEqual(xdpProgIds(net.peerIf, net.ns), [], "detached at exit");
    const typo = runCli(["attach", file, "--tail", "prog_array:0=port22_prog"]);
    assert.equal(typo.status, 2);
    assert.match(typo.stderr, /^tsbpf: attach: --tail goes with an object/);
  } finally {
    net.remove();
    rmSync(dir, { recursive: true, force: true });
    await unlock();
  }
});
