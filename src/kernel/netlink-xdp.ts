/**
 * XDP attachment through rtnetlink (RTM_SETLINK with IFLA_XDP), the fallback for kernels or
 * drivers without bpf_link support, and the query of what is attached (RTM_GETLINK). Messages
 * are built and parsed here; the socket calls go through {@link Sys}.
 */
import { Errno, XdpFlag, errnoName } from "../abi/index.js";
import { type ErrorContext, LoadError, UsageError } from "../errors.js";
import { errnoHint } from "./errno-hint.js";
import type { Sys } from "./sys.js";
import { loadErrorFrom } from "./wrap-error.js";

const AF_NETLINK = 16;
const SOCK_RAW = 3;
const SOCK_CLOEXEC = 0o2000000;
const NETLINK_ROUTE = 0;
const SOL_SOCKET = 1;
const SO_RCVTIMEO = 20;
const SOL_NETLINK = 270;
const NETLINK_CAP_ACK = 10;
const NETLINK_EXT_ACK = 11;

const NLM_F_REQUEST = 0x1;
const NLM_F_ACK = 0x4;
const NLM_F_ACK_TLVS = 0x200;
const NLMSG_ERROR = 2;
const NLMSGERR_ATTR_MSG = 1;
const NLA_F_NESTED = 0x8000;
const NLA_TYPE_MASK = 0x3fff;

/** rtnetlink message types used here. */
export const Rtm = { NEWLINK: 16, GETLINK: 18, SETLINK: 19 } as const;
/** `IFLA_XDP` and its nested attributes (if_link.h). */
export const IflaXdp = {
  IFLA_XDP: 43,
  FD: 1,
  ATTACHED: 2,
  FLAGS: 3,
  PROG_ID: 4,
  DRV_PROG_ID: 5,
  SKB_PROG_ID: 6,
  HW_PROG_ID: 7,
  EXPECTED_FD: 8,
} as const;

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

function align4(n: number): number {
  return (n + 3) & ~3;
}

/** Builds one netlink attribute: len u16, type u16, payload, padded to 4. */
export function rtattr(type: number, payload: Uint8Array): Uint8Array {
  const out = new Uint8Array(align4(4 + payload.byteLength));
  const v = new DataView(out.buffer);
  v.setUint16(0, 4 + payload.byteLength, true);
  v.setUint16(2, type, true);
  out.set(payload, 4);
  return out;
}

function u32Payload(n: number, signed = false): Uint8Array {
  const b = new Uint8Array(4);
  if (signed) new DataView(b.buffer).setInt32(0, n, true);
  else new DataView(b.buffer).setUint32(0, n >>> 0, true);
  return b;
}

function concat(parts: readonly Uint8Array[]): Uint8Array {
  const out = new Uint8Array(parts.reduce((n, p) => n + p.byteLength, 0));
  let o = 0;
  for (const p of parts) {
    out.set(p, o);
    o += p.byteLength;
  }
  return out;
}

/** Builds an rtnetlink link message: nlmsghdr (16 bytes), ifinfomsg (16 bytes, AF_UNSPEC), then attributes. */
export function linkMessage(
  type: number,
  flags: number,
  seq: number,
  ifindex: number,
  attrs: readonly Uint8Array[],
): Uint8Array {
  const body = concat(attrs);
  const msg = new Uint8Array(32 + body.byteLength);
  const v = new DataView(msg.buffer);
  v.setUint32(0, msg.byteLength, true);
  v.setUint16(4, type, true);
  v.setUint16(6, flags, true);
  v.setUint32(8, seq >>> 0, true);
  v.setUint32(12, 0, true);
  // ifinfomsg: family 0, pad, type 0, index, flags 0, change 0.
  v.setInt32(20, ifindex, true);
  msg.set(body, 32);
  return msg;
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
  return linkMessage(Rtm.SETLINK, NLM_F_REQUEST | NLM_F_ACK, seq, ifindex, [
    rtattr(IflaXdp.IFLA_XDP | NLA_F_NESTED, concat(nested)),
  ]);
}

/** Walks the attributes in `bytes`, calling `fn(type, payload)` for each (nested flag masked off). */
export function forEachAttr(bytes: Uint8Array, fn: (type: number, payload: Uint8Array) => void): void {
  const v = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  let o = 0;
  while (o + 4 <= bytes.byteLength) {
    const len = v.getUint16(o, true);
    if (len < 4 || o + len > bytes.byteLength) break;
    fn(v.getUint16(o + 2, true) & NLA_TYPE_MASK, bytes.subarray(o + 4, o + len));
    o += align4(len);
  }
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

let seqCounter = Math.floor(Date.now() / 1000) & 0xffff;

/** A reply to a request: the messages with our sequence number, or the error it carried. */
export interface NetlinkReply {
  messages: Uint8Array[];
  error: number;
  extAck: string;
}

/** Parses the messages in one datagram and keeps those answering `seq`. */
export function parseReplies(buf: Uint8Array, seq: number, into: NetlinkReply): boolean {
  const v = new DataView(buf.buffer, buf.byteOffset, buf.byteLength);
  let o = 0;
  let done = false;
  while (o + 16 <= buf.byteLength) {
    const len = v.getUint32(o, true);
    if (len < 16 || o + len > buf.byteLength) break;
    const type = v.getUint16(o + 4, true);
    const flags = v.getUint16(o + 6, true);
    if (v.getUint32(o + 8, true) === seq) {
      const msg = buf.subarray(o, o + len);
      if (type === NLMSG_ERROR) {
        into.error = -v.getInt32(o + 16, true);
        if ((flags & NLM_F_ACK_TLVS) !== 0) {
          // With NETLINK_CAP_ACK only the original header follows the error code.
          forEachAttr(msg.subarray(16 + 4 + 16), (t, p) => {
            if (t === NLMSGERR_ATTR_MSG) into.extAck = new TextDecoder().decode(p).replace(/\0.*$/s, "");
          });
        }
        done = true;
      } else {
        into.messages.push(msg.slice());
        done = true;
      }
    }
    o += align4(len);
  }
  return done;
}

/** Sends one rtnetlink request on a fresh socket and collects its reply. */
function request(sys: Sys, build: (seq: number) => Uint8Array, op: string, ctx: ErrorContext): NetlinkReply {
  const seq = ++seqCounter;
  let fd: number;
  try {
    fd = sys.socket(AF_NETLINK, SOCK_RAW | SOCK_CLOEXEC, NETLINK_ROUTE);
  } catch (e) {
    throw loadErrorFrom(e, `${op}: open netlink socket`, ctx);
  }
  try {
    const one = u32Payload(1);
    try {
      sys.setsockopt(fd, SOL_NETLINK, NETLINK_EXT_ACK, one);
      sys.setsockopt(fd, SOL_NETLINK, NETLINK_CAP_ACK, one);
    } catch {
      // Older kernels lack extended acks; the errno alone still works.
    }
    const tv = new Uint8Array(16);
    new DataView(tv.buffer).setBigInt64(0, 5n, true);
    sys.setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, tv);
    const kernel = new Uint8Array(12);
    new DataView(kernel.buffer).setUint16(0, AF_NETLINK, true);
    sys.sendto(fd, build(seq), kernel);
    const reply: NetlinkReply = { messages: [], error: 0, extAck: "" };
    const buf = new Uint8Array(64 * 1024);
    for (let i = 0; i < 64; i++) {
      const n = sys.recv(fd, buf, 0);
      if (parseReplies(buf.subarray(0, n), seq, reply)) return reply;
    }
    throw new LoadError(`${op}: no netlink reply`, ctx);
  } catch (e) {
    throw loadErrorFrom(e, `${op}: netlink`, ctx);
  } finally {
    sys.close(fd);
  }
}

function check(
  reply: NetlinkReply,
  op: string,
  ctx: ErrorContext,
  hints: Partial<Record<number, string>> = {},
): void {
  if (reply.error === 0) return;
  const ack = reply.extAck === "" ? "" : ` (${reply.extAck})`;
  const hint = hints[reply.error] ?? errnoHint(reply.error, op);
  const err = new LoadError(`${op}: ${errnoName(reply.error)}${ack}`, {
    ...ctx,
    ...(hint === undefined ? {} : { hint }),
  });
  err.errno = reply.error;
  throw err;
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
  const reply = request(sys, (seq) => linkMessage(Rtm.GETLINK, NLM_F_REQUEST, seq, ifindex, []), op, {});
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
