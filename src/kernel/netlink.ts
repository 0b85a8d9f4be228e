/**
 * rtnetlink, the one home of tsbpf's netlink code: attributes built and walked, requests sent on
 * a fresh NETLINK_ROUTE socket (in the calling thread's network namespace), their replies and
 * dumps collected, and errors turned into typed ones with the kernel's extended ack. XDP
 * (netlink-xdp.ts) and tc (tc-netlink.ts) build their messages on it; the socket calls go through
 * {@link Sys}, the numbers come from src/abi/netlink.ts.
 */
import { errnoName, NetlinkSocket, Nlmsg, NlmFlag } from "../abi/index.js";
import { type ErrorContext, LoadError } from "../errors.js";
import { errnoHint } from "./errno-hint.js";
import type { Sys } from "./sys.js";
import { loadErrorFrom } from "./wrap-error.js";

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

/** A u32 attribute payload (little-endian, as netlink carries host-order numbers); `signed` for fds. */
export function u32Payload(n: number, signed = false): Uint8Array {
  const b = new Uint8Array(4);
  if (signed) new DataView(b.buffer).setInt32(0, n, true);
  else new DataView(b.buffer).setUint32(0, n >>> 0, true);
  return b;
}

/** A NUL-terminated string attribute payload. */
export function stringPayload(s: string): Uint8Array {
  return new TextEncoder().encode(`${s}\0`);
}

/** The string in an attribute payload, up to its NUL. */
export function payloadString(p: Uint8Array): string {
  const nul = p.indexOf(0);
  return new TextDecoder().decode(nul < 0 ? p : p.subarray(0, nul));
}

/** The u32 in an attribute payload, or undefined when it is shorter than 4 bytes. */
export function payloadU32(p: Uint8Array): number | undefined {
  return p.byteLength < 4 ? undefined : new DataView(p.buffer, p.byteOffset, 4).getUint32(0, true);
}

/** Concatenates byte strings. */
export function concat(parts: readonly Uint8Array[]): Uint8Array {
  const out = new Uint8Array(parts.reduce((n, p) => n + p.byteLength, 0));
  let o = 0;
  for (const p of parts) {
    out.set(p, o);
    o += p.byteLength;
  }
  return out;
}

/**
 * Builds a netlink message: nlmsghdr (16 bytes: length, `type`, `flags`, `seq`, port 0), the
 * family header `header` (ifinfomsg, tcmsg...), then the attributes.
 */
export function netlinkMessage(
  type: number,
  flags: number,
  seq: number,
  header: Uint8Array,
  attrs: readonly Uint8Array[],
): Uint8Array {
  const body = concat([header, ...attrs]);
  const msg = new Uint8Array(16 + body.byteLength);
  const v = new DataView(msg.buffer);
  v.setUint32(0, msg.byteLength, true);
  v.setUint16(4, type, true);
  v.setUint16(6, flags, true);
  v.setUint32(8, seq >>> 0, true);
  v.setUint32(12, 0, true);
  msg.set(body, 16);
  return msg;
}

/** Walks the attributes in `bytes`, calling `fn(type, payload)` for each (nested flag masked off). */
export function forEachAttr(bytes: Uint8Array, fn: (type: number, payload: Uint8Array) => void): void {
  const v = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  let o = 0;
  while (o + 4 <= bytes.byteLength) {
    const len = v.getUint16(o, true);
    if (len < 4 || o + len > bytes.byteLength) break;
    fn(v.getUint16(o + 2, true) & Nlmsg.NLA_TYPE_MASK, bytes.subarray(o + 4, o + len));
    o += align4(len);
  }
}

/** A reply to a request: the messages with our sequence number, or the error it carried. */
export interface NetlinkReply {
  messages: Uint8Array[];
  error: number;
  extAck: string;
}

function readExtAck(msg: Uint8Array, from: number, into: NetlinkReply): void {
  forEachAttr(msg.subarray(from), (t, p) => {
    if (t === Nlmsg.ERR_ATTR_MSG) into.extAck = payloadString(p);
  });
}

/**
 * Parses the messages in one datagram and keeps those answering `seq`; true once the answer is
 * complete: an error or ack, a single reply, or the NLMSG_DONE that ends a dump (whose parts
 * carry NLM_F_MULTI).
 */
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
      if (type === Nlmsg.ERROR) {
        into.error = -v.getInt32(o + 16, true) | 0;
        // With NETLINK_CAP_ACK only the original header follows the error code.
        if ((flags & NlmFlag.ACK_TLVS) !== 0) readExtAck(msg, 16 + 4 + 16, into);
        done = true;
      } else if (type === Nlmsg.DONE) {
        // A dump's end: an error code, then (with extended acks) its message.
        if (len >= 20) into.error = -v.getInt32(o + 16, true) | 0;
        if ((flags & NlmFlag.ACK_TLVS) !== 0) readExtAck(msg, 20, into);
        done = true;
      } else {
        into.messages.push(msg.slice());
        if ((flags & NlmFlag.MULTI) === 0) done = true;
      }
    }
    o += align4(len);
  }
  return done;
}

let seqCounter = Math.floor(Date.now() / 1000) & 0xffff;

/**
 * Sends one rtnetlink request on a fresh socket (so in the calling thread's network namespace)
 * and collects its reply: the messages of a dump up to NLMSG_DONE, or the ack. Transport failures
 * throw; the kernel's answer, error included, is returned for {@link checkReply}.
 */
export function netlinkRequest(
  sys: Sys,
  build: (seq: number) => Uint8Array,
  op: string,
  ctx: ErrorContext = {},
): NetlinkReply {
  const S = NetlinkSocket;
  const seq = ++seqCounter;
  let fd: number;
  try {
    fd = sys.socket(S.AF_NETLINK, S.SOCK_RAW | S.SOCK_CLOEXEC, S.NETLINK_ROUTE);
  } catch (e) {
    throw loadErrorFrom(e, `${op}: open netlink socket`, ctx);
  }
  try {
    const one = u32Payload(1);
    try {
      sys.setsockopt(fd, S.SOL_NETLINK, S.NETLINK_EXT_ACK, one);
      sys.setsockopt(fd, S.SOL_NETLINK, S.NETLINK_CAP_ACK, one);
    } catch {
      // Older kernels lack extended acks; the errno alone still works.
    }
    const tv = new Uint8Array(16);
    new DataView(tv.buffer).setBigInt64(0, 5n, true);
    sys.setsockopt(fd, S.SOL_SOCKET, S.SO_RCVTIMEO, tv);
    const kernel = new Uint8Array(12);
    new DataView(kernel.buffer).setUint16(0, S.AF_NETLINK, true);
    sys.sendto(fd, build(seq), kernel);
    const reply: NetlinkReply = { messages: [], error: 0, extAck: "" };
    const buf = new Uint8Array(64 * 1024);
    // A dump comes in as many datagrams as it needs; each recv waits at most SO_RCVTIMEO.
    for (let i = 0; i < 4096; i++) {
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

/**
 * Throws a LoadError (with `errno` set) when the kernel refused the request: `op`, the errno's
 * name, the extended ack when there is one, and the hint for that errno.
 */
export function checkReply(
  reply: NetlinkReply,
  op: string,
  ctx: ErrorContext = {},
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
