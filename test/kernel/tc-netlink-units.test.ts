/**
 * The tc netlink fallback without a kernel: its messages byte by byte against the layouts of
 * rtnetlink.h (struct tcmsg) and pkt_cls.h (TCA_BPF_*), a filter dump parsed, dumps collected up
 * to NLMSG_DONE, the tcx probe (cached, EPERM not taken for an answer), and attachTc choosing a
 * tcx link or a filter from it.
 */
import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { test } from "node:test";
import { BpfCmd, Errno } from "../../src/abi/index.js";
import { isLoadError, NotSupportedError } from "../../src/errors.js";
import { probeTcx } from "../../src/kernel/features.js";
import { Fd } from "../../src/kernel/fd.js";
import { KernelProgram } from "../../src/kernel/kernel-program.js";
import { type NetlinkReply, netlinkMessage, parseReplies, rtattr } from "../../src/kernel/netlink.js";
import {
  bpfFilterMessage,
  clsactMessage,
  deleteFilterMessage,
  dumpFiltersMessage,
  parseFilterMessage,
  tcMessage,
} from "../../src/kernel/tc-netlink.js";
import { loadCollectionSpec } from "../../src/object/load-collection-spec.js";
import { fakeSys } from "./support.js";

const hex = (b: Uint8Array): string => Buffer.from(b).toString("hex");
const u32 = (n: number) => new Uint8Array(new Uint32Array([n]).buffer);
const str = (s: string) => new TextEncoder().encode(`${s}\0`);

test("RTM_NEWTFILTER: create-exclusive, tcmsg with the clsact ingress parent and prio/ETH_P_ALL, direct-action cls_bpf options", () => {
  const msg = bpfFilterMessage(
    0x01020304,
    { ifindex: 7, hook: "ingress", prio: 0x12, handle: 5 },
    9,
    "tsbpf:x",
  );
  // nlmsghdr: len 76, RTM_NEWTFILTER 44, REQUEST|ACK|EXCL|CREATE (0x605), seq, port 0.
  assert.equal(hex(msg.subarray(0, 16)), "4c0000002c0005060403020100000000");
  // tcmsg: AF_UNSPEC + pad, ifindex 7, handle 5, parent ffff:fff2, info = prio 0x12 << 16 | htons(ETH_P_ALL).
  assert.equal(hex(msg.subarray(16, 36)), "000000000700000005000000f2ffffff00031200");
  // TCA_KIND "bpf", then TCA_OPTIONS | NLA_F_NESTED: TCA_BPF_FD 9, TCA_BPF_NAME, TCA_BPF_FLAGS ACT_DIRECT.
  assert.equal(hex(msg.subarray(36, 44)), "0800010062706600");
  assert.equal(
    hex(msg.subarray(44)),
    `20000280${"0800060009000000"}${"0c00070074736270663a7800"}${"0800080001000000"}`,
  );
  assert.equal(msg.byteLength, 76);
  // Egress: parent ffff:fff3.
  const eg = bpfFilterMessage(1, { ifindex: 7, hook: "egress", prio: 1, handle: 1 }, 9, "tsbpf:x");
  assert.equal(hex(eg.subarray(28, 32)), "f3ffffff");
});

test("RTM_NEWTFILTER to replace our filter's program: NLM_F_REPLACE without CREATE or EXCL, same place and options", () => {
  const at = { ifindex: 7, hook: "ingress" as const, prio: 0x12, handle: 5 };
  const add = bpfFilterMessage(3, at, 9, "tsbpf:x");
  const rep = bpfFilterMessage(3, at, 9, "tsbpf:x", true);
  // REQUEST|ACK|REPLACE (0x105): a filter gone meanwhile is ENOENT, never created again.
  assert.equal(hex(rep.subarray(6, 8)), "0501");
  assert.equal(hex(rep.subarray(8)), hex(add.subarray(8)));
});

test("clsact qdisc: created only when absent (NLM_F_EXCL), deleted by kind; a filter deleted by prio and handle", () => {
  const add = clsactMessage(36, 1, 3);
  // RTM_NEWQDISC, REQUEST|ACK|EXCL|CREATE; handle ffff:0000, parent ffff:fff1 (TC_H_CLSACT); TCA_KIND "clsact".
  assert.equal(hex(add.subarray(4, 8)), "24000506");
  assert.equal(hex(add.subarray(16, 36)), "00000000030000000000ffff f1ffffff00000000".replace(" ", ""));
  assert.equal(hex(add.subarray(36)), `0b000100${hex(str("clsact"))}00`);
  const del = clsactMessage(37, 1, 3);
  assert.equal(hex(del.subarray(4, 8)), "25000500", "RTM_DELQDISC, REQUEST|ACK only");
  const df = deleteFilterMessage(2, { ifindex: 3, hook: "egress", prio: 49153, handle: 1 });
  assert.equal(hex(df.subarray(4, 8)), "2d000500", "RTM_DELTFILTER, REQUEST|ACK");
  assert.equal(hex(df.subarray(16, 36)), "000000000300000001000000f3ffffff0003 01c0".replace(" ", ""));
  const dump = dumpFiltersMessage(3, 3, "ingress");
  assert.equal(hex(dump.subarray(4, 8)), "2e000103", "RTM_GETTFILTER, REQUEST|DUMP");
  assert.equal(dump.byteLength, 36, "no attributes");
});

/** A RTM_NEWTFILTER message as the kernel sends it in a dump. */
function filterReply(seq: number, prio: number, handle: number, attrs: Uint8Array[]): Uint8Array {
  const m = tcMessage(
    44,
    0x2,
    seq,
    { ifindex: 3, handle, parent: 0xfffffff2, info: (prio << 16) | 0x0300 },
    attrs,
  );
  return m;
}

test("a filter of a dump parsed: kind, priority, handle, protocol, chain, and cls_bpf's id, name and flags", () => {
  const options = new Uint8Array([
    ...rtattr(11, u32(42)),
    ...rtattr(7, str("tc_dispatch.bpf.o:[tc]")),
    ...rtattr(8, u32(1)),
    ...rtattr(10, new Uint8Array(8)),
  ]);
  const m = filterReply(1, 49152, 1, [
    rtattr(1, str("bpf")),
    rtattr(11, u32(0)),
    rtattr(2 | 0x8000, options),
  ]);
  assert.deepEqual(parseFilterMessage(m), {
    kind: "bpf",
    prio: 49152,
    handle: 1,
    protocol: 3,
    chain: 0,
    progId: 42,
    name: "tc_dispatch.bpf.o:[tc]",
    directAction: true,
  });
  // Another classifier: no bpf fields; a chain other than 0 is read.
  const u = filterReply(1, 2, 0x800, [rtattr(1, str("u32")), rtattr(11, u32(4))]);
  assert.deepEqual(parseFilterMessage(u), { kind: "u32", prio: 2, handle: 0x800, protocol: 3, chain: 4 });
});

test("a dump is collected over several datagrams up to NLMSG_DONE, whose error is kept", () => {
  const a = filterReply(42, 1, 1, [rtattr(1, str("bpf"))]);
  const b = filterReply(42, 2, 1, [rtattr(1, str("bpf"))]);
  const other = filterReply(41, 3, 1, [rtattr(1, str("bpf"))]);
  const reply: NetlinkReply = { messages: [], error: 0, extAck: "" };
  assert.equal(parseReplies(new Uint8Array([...a, ...other]), 42, reply), false, "NLM_F_MULTI: more to come");
  assert.equal(parseReplies(b, 42, reply), false);
  const done = netlinkMessage(3, 0x2, 42, u32(0), []);
  assert.equal(parseReplies(done, 42, reply), true);
  assert.deepEqual(
    reply.messages.map((m) => parseFilterMessage(m).prio),
    [1, 2],
  );
  assert.equal(reply.error, 0);
  const failed: NetlinkReply = { messages: [], error: 0, extAck: "" };
  assert.equal(
    parseReplies(netlinkMessage(3, 0x2, 7, new Uint8Array(new Int32Array([-22]).buffer), []), 7, failed),
    true,
  );
  assert.equal(failed.error, 22);
});

test("probeTcx: a BPF_PROG_QUERY of lo's tcx ingress, asked once; EINVAL is no tcx, EPERM is thrown", () => {
  const none = fakeSys((cmd) => (cmd === BpfCmd.PROG_QUERY ? { errno: Errno.EINVAL } : 0));
  assert.equal(probeTcx(none.sys), false);
  assert.equal(probeTcx(none.sys), false);
  assert.equal(none.calls.length, 1, "cached");
  const q = new DataView(none.calls[0]?.attr.buffer ?? new ArrayBuffer(8));
  assert.deepEqual([q.getUint32(0, true), q.getUint32(4, true)], [1, 46], "ifindex 1 (lo), BPF_TCX_INGRESS");
  assert.equal(probeTcx(fakeSys(() => 0).sys), true);
  assert.equal(
    probeTcx(fakeSys(() => ({ errno: Errno.ENOSPC })).sys),
    true,
    "more programs than room: tcx is there",
  );
  assert.throws(
    () => probeTcx(fakeSys(() => ({ errno: Errno.EPERM })).sys),
    (e: unknown) => isLoadError(e) && e.errno === Errno.EPERM,
  );
});

test("attachTc: auto takes a tcx link where the probe finds tcx and a netlink filter where not; tcx forced on a kernel without it says to use a filter", async () => {
  const spec = loadCollectionSpec(new Uint8Array(readFileSync("test/bpf/tc/tc_dispatch.bpf.o")), {
    file: "t.o",
  });
  const progSpec = spec.programs.tc_main;
  assert.ok(progSpec !== undefined);
  const owner = { prints: false, adoptLink: () => undefined, netns: undefined };
  const program = (hasTcx: boolean) => {
    const f = fakeSys((cmd) => {
      if (cmd === BpfCmd.PROG_QUERY) return hasTcx ? 0 : { errno: Errno.EINVAL };
      if (cmd === BpfCmd.LINK_CREATE) return hasTcx ? 77 : { errno: Errno.EINVAL };
      return 0;
    });
    return { ...f, prog: new KernelProgram(f.sys, new Fd(f.sys, 5, "prog"), progSpec, owner) };
  };
  const withTcx = program(true);
  const link = await withTcx.prog.attachTc({ ifindex: 3, hook: "ingress" });
  assert.equal(link.method, "link");
  assert.deepEqual(
    withTcx.calls.map((c) => c.cmd),
    [BpfCmd.PROG_QUERY, BpfCmd.LINK_CREATE],
  );
  // No tcx: the filter path, whose first step is netlink (this fake has no sockets).
  const without = program(false);
  await assert.rejects(
    without.prog.attachTc({ ifindex: 3, hook: "ingress" }),
    (e: unknown) =>
      isLoadError(e) && /^create the clsact qdisc of ifindex 3: open netlink socket: EPERM/.test(e.message),
  );
  assert.equal(without.calls.filter((c) => c.cmd === BpfCmd.LINK_CREATE).length, 0, "no tcx link tried");
  // Mode filter on a tcx kernel: no probe, no link.
  const forced = program(true);
  await assert.rejects(
    forced.prog.attachTc({ ifindex: 3, hook: "egress", mode: "filter" }),
    /create the clsact qdisc/,
  );
  assert.deepEqual(
    forced.calls.map((c) => c.cmd),
    [BpfCmd.OBJ_GET_INFO_BY_FD],
  );
  // Mode tcx on a kernel without it: a NotSupportedError whose hint names the filter mode.
  await assert.rejects(
    program(false).prog.attachTc({ ifindex: 3, hook: "ingress", mode: "tcx" }),
    (e: unknown) => e instanceof NotSupportedError && /--tc-mode filter/.test(e.hint ?? ""),
  );
  await assert.rejects(
    program(true).prog.attachTc({ ifindex: 3, hook: "ingress", mode: "fliter" as "filter" }),
    /attachTc: mode must be auto, tcx or filter, not 'fliter'/,
  );
});
