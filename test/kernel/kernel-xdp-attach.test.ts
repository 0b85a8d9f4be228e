/**
 * XDP attachment on a veth pair whose peer lives in a network namespace created (and removed) by
 * the test: bpf_link and netlink, queries, detach, and the refusals that protect other programs.
 */
import assert from "node:assert/strict";
import { execFileSync } from "node:child_process";
import { test } from "node:test";
import { isLoadError } from "../../src/errors.js";
import { ProgType } from "../../src/abi/index.js";
import { Errno } from "../../src/abi/index.js";
import type { Fd } from "../../src/kernel/fd.js";
import {
  attachXdpNetlink,
  detachXdpNetlink,
  interfaceIndex,
  queryXdp,
} from "../../src/kernel/netlink-xdp.js";
import { getLinkInfo, getProgramInfo } from "../../src/kernel/object-ops.js";
import { loadProgram } from "../../src/kernel/program-ops.js";
import { defaultSys } from "../../src/kernel/sys.js";
import { attachXdp } from "../../src/kernel/xdp-attach.js";
import { attachXdpLink } from "../../src/kernel/xdp-link.js";
import { createVethNs, type VethNs } from "./attach-support.js";
import { leftoverPid } from "./leftovers.js";
import { asm, hasCommand, kernelSkipReason, program } from "./support.js";

const skip =
  kernelSkipReason() ?? (hasCommand("ip") ? undefined : "needs iproute2 (ip) to create a veth pair");

const ip = (...args: string[]): string =>
  execFileSync("ip", args, { encoding: "utf8", stdio: ["ignore", "pipe", "pipe"] });

/**
 * The namespace and both veth ends are named so that the leftovers sweep (leftovers.ts) knows
 * them as this process's, and removes them once it is gone (a test killed before its `finally`).
 */
function assertSweepable(net: VethNs): void {
  const mine = process.pid % 100_000;
  assert.equal(leftoverPid("netns", net.ns), mine, net.ns);
  assert.equal(leftoverPid("veth", net.hostIf), mine, net.hostIf);
  assert.equal(leftoverPid("veth", net.peerIf), mine, net.peerIf);
}

/** The XDP program id iproute2 sees on `dev`, or 0. */
function ipXdpProgId(dev: string): number {
  const [link] = JSON.parse(ip("-j", "-d", "link", "show", "dev", dev)) as {
    xdp?: { prog?: { id: number }; attached?: { prog?: { id: number } }[] };
  }[];
  return link?.xdp?.prog?.id ?? link?.xdp?.attached?.[0]?.prog?.id ?? 0;
}

function errnoOf(f: () => unknown): number | undefined {
  try {
    f();
  } catch (e) {
    if (isLoadError(e)) return e.errno;
    throw e;
  }
  return undefined;
}

test("XDP attach by bpf_link and by netlink on a veth, with queries and refusals", { skip }, () => {
  const net = createVethNs("aa");
  const { hostIf: host } = net;
  const sys = defaultSys();
  const fds: Fd[] = [];
  try {
    assertSweepable(net);
    const ifindex = interfaceIndex(sys, host);
    assert.equal(queryXdp(sys, ifindex).attached, "none");

    const pass = loadProgram(sys, {
      type: ProgType.xdp,
      insns: program(asm.movImm(0, 2), asm.exit()),
      license: "GPL",
      name: "t_xdp_pass",
    }).fd;
    fds.push(pass);
    const other = loadProgram(sys, {
      type: ProgType.xdp,
      insns: program(asm.movImm(0, 2), asm.exit()),
      license: "GPL",
      name: "t_xdp_other",
    }).fd;
    fds.push(other);
    const passId = getProgramInfo(sys, pass.value).id;

    // 1. bpf_link.
    const link = attachXdpLink(sys, pass.value, ifindex);
    fds.push(link);
    let q = queryXdp(sys, ifindex);
    assert.equal(q.attached, "native", "veth attaches in native mode by default");
    assert.equal(q.progId, passId);
    assert.equal(q.nativeProgId, passId);
    assert.equal(ipXdpProgId(host), passId, "iproute2 agrees");
    const li = getLinkInfo(sys, link.value);
    assert.deepEqual([li.progId, li.ifindex], [passId, ifindex]);
    assert.equal(
      errnoOf(() => attachXdpNetlink(sys, ifindex, other.value)),
      Errno.EBUSY,
      "netlink cannot displace a link",
    );
    link.close();
    assert.equal(queryXdp(sys, ifindex).attached, "none", "closing the link detaches");
    assert.equal(ipXdpProgId(host), 0);

    // 2. netlink, native mode.
    attachXdpNetlink(sys, ifindex, pass.value, { mode: "native" });
    q = queryXdp(sys, ifindex);
    assert.deepEqual([q.attached, q.progId], ["native", passId]);
    assert.equal(ipXdpProgId(host), passId);
    let busy: unknown;
    try {
      attachXdpLink(sys, other.value, ifindex).close();
    } catch (e) {
      busy = e;
    }
    assert.ok(
      isLoadError(busy) && busy.errno === Errno.EBUSY,
      "a link fails with EBUSY where netlink attached a program",
    );
    assert.match(busy.hint ?? "", /already attached/);
    let noexist: unknown;
    try {
      attachXdpNetlink(sys, ifindex, other.value, { mode: "native" });
    } catch (e) {
      noexist = e;
    }
    assert.ok(isLoadError(noexist) && noexist.errno === Errno.EBUSY, "UPDATE_IF_NOEXIST refuses to replace");
    assert.match(
      noexist.message,
      /\(XDP program already attached\)/,
      "the kernel's extended ack is in the message",
    );
    assert.equal(queryXdp(sys, ifindex).progId, passId, "the first program is still there");
    assert.equal(
      errnoOf(() => detachXdpNetlink(sys, ifindex, { mode: "native", expectedProgFd: other.value })),
      Errno.EEXIST,
      "detach with the wrong expected program leaves it in place",
    );
    assert.equal(queryXdp(sys, ifindex).progId, passId);
    attachXdpNetlink(sys, ifindex, other.value, {
      mode: "native",
      replace: true,
      expectedProgFd: pass.value,
    });
    assert.equal(
      queryXdp(sys, ifindex).progId,
      getProgramInfo(sys, other.value).id,
      "replace on purpose works",
    );
    detachXdpNetlink(sys, ifindex, { mode: "native", expectedProgFd: other.value });
    assert.equal(queryXdp(sys, ifindex).attached, "none");

    // 3. netlink, generic mode.
    attachXdpNetlink(sys, ifindex, pass.value, { mode: "generic" });
    q = queryXdp(sys, ifindex);
    assert.deepEqual([q.attached, q.genericProgId, q.nativeProgId], ["generic", passId, 0]);
    detachXdpNetlink(sys, ifindex, { mode: "generic" });
    assert.equal(queryXdp(sys, ifindex).attached, "none");
  } finally {
    for (const fd of fds.reverse()) fd.close();
    net.remove();
  }
});

test("netlink requests on a missing interface fail with ENODEV", { skip }, () => {
  const sys = defaultSys();
  assert.equal(
    errnoOf(() => queryXdp(sys, 0x7ffffff0)),
    Errno.ENODEV,
  );
});

test("attachXdp prefers a link, can be told to use netlink, and detaches only its program", { skip }, () => {
  const net = createVethNs("ab");
  const { hostIf: host } = net;
  const sys = defaultSys();
  const fds: Fd[] = [];
  try {
    assertSweepable(net);
    const ifindex = interfaceIndex(sys, host);
    const prog = loadProgram(sys, {
      type: ProgType.xdp,
      insns: program(asm.movImm(0, 2), asm.exit()),
      license: "GPL",
      name: "t_xdp_auto",
    }).fd;
    fds.push(prog);
    const id = getProgramInfo(sys, prog.value).id;

    const viaLink = attachXdp(sys, prog.value, ifindex, { mode: "generic" });
    assert.equal(viaLink.method, "link");
    assert.deepEqual(
      [queryXdp(sys, ifindex).attached, queryXdp(sys, ifindex).genericProgId],
      ["generic", id],
    );
    viaLink.detach();
    viaLink.detach();
    assert.equal(queryXdp(sys, ifindex).attached, "none");

    {
      using viaNetlink = attachXdp(sys, prog.value, ifindex, { method: "netlink" });
      assert.equal(viaNetlink.method, "netlink");
      assert.equal(viaNetlink.link, undefined);
      assert.equal(queryXdp(sys, ifindex).progId, id);
      assert.equal(
        errnoOf(() => attachXdp(sys, prog.value, ifindex)),
        Errno.EBUSY,
        "auto never falls back on EBUSY",
      );
    }
    assert.equal(queryXdp(sys, ifindex).attached, "none", "leaving the using block detached it");
  } finally {
    for (const fd of fds.reverse()) fd.close();
    net.remove();
  }
});
