/**
 * XDP attachment through rtnetlink (RTM_SETLINK with IFLA_XDP), the fallback for kernels or
 * drivers without bpf_link support, and the query of what is attached (RTM_GETLINK). The link
 * messages are built and parsed here, on the requests and attributes of netlink.ts.
 */
import { Errno, IflaXdp, Nlmsg, NlmFlag, Rtm, XdpFlag } from "../abi/index.js";
import { UsageError } from "../errors.js";
import {
  checkReply as check,
  concat,
  forEachAttr,
  netlinkMessage,
  netlinkRequest as request,
  rtattr,
  u32Payload,
} from "./netlink.js";
import type { Sys } from "./sys.js";

export { IflaXdp, Rtm } from "../abi/index.js";
export { forEachAttr, type NetlinkReply, parseReplies, rtattr } from "./netlink.js";

/** How an XDP program runs: in the driver, in the generic (skb) path, offloaded to the NIC, or the kernel's choice. */
export type XdpMode = "auto" | "native" | "generic" | "offload";

/** The attach flags for a mode. */
export function xdpModeFlags(mode: XdpMode): number {
  switch (mode) {
    case "native":
      return XdpFlag.DRV_MODE;
    case "generic":
      return XdpFlag.SKB_MODE;
    case "offload":
      return XdpFlag.HW_MODE;
    default:
      return 0;
  }
}

/** Builds an rtnetlink link message: nlmsghdr (16 bytes), ifinfomsg (16 bytes, AF_UNSPEC), then attributes. */
export function linkMessage(
  type: number,
  flags: number,
  seq: number,
  ifindex: number,
  attrs: readonly Uint8Array[],
): Uint8Array {
  // ifinfomsg: family 0, pad, type 0, index, flags 0, change 0.
  const ifinfo = new Uint8Array(16);
  new DataView(ifinfo.buffer).setInt32(4, ifindex, true);
  return netlinkMessage(type, flags, seq, ifinfo, attrs);
}

/**
 * The RTM_SETLINK request that attaches `progFd` (or detaches, with -1). `expectedFd` makes the
 * kernel act only if that program is the one attached now (XDP_FLAGS_REPLACE).
 */
export function setLinkXdpMessage(
  seq: number,
  ifindex: number,
  progFd: number,
  flags: number,
  expectedFd?: number,
): Uint8Array {
  const nested = [rtattr(IflaXdp.FD, u32Payload(progFd, true))];
  let f = flags;
  if (expectedFd !== undefined) {
    f |= XdpFlag.REPLACE;
    nested.push(rtattr(IflaXdp.EXPECTED_FD, u32Payload(expectedFd, true)));
  }
  if (f !== 0) nested.push(rtattr(IflaXdp.FLAGS, u32Payload(f)));
  return linkMessage(Rtm.SETLINK, NlmFlag.REQUEST | NlmFlag.ACK, seq, ifindex, [
    rtattr(IflaXdp.IFLA_XDP | Nlmsg.NLA_F_NESTED, concat(nested)),
  ]);
}

/** What is attached to an interface, from IFLA_XDP. Program ids are 0 when none. */
export interface XdpAttachment {
  /** `XDP_ATTACHED_*`: how the program (or programs, "multi") is attached. */
  attached: "none" | "native" | "generic" | "offload" | "multi";
  /** The attached program's id when exactly one is attached. */
  progId: number;
  nativeProgId: number;
  genericProgId: number;
  offloadProgId: number;
}

/** Parses the payload of an IFLA_XDP attribute. */
export function parseXdpAttr(payload: Uint8Array): XdpAttachment {
  const r: XdpAttachment = {
    attached: "none",
    progId: 0,
    nativeProgId: 0,
    genericProgId: 0,
    offloadProgId: 0,
  };
  const modes = ["none", "native", "generic", "offload", "multi"] as const;
  forEachAttr(payload, (type, p) => {
    const v = new DataView(p.buffer, p.byteOffset, p.byteLength);
    if (type === IflaXdp.ATTACHED && p.byteLength >= 1) r.attached = modes[v.getUint8(0)] ?? "none";
    if (p.byteLength < 4) return;
    const n = v.getUint32(0, true);
    if (type === IflaXdp.PROG_ID) r.progId = n;
    else if (type === IflaXdp.DRV_PROG_ID) r.nativeProgId = n;
    else if (type === IflaXdp.SKB_PROG_ID) r.genericProgId = n;
    else if (type === IflaXdp.HW_PROG_ID) r.offloadProgId = n;
  });
  if (r.progId === 0) r.progId = r.nativeProgId || r.genericProgId || r.offloadProgId;
  return r;
}

function checkIfindex(ifindex: number): void {
  if (!Number.isInteger(ifindex) || ifindex <= 0) throw new UsageError(`invalid interface index ${ifindex}`);
}

/** Options of {@link attachXdpNetlink}. */
export interface NetlinkAttachOptions {
  mode?: XdpMode;
  /**
   * Replace whatever program is attached. Off by default: the request then carries
   * XDP_FLAGS_UPDATE_IF_NOEXIST, so another tool's program is never replaced by accident.
   */
  replace?: boolean;
  /** With `replace`, only replace if this program fd is the one attached now. */
  expectedProgFd?: number;
}

/** Attaches `progFd` to `ifindex` through netlink. Throws LoadError(EBUSY) when a program is already there. */
export function attachXdpNetlink(
  sys: Sys,
  ifindex: number,
  progFd: number,
  opts: NetlinkAttachOptions = {},
): void {
  checkIfindex(ifindex);
  const op = `attach XDP by netlink to ifindex ${ifindex}`;
  let flags = xdpModeFlags(opts.mode ?? "auto");
  if (opts.replace !== true) flags |= XdpFlag.UPDATE_IF_NOEXIST;
  const expected = opts.replace === true ? opts.expectedProgFd : undefined;
  const reply = request(sys, (seq) => setLinkXdpMessage(seq, ifindex, progFd, flags, expected), op, {});
  check(
    reply,
    op,
    {},
    {
      [Errno.EBUSY]:
        "an XDP program is already attached to this interface; pass replace: true to replace it on purpose",
      [Errno.EEXIST]:
        "a program is attached in another mode (native and generic cannot be active together), or not the expected one",
    },
  );
}

/**
 * Detaches the XDP program in `mode` from `ifindex`. With `expectedProgFd` it only detaches if
 * that program is the attached one (EEXIST otherwise), so it never removes someone else's program.
 */
export function detachXdpNetlink(
  sys: Sys,
  ifindex: number,
  opts: { mode?: XdpMode; expectedProgFd?: number } = {},
): void {
  checkIfindex(ifindex);
  const op = `detach XDP by netlink from ifindex ${ifindex}`;
  const reply = request(
    sys,
    (seq) => setLinkXdpMessage(seq, ifindex, -1, xdpModeFlags(opts.mode ?? "auto"), opts.expectedProgFd),
    op,
    {},
  );
  check(
    reply,
    op,
    {},
    { [Errno.EEXIST]: "the attached program is not the expected one; it was left in place" },
  );
}

/** Asks the kernel what XDP program is attached to `ifindex` (RTM_GETLINK, IFLA_XDP). */
export function queryXdp(sys: Sys, ifindex: number): XdpAttachment {
  checkIfindex(ifindex);
  const op = `query XDP on ifindex ${ifindex}`;
  const reply = request(sys, (seq) => linkMessage(Rtm.GETLINK, NlmFlag.REQUEST, seq, ifindex, []), op, {});
  check(reply, op, {});
  let found: XdpAttachment = {
    attached: "none",
    progId: 0,
    nativeProgId: 0,
    genericProgId: 0,
    offloadProgId: 0,
  };
  for (const msg of reply.messages) {
    forEachAttr(msg.subarray(32), (type, payload) => {
      if (type === IflaXdp.IFLA_XDP) found = parseXdpAttr(payload);
    });
  }
  return found;
}

/**
 * The index of interface `name` in the calling thread's network namespace; throws UsageError
 * when there is none. `netns` names that namespace in the message.
 */
export function interfaceIndex(sys: Sys, name: string, netns?: string): number {
  const i = sys.ifNameToIndex(name);
  if (i === 0) {
    const where = netns === undefined ? "" : ` in network namespace '${netns}'`;
    throw new UsageError(`no network interface named ${JSON.stringify(name)}${where}`, {
      hint:
        netns === undefined ? "`ip link` lists the interfaces" : `\`ip -n ${netns} link\` lists them there`,
    });
  }
  return i;
}
