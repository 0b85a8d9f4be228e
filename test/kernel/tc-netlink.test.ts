/**
 * tc attach as a netlink clsact + cls_bpf (direct-action) filter, the fallback for kernels
 * without tcx, on a veth in a network namespace of this test: the seed's tc dispatcher gives the
 * same per-port verdicts and lines on real SYNs as through tcx; filters other tools put there
 * (iproute2's `tc filter add ... bpf da obj`, our own library's at another priority) and a clsact
 * qdisc that was there before are never replaced or removed; deletion checks the program id; a
 * filter left by `kill -9` is removed by `detach --tc`, with the clsact qdisc when that attach
 * made it and nothing else is on it; every mistake is one `tsbpf:` line.
 * iproute2's own `tc -j filter show` is the witness of what is on the hook.
 */
import assert from "node:assert/strict";
import { execFileSync } from "node:child_process";
import { readFileSync } from "node:fs";
import { test } from "node:test";
import { release } from "node:os";
import { isLoadError } from "../../src/errors.js";
import { probeTcx } from "../../src/kernel/features.js";
import { loadKernelCollection } from "../../src/kernel/kernel-collection.js";
import { interfaceIndex } from "../../src/kernel/netlink-xdp.js";
import { inNetns } from "../../src/kernel/netns.js";
import { defaultSys } from "../../src/kernel/sys.js";
import { queryTcx } from "../../src/kernel/tc-link.js";
import {
  attachTcFilter,
  KernelTcFilter,
  listTcFilters,
  removeTcFilter,
} from "../../src/kernel/tc-netlink.js";
import { loadCollectionSpec } from "../../src/object/load-collection-spec.js";
import {
  AS_NOBODY,
  createVethNs,
  runCli,
  sendSyn,
  startCli,
  traceLock,
  type VethNs,
} from "./attach-support.js";
import { hasCommand, kernelSkipReason } from "./support.js";
import {
  attachForeignTc,
  qdiscKinds,
  TC_DISPATCH,
  TC_TAILS,
  tc,
  tcFilterAttachArgs,
  tcFilters,
  tcxProgs,
} from "./tc-support.js";

const XDP_SEED = "examples/tail-call/tail_call.bpf.o";
const skip =
  kernelSkipReason() ??
  (hasCommand("ip") && hasCommand("tc") && hasCommand("setpriv") && hasCommand("flock")
    ? undefined
    : "needs ip and tc (iproute2), setpriv and flock");
const _sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const netnsExec = (ns: string) => ["ip", "netns", "exec", ns];

/** iproute2's own way of adding a tc program: `tc filter add dev IF HOOK [pref P] bpf da obj ... sec tc`. */
function iproute2Filter(ns: string, iface: string, hook: string, ...pref: string[]): void {
  tc(ns, "filter", "add", "dev", iface, hook, ...pref, "bpf", "da", "obj", TC_DISPATCH, "sec", "tc");
}

/** The programs on the tcx hooks of `iface` in `ns` (BPF_PROG_QUERY), to tell tcx from a filter. */
function tcxCount(ns: string, iface: string): number {
  const sys = defaultSys();
  return inNetns(sys, ns, () => {
    const i = interfaceIndex(sys, iface, ns);
    return queryTcx(sys, i, "ingress").length + queryTcx(sys, i, "egress").length;
  });
}

/** The namespace's count of TCP resets sent (`Tcp: OutRsts` of /proc/net/snmp there). */
function outRsts(ns: string): number {
  const snmp = execFileSync("ip", ["netns", "exec", ns, "cat", "/proc/net/snmp"], { encoding: "utf8" });
  const [names, values] = snmp.split("\n").filter((l) => l.startsWith("Tcp:"));
  const i = names?.split(/\s+/).indexOf("OutRsts") ?? -1;
  const n = Number(values?.split(/\s+/)[i]);
  assert.ok(i > 0 && Number.isInteger(n), snmp);
  return n;
}

/**
 * The lines of `--stats` at exit for the per-port stages, e.g. `tc_port22: 1 runs (TC_ACT_SHOT 1)`
 * (tc_main also sees the interface's own IPv6 and ARP traffic, which varies from run to run).
 */
function statsLines(out: string): string[] {
  return out
    .split("\n")
    .filter((l) => /^\s+tc_port\S+: \d+ runs/.test(l))
    .map((l) => l.trim())
    .sort();
}

/** The dispatcher's trace messages, in the order printed. */
function printed(out: string): string[] {
  return out
    .split("\n")
    .map((l) => / \[\d{3}\] (tc: .*)$/.exec(l)?.[1])
    .filter((m) => m !== undefined);
}

/** `tsbpf attach --tc ingress --tc-mode filter` on `net`'s peer end (ip netns exec), killed with SIGKILL once attached. */
async function attachFilterAndKill(net: VethNs): Promise<void> {
  const p = startCli(tcFilterAttachArgs(net.peerIf), netnsExec(net.ns));
  try {
    await p.waitFor(/printing trace lines|running without trace lines/);
  } finally {
    p.child.kill("SIGKILL");
  }
  await p.exited;
}

test("the tc dispatcher as a cls_bpf filter (attach --tc-mode filter, ip netns exec) gives tcx's verdicts on real SYNs", {
  skip,
}, async () => {
  const unlock = await traceLock();
  const net = createVethNs("n");
  try {
    const runs: Record<string, { stats: string[]; lines: string[]; first: string; last: string }> = {};
    const resets: Record<string, number[]> = {};
    for (const mode of ["tcx", "filter"] as const) {
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
          "--tc-mode",
          mode,
          "--stats",
          ...TC_TAILS,
        ],
        netnsExec(net.ns),
      );
      try {
        await p.waitFor(/printing trace lines/);
        if (mode === "filter") {
          // A filter, not a tcx link: iproute2 sees it, with our name, in direct-action mode.
          assert.equal(tcxCount(net.ns, net.peerIf), 0, "nothing on tcx");
          const shown = tcFilters(net.ns, net.peerIf, "ingress");
          assert.equal(shown.length, 1, JSON.stringify(shown));
          assert.deepEqual(
            { ...shown[0], progId: 0 },
            { pref: 1, handle: 1, name: "tsbpf:tc_main+clsact", progId: 0, directAction: true },
          );
          assert.deepEqual(qdiscKinds(net.ns, net.peerIf).includes("clsact"), true, "clsact was created");
        } else {
          assert.equal(tcxCount(net.ns, net.peerIf), 1, "tc_main on tcx");
          assert.deepEqual(tcFilters(net.ns, net.peerIf, "ingress"), [], "no filter with tcx");
        }
        // The verdict applied to the packet: a SYN the program lets through (TC_ACT_OK) reaches
        // the namespace's TCP stack, which answers it with a RST (nothing listens); a dropped one
        // (TC_ACT_SHOT) does not. Counted per port in the namespace's own Tcp OutRsts.
        const rsts: number[] = [];
        for (const port of [8080, 22, 9999]) {
          const before = outRsts(net.ns);
          sendSyn(undefined, net.peerIp, port);
          rsts.push(outRsts(net.ns) - before);
        }
        resets[mode] = rsts;
      } finally {
        p.child.kill("SIGINT");
      }
      assert.equal(await p.exited, 0, p.stderr());
      const out = p.stdout();
      const lines = out.trim().split("\n");
      runs[mode] = {
        stats: statsLines(out),
        lines: printed(out),
        first: lines[0] ?? "",
        last: lines.find((l) => l.startsWith("detached")) ?? "",
      };
      // Nothing left: no filter, no tcx program, and the clsact qdisc the filter mode added is gone.
      assert.deepEqual(tcFilters(net.ns, net.peerIf, "ingress"), []);
      assert.equal(tcxCount(net.ns, net.peerIf), 0);
      assert.equal(qdiscKinds(net.ns, net.peerIf).includes("clsact"), false, `${mode}: ${out}`);
    }
    const { tcx, filter } = runs;
    assert.ok(tcx !== undefined && filter !== undefined);
    assert.deepEqual(resets, { tcx: [1, 0, 1], filter: [1, 0, 1] }, "8080 and 9999 let through, 22 dropped");
    assert.deepEqual(filter.stats, tcx.stats, "the same per-stage runs and verdicts");
    assert.equal(filter.stats.length, 2, filter.stats.join("\n"));
    assert.ok(filter.stats.includes("tc_port8080: 1 runs (TC_ACT_OK 1)"), filter.stats.join("\n"));
    assert.ok(filter.stats.includes("tc_port22: 1 runs (TC_ACT_SHOT 1)"), filter.stats.join("\n"));
    assert.deepEqual(filter.lines, tcx.lines);
    assert.deepEqual(filter.lines, [
      "tc: packet to port 8080 processed",
      "tc: packet to port 22 processed, mark 0",
    ]);
    assert.match(
      filter.first,
      new RegExp(
        `^attached tc_main to ${net.peerIf} \\(ifindex \\d+, hook tc-ingress, cls_bpf filter pref 1 handle 0x1\\); slots:`,
      ),
    );
    assert.match(tcx.first, /hook tc-ingress\); slots:/);
    assert.match(
      filter.last,
      /^detached tc_main from \S+; removed the clsact qdisc it added; prog arrays released$/,
    );
  } finally {
    net.remove();
    await unlock();
  }
});

test("iproute2's filter, our library's at another priority and a clsact made before all stay after attach and detach", {
  skip,
}, async () => {
  const net = createVethNs("f");
  const sys = defaultSys();
  const spec = loadCollectionSpec(new Uint8Array(readFileSync(TC_DISPATCH)), { file: "tc_dispatch.bpf.o" });
  try {
    tc(net.ns, "qdisc", "add", "dev", net.peerIf, "clsact");
    iproute2Filter(net.ns, net.peerIf, "ingress");
    const [theirs] = tcFilters(net.ns, net.peerIf, "ingress");
    assert.ok(theirs !== undefined && theirs.pref === 49152 && theirs.handle === 1, JSON.stringify(theirs));
    using coll = await loadKernelCollection(spec, { netns: net.ns });
    const prog = coll.programs.tc_port8080;
    assert.ok(prog !== undefined);
    const mine = await prog.attachTc({ iface: net.peerIf, hook: "ingress", mode: "filter", prio: 7 });
    assert.ok(mine instanceof KernelTcFilter);
    const d = mine.describe();
    assert.deepEqual(
      { ...d, progId: 0 },
      {
        method: "netlink",
        ifindex: mine.ifindex,
        hook: "ingress",
        prio: 7,
        handle: 1,
        progId: 0,
        name: "tsbpf:tc_port8080",
        createdQdisc: false,
        iface: net.peerIf,
        netns: net.ns,
      },
    );
    // Our own listing agrees with iproute2's.
    const listed = inNetns(sys, net.ns, () => listTcFilters(sys, mine.ifindex, "ingress"));
    assert.deepEqual(
      listed.map((f) => ({
        pref: f.prio,
        handle: f.handle,
        name: f.name,
        progId: f.progId,
        directAction: f.directAction,
      })),
      tcFilters(net.ns, net.peerIf, "ingress"),
    );
    assert.equal(listed.find((f) => f.prio === 7)?.progId, d.progId);

    // The place iproute2's filter holds is refused, in one line naming the interface and hook.
    await assert.rejects(
      prog.attachTc({ iface: net.peerIf, hook: "ingress", mode: "filter", prio: 49152 }),
      (e: unknown) =>
        isLoadError(e) &&
        e.errno === 17 &&
        new RegExp(
          `^attach a tc ingress filter to ${net.peerIf} \\(ifindex \\d+\\) at priority 49152 handle 1: EEXIST`,
        ).test(e.message) &&
        !e.message.includes("\n"),
    );
    assert.deepEqual(tcFilters(net.ns, net.peerIf, "ingress")[1], theirs, "iproute2's filter untouched");

    // The CLI, from the host with --netns: after every filter there (49153), and gone at exit.
    const p = startCli(
      [
        "attach",
        TC_DISPATCH,
        "--prog",
        "tc_main",
        "--iface",
        net.peerIf,
        "--netns",
        net.ns,
        "--tc",
        "ingress",
      ].concat(["--tc-mode", "filter", ...TC_TAILS]),
    );
    try {
      await p.waitFor(/printing trace lines|running without trace lines/);
      assert.deepEqual(
        tcFilters(net.ns, net.peerIf, "ingress").map((f) => `${f.pref}:${f.handle}:${f.name}`),
        ["7:1:tsbpf:tc_port8080", "49152:1:tc_dispatch.bpf.o:[tc]", "49153:1:tsbpf:tc_main"],
      );
    } finally {
      p.child.kill("SIGTERM");
    }
    assert.equal(await p.exited, 0, p.stderr());
    assert.match(p.stdout(), /detached tc_main from \S+ in netns \S+; prog arrays released/);
    const after = tcFilters(net.ns, net.peerIf, "ingress");
    assert.deepEqual(
      after.map((f) => `${f.pref}:${f.handle}:${f.name}`),
      ["7:1:tsbpf:tc_port8080", "49152:1:tc_dispatch.bpf.o:[tc]"],
    );
    assert.deepEqual(after[1], theirs);
    assert.ok(qdiscKinds(net.ns, net.peerIf).includes("clsact"), "the clsact made before stays");

    // Our library's filter goes; iproute2's and the qdisc stay.
    mine.detach();
    assert.equal(mine.qdiscRemoved, false);
    assert.deepEqual(tcFilters(net.ns, net.peerIf, "ingress"), [theirs]);
    assert.ok(qdiscKinds(net.ns, net.peerIf).includes("clsact"));
    assert.ok(removeTcFilter(d).removed === false, "removing it again is no error");
    // Alone on the clsact made before: our filter goes, the qdisc, not ours, stays even empty.
    tc(net.ns, "filter", "del", "dev", net.peerIf, "ingress");
    const alone = await prog.attachTc({ iface: net.peerIf, hook: "ingress", mode: "filter" });
    assert.equal(tcFilters(net.ns, net.peerIf, "ingress").length, 1);
    alone.close();
    assert.deepEqual(tcFilters(net.ns, net.peerIf, "ingress"), []);
    assert.ok(qdiscKinds(net.ns, net.peerIf).includes("clsact"), "a clsact we did not make is never removed");
  } finally {
    net.remove();
  }
});

test("a clsact we made is removed only once empty, and a filter is deleted only while it runs our program", {
  skip,
}, async () => {
  const net = createVethNs("g");
  const sys = defaultSys();
  const spec = loadCollectionSpec(new Uint8Array(readFileSync(TC_DISPATCH)), { file: "tc_dispatch.bpf.o" });
  try {
    using coll = await loadKernelCollection(spec, { netns: net.ns });
    const prog = coll.programs.tc_port22;
    assert.ok(prog !== undefined);
    const a = await prog.attachTc({ iface: net.peerIf, hook: "egress", mode: "filter" });
    assert.ok(a instanceof KernelTcFilter);
    const d = a.describe();
    assert.equal(d.createdQdisc, true);
    assert.equal(d.prio, 1);
    // Another tool adds a filter to the qdisc we created: ours goes, the qdisc stays for it.
    iproute2Filter(net.ns, net.peerIf, "ingress");
    assert.deepEqual(removeTcFilter(d), { removed: true, qdiscRemoved: false });
    assert.deepEqual(tcFilters(net.ns, net.peerIf, "egress"), []);
    assert.equal(tcFilters(net.ns, net.peerIf, "ingress").length, 1);
    assert.ok(qdiscKinds(net.ns, net.peerIf).includes("clsact"));
    a.close(); // gone already: nothing to do, no error
    assert.equal(tcFilters(net.ns, net.peerIf, "ingress").length, 1);

    // Our filter replaced by another program at the same place: it is left in place, and said so.
    const b = await prog.attachTc({ iface: net.peerIf, hook: "egress", mode: "filter" });
    assert.ok(b instanceof KernelTcFilter);
    const pref = String(b.prio);
    tc(
      net.ns,
      "filter",
      "replace",
      "dev",
      net.peerIf,
      "egress",
      "pref",
      pref,
      "handle",
      "1",
      "bpf",
      "da",
      "obj",
      TC_DISPATCH,
      "sec",
      "tc",
    );
    const replaced = tcFilters(net.ns, net.peerIf, "egress");
    assert.equal(replaced.length, 1);
    assert.notEqual(replaced[0]?.progId, b.describe().progId);
    assert.throws(
      () => b.detach(),
      (e: unknown) =>
        isLoadError(e) &&
        /^remove the tc filter at priority \d+ handle 1 of \S+ \(ifindex \d+\) tc egress: it runs program id \d+, not ours \(\d+\); left in place/.test(
          e.message,
        ),
    );
    assert.deepEqual(tcFilters(net.ns, net.peerIf, "egress"), replaced);
    // The qdisc is ours but not empty; iproute2's filters are still on it.
    tc(net.ns, "filter", "del", "dev", net.peerIf, "egress");
    tc(net.ns, "filter", "del", "dev", net.peerIf, "ingress");
    // Empty now: the description of the first filter (createdQdisc) removes the qdisc we made.
    assert.deepEqual(removeTcFilter(d), { removed: false, qdiscRemoved: true });
    assert.equal(qdiscKinds(net.ns, net.peerIf).includes("clsact"), false);

    // A filter the kernel refuses (an XDP program) leaves no clsact behind when we made it.
    const xdpSpec = loadCollectionSpec(new Uint8Array(readFileSync(XDP_SEED)), { file: "tail_call.bpf.o" });
    using xdp = await loadKernelCollection(xdpSpec, { netns: net.ns });
    const xdpFd = xdp.programs.main_prog?.fd ?? -1;
    assert.throws(
      () =>
        inNetns(sys, net.ns, () =>
          attachTcFilter(sys, xdpFd, interfaceIndex(sys, net.peerIf, net.ns), "ingress", {
            program: "main_prog",
            iface: net.peerIf,
          }),
        ),
      (e: unknown) =>
        isLoadError(e) &&
        /^attach a tc ingress filter to \S+ \(ifindex \d+\) at priority 1 handle 1: EINVAL/.test(e.message),
    );
    assert.equal(qdiscKinds(net.ns, net.peerIf).includes("clsact"), false, "the qdisc made for it is gone");
  } finally {
    net.remove();
  }
});

test("kill -9 leaves the filter; detach --tc removes tsbpf's only; each mistake is one tsbpf: line", {
  skip,
}, async () => {
  const net = createVethNs("h");
  try {
    tc(net.ns, "qdisc", "add", "dev", net.peerIf, "clsact");
    iproute2Filter(net.ns, net.peerIf, "ingress");
    await attachFilterAndKill(net);
    const left = tcFilters(net.ns, net.peerIf, "ingress");
    assert.deepEqual(
      left.map((f) => `${f.pref}:${f.name}`),
      ["49152:tc_dispatch.bpf.o:[tc]", "49153:tsbpf:tc_main"],
    );

    // Without privilege: one line, nothing removed.
    const n = runCli(
      ["detach", "--tc", "ingress", "--iface", net.peerIf],
      [...netnsExec(net.ns), ...AS_NOBODY],
    );
    assert.equal(n.status, 1, n.stderr);
    assert.match(
      n.stderr,
      /^tsbpf: remove the tc filter at priority 49153 handle 1 of \S+ \(ifindex \d+\) tc ingress: EPERM/,
    );
    assert.equal(n.stderr.trim().split("\n").length, 1, n.stderr);
    assert.deepEqual(tcFilters(net.ns, net.peerIf, "ingress"), left);

    const d = runCli(["detach", "--tc", "ingress", "--iface", net.peerIf], netnsExec(net.ns));
    assert.equal(d.status, 0, d.stderr);
    assert.match(
      d.stdout,
      new RegExp(
        `^removed filter tsbpf:tc_main \\(pref 49153 handle 0x1, prog id ${left[1]?.progId}\\) from ${net.peerIf} tc ingress\\n$`,
      ),
    );
    assert.deepEqual(tcFilters(net.ns, net.peerIf, "ingress"), [left[0]], "iproute2's filter stays");
    const again = runCli(["detach", "--tc", "ingress", "--iface", net.peerIf, "--netns", net.ns]);
    assert.equal(again.status, 0, again.stderr);
    assert.equal(again.stdout, `no tsbpf filter on ${net.peerIf} in netns ${net.ns} tc ingress\n`);

    const attach = (...a: string[]) => ["attach", TC_DISPATCH, "--prog", "tc_main", ...TC_TAILS, ...a];
    const cases: [string[], string[], RegExp][] = [
      [
        attach("--iface", net.peerIf, "--tc", "ingress", "--tc-mode", "fliter"),
        [],
        /^tsbpf: attach: --tc-mode must be one of auto, tcx, filter, not 'fliter'/,
      ],
      [
        ["attach", XDP_SEED, "--prog", "main_prog", "--iface", net.peerIf, "--tc-mode", "filter"],
        [],
        /^tsbpf: attach: --tc-mode goes with --tc HOOK/,
      ],
      [
        attach("--iface", "tsbpfnosuch0", "--tc", "ingress", "--tc-mode", "filter"),
        [],
        /^tsbpf: no network interface named "tsbpfnosuch0"/,
      ],
      [
        attach("--iface", net.peerIf, "--tc", "ingress", "--tc-mode", "filter"),
        AS_NOBODY as string[],
        /^tsbpf: /,
      ],
      [
        ["detach", "--tc", "ingres", "--iface", net.peerIf],
        [],
        /^tsbpf: detach: --tc must be ingress or egress, not 'ingres'/,
      ],
      [["detach", "--tc", "egress"], [], /^tsbpf: detach: missing --iface IF/],
      [
        ["detach", "--tc", "egress", "--iface", "tsbpfnosuch0"],
        [],
        /^tsbpf: no network interface named "tsbpfnosuch0"/,
      ],
      [
        ["detach", "--tc", "egress", "--iface", net.peerIf, "--pin", "/sys/fs/bpf/x"],
        [],
        /^tsbpf: detach: --pin DIR or --tc HOOK --iface IF, not both/,
      ],
    ];
    for (const [args, as, want] of cases) {
      const r = runCli(args, [...netnsExec(net.ns), ...as]);
      assert.notEqual(r.status, 0, `${args.join(" ")}: ${r.stdout}`);
      assert.match(r.stderr, want, args.join(" "));
      assert.doesNotMatch(r.stderr, /\n\s+at /);
      assert.equal(r.stderr.trim().split("\n").length, 1, r.stderr);
    }
    assert.deepEqual(tcFilters(net.ns, net.peerIf, "ingress"), [left[0]], "no mistake attached anything");
  } finally {
    net.remove();
  }
});

test("kill -9 of an attach that made the clsact: detach --tc removes it once nothing else is on it; a tcx program stays", {
  skip,
}, async () => {
  const net = createVethNs("Q");
  const foreign = attachForeignTc(net.peerIf, net.ns, "ingress");
  try {
    const attachAndKill = () => attachFilterAndKill(net);
    const detach = () => runCli(["detach", "--tc", "ingress", "--iface", net.peerIf, "--netns", net.ns]);
    const hasClsact = () => qdiscKinds(net.ns, net.peerIf).includes("clsact");

    // The attach made the qdisc (a tcx program does not need one) and its filter's name says so.
    assert.equal(hasClsact(), false);
    await attachAndKill();
    assert.deepEqual(
      tcFilters(net.ns, net.peerIf, "ingress").map((f) => `${f.pref}:${f.name}`),
      ["1:tsbpf:tc_main+clsact"],
    );
    // Another tool's filter on the other hook holds the qdisc: only our filter goes.
    iproute2Filter(net.ns, net.peerIf, "egress");
    const held = detach();
    assert.equal(held.status, 0, held.stderr);
    assert.match(
      held.stdout,
      /^removed filter tsbpf:tc_main\+clsact \(pref 1 handle 0x1, prog id \d+\) from \S+ in netns \S+ tc ingress\n$/,
    );
    assert.ok(hasClsact(), "iproute2's egress filter is still on it");
    assert.equal(tcFilters(net.ns, net.peerIf, "egress").length, 1);

    // Nothing but a tcx program on it: the filter and the qdisc go, the tcx program stays.
    tc(net.ns, "filter", "del", "dev", net.peerIf, "egress");
    tc(net.ns, "qdisc", "del", "dev", net.peerIf, "clsact");
    await attachAndKill();
    assert.ok(hasClsact());
    const d = detach();
    assert.equal(d.status, 0, d.stderr);
    assert.match(
      d.stdout,
      new RegExp(
        `^removed filter tsbpf:tc_main\\+clsact \\(pref 1 handle 0x1, prog id \\d+\\) from ${net.peerIf} in netns ${net.ns} tc ingress\nremoved the clsact qdisc of ${net.peerIf} the attach had created \\(nothing else was on it\\)\n$`,
      ),
    );
    assert.equal(hasClsact(), false, "the clsact the attach made is gone");
    assert.deepEqual(tcFilters(net.ns, net.peerIf, "ingress"), []);
    assert.deepEqual(tcxProgs(net.peerIf, net.ns), ["ingress:foreign_tc"], "the tcx program stays attached");

    // A clsact that was there before the attach is not named for and stays, empty or not.
    tc(net.ns, "qdisc", "add", "dev", net.peerIf, "clsact");
    await attachAndKill();
    assert.deepEqual(
      tcFilters(net.ns, net.peerIf, "ingress").map((f) => `${f.pref}:${f.name}`),
      ["1:tsbpf:tc_main"],
    );
    const kept = detach();
    assert.equal(kept.status, 0, kept.stderr);
    assert.doesNotMatch(kept.stdout, /clsact qdisc/);
    assert.ok(hasClsact(), "a clsact made before stays");
  } finally {
    foreign.close();
    net.remove();
  }
});

test("probeTcx answers as the running kernel's version says (tcx since Linux 6.6)", {
  skip: kernelSkipReason(),
}, () => {
  const [major = 0, minor = 0] = release().split(".").map(Number);
  assert.equal(probeTcx(defaultSys()), major > 6 || (major === 6 && minor >= 6), release());
});
