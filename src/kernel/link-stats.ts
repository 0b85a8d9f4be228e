/**
 * An interface's counters as rtnetlink reports them (RTM_GETLINK, IFLA_STATS64), asked in the
 * calling thread's network namespace: sysfs shows only the namespace it was mounted in.
 */
import { IflaStats, NlmFlag, Rtm } from "../abi/index.js";
import { checkReply, forEachAttr, netlinkRequest } from "./netlink.js";
import { linkMessage } from "./netlink-xdp.js";
import type { Sys } from "./sys.js";

/**
 * The transmit drops of interface `ifindex` (`tx_dropped` of `ip -s link`). A veth counts there
 * the XDP frames its peer refused because the peer's ring was full (drivers/net/veth.c).
 */
export function linkTxDropped(sys: Sys, ifindex: number): bigint {
  const op = `read the counters of ifindex ${ifindex}`;
  const reply = netlinkRequest(
    sys,
    (seq) => linkMessage(Rtm.GETLINK, NlmFlag.REQUEST, seq, ifindex, []),
    op,
    {},
  );
  checkReply(reply, op, {});
  let dropped: bigint | undefined;
  for (const msg of reply.messages) {
    forEachAttr(msg.subarray(32), (type, payload) => {
      if (type === IflaStats.IFLA_STATS64 && payload.byteLength >= IflaStats.TX_DROPPED_OFFSET + 8) {
        dropped = new DataView(payload.buffer, payload.byteOffset, payload.byteLength).getBigUint64(
          IflaStats.TX_DROPPED_OFFSET,
          true,
        );
      }
    });
  }
  return dropped ?? 0n;
}
