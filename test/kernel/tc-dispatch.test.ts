/**
 * `tsbpf attach --tc ingress` as a user runs it: the seed's dispatcher ported to tc, attached
 * through a tcx link to one end of a veth pair in a network namespace of this test, real TCP SYNs
 * sent to 8080, 22 and 9999, the trace lines and per-stage counts it prints, the same packets on
 * the VM giving the same TC_ACT_* verdicts, nothing left on the interface afterwards, and one
 * clear line for each mistake (wrong hook, wrong program type, no privilege).
 */
import assert from "node:assert/strict";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { test } from "node:test";
import { interfaceIndex } from "../../src/kernel/netlink-xdp.js";
import { inNetns } from "../../src/kernel/netns.js";
import { defaultSys } from "../../src/kernel/sys.js";
import { queryTcx } from "../../src/kernel/tc-link.js";
import { buildPacket, eth, ipv4, tcp } from "../../src/net/index.js";
import { runCli as runInProcess } from "../support/cli.js";
import {
  AS_NOBODY,
  createVethNs,
  loadedProgramIds,
  runCli,
  sendSyn,
  startCli,
  traceLock,
} from "./attach-support.js";
import { hasCommand, kernelSkipReason } from "./support.js";
import { TC_DISPATCH, TC_TAILS } from "./tc-support.js";

const XDP_SEED = "examples/tail-call/tail_call.bpf.o";
const skip =
  kernelSkipReason() ??
  (hasCommand("ip") &&
  hasCommand("nsenter") &&
  hasCommand("bpftool") &&
  hasCommand("flock") &&
  hasCommand("setpriv")
    ? undefined
    : "needs ip (iproute2), nsenter, bpftool, flock and setpriv");
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const inNs = (ns: string) => ["nsenter", `--net=/run/netns/${ns}`];

/**
 * The programs on the tcx hooks of `iface` in namespace `ns`, as "hook:name" in run order, from
 * BPF_PROG_QUERY (this machine's bpftool predates tcx and lists none).
 */
function tcProgs(iface: string, ns: string): string[] {
  const sys = defaultSys();
  const names = new Map(loadedProgramIds().map((p) => [p.id, p.name ?? "?"]));
  return inNetns(sys, ns, () => {
    const ifindex = interfaceIndex(sys, iface, ns);
    return (["ingress", "egress"] as const).flatMap((hook) =>
      queryTcx(sys, ifindex, hook).map((e) => `${hook}:${names.get(e.progId) ?? e.progId}`),
    );
  });
}

/** The verdict and trace line of the VM for a SYN to `dport` (as the kernel saw it on the veth). */
async function vmRun(dst: string, dport: number): Promise<{ verdict: string; printed: string[] }> {
  const dir = mkdtempSync(join(tmpdir(), "tsbpf-tcd-"));
  try {
    const f = join(dir, "syn.bin");
    writeFileSync(
      f,
      buildPacket([eth({}), ipv4({ src: "10.0.0.1", dst }), tcp({ sport: 40000, dport, flags: "S" })]),
    );
    const r = await runInProcess([
      "run",
      TC_DISPATCH,
      "--prog",
      "tc_main",
      "--data-in",
      f,
      "--json",
      ...TC_TAILS,
    ]);
    assert.equal(r.code, 0, r.stderr);
    const j = JSON.parse(r.stdout) as { verdict: string; trace?: (string | { message: string })[] };
    return {
      verdict: j.verdict,
      printed: (j.trace ?? []).map((t) => (typeof t === "string" ? t : t.message)),
    };
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

test("attach --tc ingress runs the tc dispatcher on real SYNs like the VM, and detaches", {
  skip,
}, async () => {
  const unlock = await traceLock();
  const net = createVethNs("t");
  try {
    assert.deepEqual(tcProgs(net.peerIf, net.ns), [], "nothing attached before");
    const p = startCli(
      [
        "attach",
        TC_DISPATCH,
        "--prog",
        "tc_main",
        "--iface",
        net.peerIf,
        "--tc",
        "ingress",
        "--stats",
        ...TC_TAILS,
      ],
      inNs(net.ns),
    );
    try {
      await p.waitFor(/printing trace lines/);
      assert.deepEqual(tcProgs(net.peerIf, net.ns), ["ingress:tc_main"], "tc_main on tcx ingress");
      for (const port of [8080, 22, 9999]) sendSyn(undefined, net.peerIp, port);
      await sleep(800);
    } finally {
      p.child.kill("SIGINT");
    }
    assert.equal(await p.exited, 0, p.stderr());
    const out = p.stdout();
    assert.match(
      out.split("\n")[0] ?? "",
      new RegExp(
        `^attached tc_main to ${net.peerIf} \\(ifindex \\d+, hook tc-ingress\\); slots: prog_array\\[0\\]=tc_port8080, prog_array\\[1\\]=tc_port22$`,
      ),
    );
    // Each stage ran once, for its own SYN, with the verdict the VM gives below.
    assert.match(out, /tc: packet to port 8080 processed/);
    assert.match(out, /tc: packet to port 22 processed, mark 0/);
    assert.match(out, /tc_port8080: 1 runs \(TC_ACT_OK 1\)/, out);
    assert.match(out, /tc_port22: 1 runs \(TC_ACT_SHOT 1\)/, out);
    assert.match(out, new RegExp(`detached tc_main from ${net.peerIf}`));
    assert.deepEqual(tcProgs(net.peerIf, net.ns), [], "nothing left on the interface");

    // The same packets on the VM: the same verdicts and lines.
    assert.deepEqual(await vmRun(net.peerIp, 8080), {
      verdict: "TC_ACT_OK",
      printed: ["tc: packet to port 8080 processed"],
    });
    assert.deepEqual(await vmRun(net.peerIp, 22), {
      verdict: "TC_ACT_SHOT",
      printed: ["tc: packet to port 22 processed, mark 0"],
    });
    assert.deepEqual(await vmRun(net.peerIp, 9999), { verdict: "TC_ACT_OK", printed: [] });
  } finally {
    net.remove();
    await unlock();
  }
});

test("attach --tc appends after another tool's tcx program and leaves it attached", { skip }, async () => {
  const net = createVethNs("u");
  try {
    const a = startCli(
      ["attach", TC_DISPATCH, "--prog", "tc_main", "--iface", net.peerIf, "--tc", "egress", ...TC_TAILS],
      inNs(net.ns),
    );
    try {
      await a.waitFor(/printing trace lines|running without trace lines/);
      const b = startCli(
        ["attach", TC_DISPATCH, "--prog", "tc_port22", "--iface", net.peerIf, "--tc", "egress"],
        inNs(net.ns),
      );
      try {
        await b.waitFor(/printing trace lines|running without trace lines/);
        assert.deepEqual(tcProgs(net.peerIf, net.ns), ["egress:tc_main", "egress:tc_port22"]);
      } finally {
        b.child.kill("SIGINT");
      }
      assert.equal(await b.exited, 0, b.stderr());
      assert.deepEqual(tcProgs(net.peerIf, net.ns), ["egress:tc_main"], "the first one stays");
    } finally {
      a.child.kill("SIGINT");
    }
    assert.equal(await a.exited, 0, a.stderr());
    assert.deepEqual(tcProgs(net.peerIf, net.ns), []);
  } finally {
    net.remove();
  }
});

test("attach --tc mistakes are one tsbpf: line each, before anything is loaded", { skip }, async () => {
  const net = createVethNs("v");
  try {
    const cases: [string[], RegExp][] = [
      [
        ["--prog", "tc_main", "--tc", "ingres"],
        /^tsbpf: attach: --tc must be ingress or egress, not 'ingres'/,
      ],
      [
        ["--prog", "tc_main"],
        /^tsbpf: attach: program tc_main is a tc \(sched_cls\) program: give --tc ingress/,
      ],
      [["--prog", "tc_main", "--tc", "ingress", "--mode", "native"], /^tsbpf: attach: --mode is for XDP/],
    ];
    for (const [args, want] of cases) {
      const r = runCli(["attach", TC_DISPATCH, "--iface", net.peerIf, ...args], inNs(net.ns));
      assert.notEqual(r.status, 0);
      assert.match(r.stderr, want);
      assert.equal(r.stderr.trim().split("\n").length, 1, r.stderr);
    }
    const x = runCli(
      ["attach", XDP_SEED, "--prog", "main_prog", "--iface", net.peerIf, "--tc", "ingress"],
      inNs(net.ns),
    );
    assert.notEqual(x.status, 0);
    assert.match(
      x.stderr,
      /^tsbpf: attach: program main_prog is an XDP program; --tc takes tc \(sched_cls\) programs/,
    );
    assert.equal(x.stderr.trim().split("\n").length, 1, x.stderr);
    // A new user, without privilege: one line, no stack, nothing attached.
    const n = runCli(
      ["attach", TC_DISPATCH, "--prog", "tc_main", "--iface", net.peerIf, "--tc", "ingress", ...TC_TAILS],
      [...inNs(net.ns), ...AS_NOBODY],
    );
    assert.notEqual(n.status, 0);
    assert.match(n.stderr, /^tsbpf: /);
    assert.doesNotMatch(n.stderr, /\n\s+at /);
    assert.equal(n.stderr.trim().split("\n").length, 1, n.stderr);
    assert.deepEqual(tcProgs(net.peerIf, net.ns), []);
  } finally {
    net.remove();
  }
});

test("a pipeline file's attach.hook: tc-ingress attaches through tcx; a wrong hook is one line", {
  skip,
}, async () => {
  const net = createVethNs("w");
  const dir = mkdtempSync(join(tmpdir(), "tsbpf-tcd-"));
  try {
    const file = (hook: string) => {
      const f = join(dir, `${hook}.yaml`);
      writeFileSync(
        f,
        [
          "name: tc-dispatch",
          `object: ${resolve(TC_DISPATCH)}`,
          "entry: tc_main",
          "slots:",
          "  prog_array:",
          "    0: tc_port8080",
          "    1: tc_port22",
          "attach:",
          `  iface: ${net.peerIf}`,
          `  hook: ${hook}`,
          "",
        ].join("\n"),
      );
      return f;
    };
    const bad = runCli(["attach", file("tc-ingres")], inNs(net.ns));
    assert.notEqual(bad.status, 0);
    assert.match(
      bad.stderr,
      /^tsbpf: .*attach\.hook.*'tc-ingres' is not a hook: expected xdp, tc-ingress, tc-egress/,
    );
    assert.equal(bad.stderr.trim().split("\n").length, 1, bad.stderr);
    // A tc program is never attached as XDP: `hook: xdp` with a tc entry is one line.
    const up = runCli(["up", file("xdp")]);
    assert.equal(up.status, 2, up.stderr);
    assert.match(
      up.stderr,
      /^tsbpf: xdp\.yaml: the entry tc_main is a sched_cls program; attach\.hook xdp runs XDP programs/,
    );
    assert.equal(up.stderr.trim().split("\n").length, 1, up.stderr);
    const p = startCli(["attach", file("tc-ingress")], inNs(net.ns));
    try {
      await p.waitFor(/printing trace lines|running without trace lines/);
      assert.match(p.stdout(), /^attached tc_main to \S+ \(ifindex \d+, hook tc-ingress\)/);
      assert.deepEqual(tcProgs(net.peerIf, net.ns), ["ingress:tc_main"]);
    } finally {
      p.child.kill("SIGINT");
    }
    assert.equal(await p.exited, 0, p.stderr());
    assert.deepEqual(tcProgs(net.peerIf, net.ns), []);
  } finally {
    rmSync(dir, { recursive: true, force: true });
    net.remove();
  }
});
