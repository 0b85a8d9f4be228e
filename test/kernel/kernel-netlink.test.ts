/** rtnetlink message building and parsing for XDP, checked byte by byte against if_link.h's layout. */
import assert from "node:assert/strict";
import { test } from "node:test";
import {
  linkMessage,
  type NetlinkReply,
  parseReplies,
  parseXdpAttr,
  rtattr,
  setLinkXdpMessage,
} from "../../src/kernel/netlink-xdp.js";

const hex = (b: Uint8Array): string => Buffer.from(b).toString("hex");

test("RTM_SETLINK for XDP: header, ifinfomsg, nested IFLA_XDP with fd, expected fd and flags", () => {
  const msg = setLinkXdpMessage(0x01020304, 7, 5, 1 << 2, 9);
  // nlmsghdr: len 60, RTM_SETLINK 19, NLM_F_REQUEST|NLM_F_ACK, seq, pid 0.
  assert.equal(hex(msg.subarray(0, 16)), "3c000000130005000403020100000000");
  // ifinfomsg: AF_UNSPEC, index 7.
  assert.equal(hex(msg.subarray(16, 32)), "00000000070000000000000000000000");
  // IFLA_XDP (43) | NLA_F_NESTED, 28 bytes: FD=5, EXPECTED_FD=9, FLAGS=DRV_MODE|REPLACE (0x14).
  assert.equal(hex(msg.subarray(32)), `1c002b80${"080001000500000008000800090000000800030014000000"}`);
  assert.equal(msg.byteLength, 60);
});

test("a detach request carries fd -1 and no flags attribute in auto mode", () => {
  const msg = setLinkXdpMessage(1, 3, -1, 0);
  assert.equal(hex(msg.subarray(32)), "0c002b8008000100ffffffff");
});

test("rtattr pads to 4 bytes but records the unpadded length", () => {
  assert.equal(hex(rtattr(2, new Uint8Array([1]))), "0500020001000000");
});

test("parseReplies: an error with an extended ack message, and messages of other sequences ignored", () => {
  const other = linkMessage(16, 0, 41, 1, []);
  // NLMSG_ERROR for seq 42: error -16 (EBUSY), capped original header, then NLMSGERR_ATTR_MSG.
  const text = new TextEncoder().encode("XDP program already attached.\0");
  const tlv = rtattr(1, text);
  const err = new Uint8Array(16 + 4 + 16 + tlv.byteLength);
  const v = new DataView(err.buffer);
  v.setUint32(0, err.byteLength, true);
  v.setUint16(4, 2, true);
  v.setUint16(6, 0x100 | 0x200, true);
  v.setUint32(8, 42, true);
  v.setInt32(16, -16, true);
  err.set(tlv, 36);
  const datagram = new Uint8Array(other.byteLength + err.byteLength);
  datagram.set(other);
  datagram.set(err, other.byteLength);
  const reply: NetlinkReply = { messages: [], error: 0, extAck: "" };
  assert.equal(parseReplies(datagram, 42, reply), true);
  assert.deepEqual(reply, { messages: [], error: 16, extAck: "XDP program already attached." });
  const none: NetlinkReply = { messages: [], error: 0, extAck: "" };
  assert.equal(parseReplies(datagram, 43, none), false);
});

test("parseXdpAttr reads the attach mode and program ids", () => {
  const u32 = (n: number) => new Uint8Array(new Uint32Array([n]).buffer);
  const payload = new Uint8Array([
    ...rtattr(2, new Uint8Array([2])),
    ...rtattr(4, u32(77)),
    ...rtattr(6, u32(77)),
  ]);
  assert.deepEqual(parseXdpAttr(payload), {
    attached: "generic",
    progId: 77,
    nativeProgId: 0,
    genericProgId: 77,
    offloadProgId: 0,
  });
  assert.equal(parseXdpAttr(new Uint8Array([...rtattr(2, new Uint8Array([0]))])).attached, "none");
});
