import type { AddressInput } from "./address.js";

/** Ethertypes tsbpf knows by name. */
export const ETH_P = { IPV4: 0x0800, ARP: 0x0806, VLAN: 0x8100, QINQ: 0x88a8, IPV6: 0x86dd } as const;
/** IP protocol / IPv6 next-header numbers tsbpf knows by name. */
export const IPPROTO = {
  HOPOPTS: 0,
  ICMP: 1,
  IPIP: 4,
  TCP: 6,
  UDP: 17,
  IPV6: 41,
  ROUTING: 43,
  FRAGMENT: 44,
  ICMPV6: 58,
  NONE: 59,
  DSTOPTS: 60,
} as const;

/** Ethernet II header; `type` defaults to the next layer's ethertype. */
export interface EthLayer {
  kind: "eth";
  src?: AddressInput;
  dst?: AddressInput;
  type?: number;
}
/** One 802.1Q (0x8100) or 802.1ad (0x88a8) tag; its `type` is the inner ethertype. */
export interface VlanLayer {
  kind: "vlan";
  vid: number;
  pcp?: number;
  dei?: boolean;
  /** The TPID this tag is announced with by the layer before it (default 0x8100; QinQ outer 0x88a8). */
  tpid?: number;
  type?: number;
}
/** ARP for Ethernet/IPv4. */
export interface ArpLayer {
  kind: "arp";
  /** 1 request, 2 reply; or the names. */
  op?: number | "request" | "reply";
  senderMac?: AddressInput;
  senderIp?: AddressInput;
  targetMac?: AddressInput;
  targetIp?: AddressInput;
}
/** IPv4 header. Lengths, protocol and checksum are filled in unless given. */
export interface Ipv4Layer {
  kind: "ipv4";
  src: AddressInput;
  dst: AddressInput;
  tos?: number;
  id?: number;
  /** Flag bits as a number (DF 2, MF 1) or letters: "DF", "MF". */
  flags?: number | string;
  /** Fragment offset in 8-byte units. */
  fragOffset?: number;
  ttl?: number;
  protocol?: number;
  /** Raw options; padded with zeros (EOL) to a multiple of 4. */
  options?: Uint8Array;
  totalLength?: number;
  ihl?: number;
  checksum?: number;
}
/** IPv6 header; `nextHeader` and `payloadLength` default from what follows. */
export interface Ipv6Layer {
  kind: "ipv6";
  src: AddressInput;
  dst: AddressInput;
  trafficClass?: number;
  flowLabel?: number;
  hopLimit?: number;
  nextHeader?: number;
  payloadLength?: number;
}
/** An IPv6 extension header: hop-by-hop, destination options, routing, or fragment. */
export interface Ipv6ExtLayer {
  kind: "ipv6-ext";
  type: "hop-by-hop" | "dest-opts" | "routing" | "fragment";
  nextHeader?: number;
  /** Options / routing data after the first 2 bytes (padded with PadN to a multiple of 8). */
  data?: Uint8Array;
  /** Fragment header fields. */
  fragOffset?: number;
  more?: boolean;
  identification?: number;
}
/** A TCP option by name, or raw bytes. */
export type TcpOption =
  | { kind: "nop" }
  | { kind: "eol" }
  | { kind: "mss"; value: number }
  | { kind: "wscale"; value: number }
  | { kind: "sack-ok" }
  | { kind: "timestamp"; value: number; echo: number }
  | { kind: "raw"; bytes: Uint8Array };
/** TCP header. `flags` is letters as tcpdump prints them ("S", "S.", "FPU", "A" = ".") or a number. */
export interface TcpLayer {
  kind: "tcp";
  sport?: number;
  dport?: number;
  seq?: number;
  ack?: number;
  flags?: string | number;
  window?: number;
  urgent?: number;
  options?: TcpOption[] | Uint8Array;
  dataOffset?: number;
  checksum?: number;
}
/** UDP header; `checksum` 0 means none (IPv4 only). */
export interface UdpLayer {
  kind: "udp";
  sport?: number;
  dport?: number;
  length?: number;
  checksum?: number;
}
/** The fields ICMP and ICMPv6 share; `rest` is the 4 bytes after the checksum unless `id`/`seq` are given. */
export interface IcmpFields {
  type?: number;
  code?: number;
  id?: number;
  seq?: number;
  rest?: Uint8Array;
  checksum?: number;
}
/** ICMP (v4) message. */
export interface IcmpLayer extends IcmpFields {
  kind: "icmp";
}
/** ICMPv6 message (checksum covers the IPv6 pseudo-header). */
export interface Icmpv6Layer extends IcmpFields {
  kind: "icmpv6";
}
/** Raw bytes appended as-is. */
export interface PayloadLayer {
  kind: "payload";
  bytes: Uint8Array;
}

/** Any layer {@link buildPacket} understands. */
export type Layer =
  | EthLayer
  | VlanLayer
  | ArpLayer
  | Ipv4Layer
  | Ipv6Layer
  | Ipv6ExtLayer
  | TcpLayer
  | UdpLayer
  | IcmpLayer
  | Icmpv6Layer
  | PayloadLayer;

type Fields<T> = Omit<T, "kind">;

/** An Ethernet header. */
export const eth = (f: Fields<EthLayer> = {}): EthLayer => ({ kind: "eth", ...f });
/** An 802.1Q tag (put two for QinQ: the outer one gets TPID 0x88a8 automatically). */
export const vlan = (f: Fields<VlanLayer>): VlanLayer => ({ kind: "vlan", ...f });
/** An ARP message. */
export const arp = (f: Fields<ArpLayer> = {}): ArpLayer => ({ kind: "arp", ...f });
/** An IPv4 header. */
export const ipv4 = (f: Fields<Ipv4Layer>): Ipv4Layer => ({ kind: "ipv4", ...f });
/** An IPv6 header. */
export const ipv6 = (f: Fields<Ipv6Layer>): Ipv6Layer => ({ kind: "ipv6", ...f });
/** An IPv6 extension header. */
export const ipv6Ext = (f: Fields<Ipv6ExtLayer>): Ipv6ExtLayer => ({ kind: "ipv6-ext", ...f });
/** A TCP header. */
export const tcp = (f: Fields<TcpLayer> = {}): TcpLayer => ({ kind: "tcp", ...f });
/** A UDP header. */
export const udp = (f: Fields<UdpLayer> = {}): UdpLayer => ({ kind: "udp", ...f });
/** An ICMP message (default echo request). */
export const icmp = (f: Fields<IcmpLayer> = {}): IcmpLayer => ({ kind: "icmp", ...f });
/** An ICMPv6 message (default echo request). */
export const icmpv6 = (f: Fields<Icmpv6Layer> = {}): Icmpv6Layer => ({ kind: "icmpv6", ...f });
/** Raw payload bytes (a string is UTF-8 encoded). */
export const payload = (bytes: Uint8Array | string): PayloadLayer => ({
  kind: "payload",
  bytes: typeof bytes === "string" ? new TextEncoder().encode(bytes) : bytes,
});
