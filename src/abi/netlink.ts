/**
 * Numbers of rtnetlink (linux/netlink.h, linux/rtnetlink.h, linux/if_link.h) and of the tc
 * netlink ABI (linux/pkt_sched.h, linux/pkt_cls.h) that the kernel engine's netlink code uses:
 * XDP attach by RTM_SETLINK, and the clsact qdisc and cls_bpf filters of the tc fallback.
 */

/** Socket family, type and protocol of an rtnetlink socket, and the socket options used on it. */
export const NetlinkSocket = {
  AF_NETLINK: 16,
  SOCK_RAW: 3,
  SOCK_CLOEXEC: 0o2000000,
  NETLINK_ROUTE: 0,
  SOL_SOCKET: 1,
  SO_RCVTIMEO: 20,
  SOL_NETLINK: 270,
  NETLINK_CAP_ACK: 10,
  NETLINK_EXT_ACK: 11,
} as const;

/**
 * An interface's index by name, as glibc's if_nametoindex finds it (linux/sockios.h, linux/if.h):
 * `SIOCGIFINDEX` on a datagram socket of any family, with a `struct ifreq` holding the name
 * (`NAMSIZ` bytes with its NUL) and, at `INDEX_OFFSET`, the index the kernel writes.
 */
export const IfReq = {
  AF_UNIX: 1,
  SOCK_DGRAM: 2,
  SIOCGIFINDEX: 0x8933,
  SIZE: 40,
  NAMSIZ: 16,
  INDEX_OFFSET: 16,
} as const;

/** `NLM_F_*`: flags of a netlink message header. Keys drop the `NLM_F_` prefix. */
export const NlmFlag = {
  REQUEST: 0x1,
  MULTI: 0x2,
  ACK: 0x4,
  ECHO: 0x8,
  /** GET requests: the whole table (ROOT | MATCH). */
  DUMP: 0x300,
  /** NEW requests: replace what is there (never used by tsbpf's tc code). */
  REPLACE: 0x100,
  /** NEW requests: fail with EEXIST when the object exists. */
  EXCL: 0x200,
  CREATE: 0x400,
  /** On an NLMSG_ERROR: extended ack attributes follow. */
  ACK_TLVS: 0x200,
} as const;

/** `NLMSG_*` control message types, `NLMSGERR_ATTR_MSG`, and attribute type bits. */
export const Nlmsg = {
  ERROR: 2,
  DONE: 3,
  ERR_ATTR_MSG: 1,
  NLA_F_NESTED: 0x8000,
  NLA_TYPE_MASK: 0x3fff,
} as const;

/** rtnetlink message types (`RTM_*`). */
export const Rtm = {
  NEWLINK: 16,
  GETLINK: 18,
  SETLINK: 19,
  NEWQDISC: 36,
  DELQDISC: 37,
  GETQDISC: 38,
  NEWTFILTER: 44,
  DELTFILTER: 45,
  GETTFILTER: 46,
} as const;

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

/**
 * `IFLA_STATS64` (if_link.h): an interface's counters as `struct rtnl_link_stats64`, u64 each, and
 * the byte offset of the one tsbpf reads (`tx_dropped`, the 8th).
 */
export const IflaStats = {
  IFLA_STATS64: 23,
  TX_DROPPED_OFFSET: 56,
} as const;

/** `TCA_*`: the attributes of a qdisc or filter message (rtnetlink.h) that tsbpf reads or writes. */
export const Tca = { KIND: 1, OPTIONS: 2, CHAIN: 11 } as const;

/** `TCA_BPF_*`: cls_bpf's options (pkt_cls.h), nested in TCA_OPTIONS. */
export const TcaBpf = {
  CLASSID: 3,
  FD: 6,
  NAME: 7,
  FLAGS: 8,
  FLAGS_GEN: 9,
  TAG: 10,
  ID: 11,
} as const;

/** `TCA_BPF_FLAG_ACT_DIRECT`: the program's return value is the tc action (direct-action). */
export const TCA_BPF_FLAG_ACT_DIRECT = 1;

/**
 * tc handles (pkt_sched.h): the clsact qdisc's parent (`TC_H_CLSACT`) and handle (`ffff:`), and
 * the parents of its two filter lists (`TC_H_MIN_INGRESS`, `TC_H_MIN_EGRESS` under `ffff:`).
 */
export const TcHandle = {
  CLSACT_PARENT: 0xfffffff1,
  CLSACT_HANDLE: 0xffff0000,
  INGRESS_PARENT: 0xfffffff2,
  EGRESS_PARENT: 0xfffffff3,
} as const;

/** `ETH_P_ALL` (if_ether.h): a filter for every protocol. tcm_info carries it in network order. */
export const ETH_P_ALL = 0x0003;
