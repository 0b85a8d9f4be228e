import { formatIpv4, formatIpv6, formatMac } from "./address.js";
import { internetChecksum, pseudoHeaderSum } from "./checksum.js";
import { ETH_P, IPPROTO } from "./layers.js";

interface Base {
  /** Offset of this header in the packet. */
  offset: number;
  /** Header length in bytes. */
  length: number;
}
/** A parsed Ethernet header. */
export interface ParsedEth extends Base {
  kind: "eth";
  dst: string;
  src: string;
  type: number;
}
/** A parsed VLAN tag; `tpid` is the ethertype that announced it. */
export interface ParsedVlan extends Base {
  kind: "vlan";
  tpid: number;
  vid: number;
  pcp: number;
  dei: boolean;
  type: number;
}
/** A parsed ARP message (Ethernet/IPv4 only; others keep their raw numbers). */
export interface ParsedArp extends Base {
  kind: "arp";
  op: number;
  senderMac: string;
  senderIp: string;
  targetMac: string;
  targetIp: string;
}
/** A parsed IPv4 header. */
export interface ParsedIpv4 extends Base {
  kind: "ipv4";
  src: string;
  dst: string;
  tos: number;
  totalLength: number;
  id: number;
  df: boolean;
  mf: boolean;
  fragOffset: number;
  ttl: number;
  protocol: number;
  checksum: number;
  checksumOk: boolean;
  options: Uint8Array;
}
/** A parsed IPv6 header. */
export interface ParsedIpv6 extends Base {
  kind: "ipv6";
  src: string;
  dst: string;
  trafficClass: number;
  flowLabel: number;
  payloadLength: number;
  nextHeader: number;
  hopLimit: number;
}
/** A parsed IPv6 extension header. */
export interface ParsedIpv6Ext extends Base {
  kind: "ipv6-ext";
  type: "hop-by-hop" | "dest-opts" | "routing" | "fragment";
  nextHeader: number;
  fragOffset?: number;
  more?: boolean;
  identification?: number;
}
/** A parsed TCP header; `checksumOk` is absent when the segment is incomplete or a fragment. */
export interface ParsedTcp extends Base {
  kind: "tcp";
  sport: number;
  dport: number;
  seq: number;
  ack: number;
  flags: number;
  /** tcpdump's letters: `S`, `S.`, `P.`, `F.`, `R`, `.`. */
  flagsText: string;
  window: number;
  checksum: number;
  checksumOk?: boolean;
  urgent: number;
  options: Uint8Array;
}
/** A parsed UDP header. */
export interface ParsedUdp extends Base {
  kind: "udp";
  sport: number;
  dport: number;
  udpLength: number;
  checksum: number;
  checksumOk?: boolean;
}
/** A parsed ICMP or ICMPv6 header (first 8 bytes). */
export interface ParsedIcmp extends Base {
  kind: "icmp" | "icmpv6";
  type: number;
  code: number;
  checksum: number;
  checksumOk?: boolean;
  id: number;
  seq: number;
}
/** Any parsed layer. */
export type ParsedLayer =
  | ParsedEth
  | ParsedVlan
  | ParsedArp
  | ParsedIpv4
  | ParsedIpv6
  | ParsedIpv6Ext
  | ParsedTcp
  | ParsedUdp
  | ParsedIcmp;

/** What {@link parsePacket} found. It never throws: problems land in `truncated` and `note`. */
export interface ParsedPacket {
  layers: ParsedLayer[];
  /** Bytes after the last parsed header. */
  payloadOffset: number;
  payloadLength: number;
  /** Whether a header (or a length a header claims) ran past the end of the bytes. */
  truncated: boolean;
  /** Why parsing stopped early (truncation, unknown protocol, non-first fragment). */
  note?: string;
  /** One line, such as `TCP 10.0.0.1:40000 > 10.0.0.2:8080 [S]`. */
  summary: string;
}

const TCP_LETTERS: [number, string][] = [
  [0x01, "F"],
  [0x02, "S"],
  [0x04, "R"],
  [0x08, "P"],
  [0x10, "."],
  [0x20, "U"],
  [0x40, "E"],
  [0x80, "W"],
];

/** tcpdump's rendering of TCP flags (`none` when no flag is set). */
export function tcpFlagsToString(f: number): string {
  const s = TCP_LETTERS.filter(([b]) => f & b)
    .map(([, c]) => c)
    .join("");
  return s || "none";
}

const EXT: Record<number, ParsedIpv6Ext["type"]> = {
  [IPPROTO.HOPOPTS]: "hop-by-hop",
  [IPPROTO.DSTOPTS]: "dest-opts",
  [IPPROTO.ROUTING]: "routing",
  [IPPROTO.FRAGMENT]: "fragment",
};

/**
 * Dissects an Ethernet frame (`linktype` 1) or a bare IPv4/IPv6 packet (`linktype` 101, raw IP).
 * Never throws; truncated input is reported in the result.
 */
export function parsePacket(bytes: Uint8Array, linktype = 1): ParsedPacket {
  const layers: ParsedLayer[] = [];
  const dv = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const n = bytes.length;
  let off = 0;
  let truncated = false;
  let note: string | undefined;
  let end = n; // IP lengths may say the packet ends before the capture (Ethernet padding)
  const need = (len: number, what: string): boolean => {
    if (off + len <= end) return true;
    truncated = true;
    note = `${what} needs ${len} bytes at offset ${off}, ${Math.max(0, end - off)} present`;
    return false;
  };
  const u8 = (o: number): number => dv.getUint8(o);
  const u16 = (o: number): number => dv.getUint16(o);
  const u32 = (o: number): number => dv.getUint32(o);

  let ethertype: number | undefined;
  let proto: number | undefined;
  let ip: { src: Uint8Array; dst: Uint8Array; fragment: boolean; l4Len: number } | undefined;

  if (linktype === 1) {
    if (need(14, "Ethernet header")) {
      ethertype = u16(off + 12);
      layers.push({
        kind: "eth",
        offset: off,
        length: 14,
        dst: formatMac(bytes.subarray(0, 6)),
        src: formatMac(bytes.subarray(6, 12)),
        type: ethertype,
      });
      off += 14;
      while ((ethertype === ETH_P.VLAN || ethertype === ETH_P.QINQ) && need(4, "VLAN tag")) {
        const tci = u16(off);
        const inner: number = u16(off + 2);
        layers.push({
          kind: "vlan",
          offset: off,
          length: 4,
          tpid: ethertype,
          vid: tci & 0xfff,
          pcp: tci >> 13,
          dei: (tci & 0x1000) !== 0,
          type: inner,
        });
        ethertype = inner;
        off += 4;
      }
      if (truncated) ethertype = undefined;
    }
  } else if (linktype === 101 || linktype === 12 || linktype === 14) {
    const v = n > 0 ? u8(0) >> 4 : 0;
    ethertype = v === 4 ? ETH_P.IPV4 : v === 6 ? ETH_P.IPV6 : undefined;
    if (ethertype === undefined) note = n === 0 ? "empty packet" : `raw IP packet with version ${v}`;
    truncated = n === 0;
  } else note = `link type ${linktype} is not dissected`;

  if (ethertype === ETH_P.ARP) {
    if (need(8, "ARP header")) {
      const hlen = u8(off + 4);
      const plen = u8(off + 5);
      const len = 8 + 2 * (hlen + plen);
      if (need(len, "ARP message")) {
        const o = off;
        const hex = (a: number, l: number): string => formatMac(bytes.subarray(a, a + l));
        const ipStr = (a: number, l: number): string =>
          l === 4 ? formatIpv4(bytes.subarray(a, a + 4)) : hex(a, l);
        layers.push({
          kind: "arp",
          offset: o,
          length: len,
          op: u16(o + 6),
          senderMac: hex(o + 8, hlen),
          senderIp: ipStr(o + 8 + hlen, plen),
          targetMac: hex(o + 8 + hlen + plen, hlen),
          targetIp: ipStr(o + 8 + 2 * hlen + plen, plen),
        });
        off += len;
      }
    }
  } else if (ethertype === ETH_P.IPV4) {
    if (need(20, "IPv4 header")) {
      const vihl = u8(off);
      const ihl = (vihl & 0xf) * 4;
      if (vihl >> 4 !== 4 || ihl < 20) {
        note = `bad IPv4 version/IHL byte 0x${vihl.toString(16)} at offset ${off}`;
      } else if (need(ihl, "IPv4 header with options")) {
        const o = off;
        const total = u16(o + 2);
        const frag = u16(o + 6);
        const hdr = bytes.subarray(o, o + ihl);
        const l: ParsedIpv4 = {
          kind: "ipv4",
          offset: o,
          length: ihl,
          src: formatIpv4(bytes.subarray(o + 12, o + 16)),
          dst: formatIpv4(bytes.subarray(o + 16, o + 20)),
          tos: u8(o + 1),
          totalLength: total,
          id: u16(o + 4),
          df: (frag & 0x4000) !== 0,
          mf: (frag & 0x2000) !== 0,
          fragOffset: frag & 0x1fff,
          ttl: u8(o + 8),
          protocol: u8(o + 9),
          checksum: u16(o + 10),
          checksumOk: internetChecksum(hdr) === 0,
          options: bytes.slice(o + 20, o + ihl),
        };
        layers.push(l);
        off += ihl;
        if (total >= ihl && o + total <= n) end = o + total;
        else if (o + total > n) {
          truncated = true;
          note = `IPv4 total length ${total} runs past the ${n - o} bytes present`;
        }
        proto = l.protocol;
        ip = {
          src: bytes.subarray(o + 12, o + 16),
          dst: bytes.subarray(o + 16, o + 20),
          fragment: l.mf || l.fragOffset > 0,
          l4Len: Math.max(0, total - ihl),
        };
        if (l.fragOffset > 0) {
          note ??= `IPv4 fragment at offset ${l.fragOffset * 8}`;
          proto = undefined;
        }
      }
    }
  } else if (ethertype === ETH_P.IPV6) {
    if (need(40, "IPv6 header")) {
      const o = off;
      const w = u32(o);
      const plen = u16(o + 4);
      const l: ParsedIpv6 = {
        kind: "ipv6",
        offset: o,
        length: 40,
        src: formatIpv6(bytes.subarray(o + 8, o + 24)),
        dst: formatIpv6(bytes.subarray(o + 24, o + 40)),
        trafficClass: (w >>> 20) & 0xff,
        flowLabel: w & 0xfffff,
        payloadLength: plen,
        nextHeader: u8(o + 6),
        hopLimit: u8(o + 7),
      };
      layers.push(l);
      off += 40;
      if (o + 40 + plen <= n) end = o + 40 + plen;
      else {
        truncated = true;
        note = `IPv6 payload length ${plen} runs past the ${n - o - 40} bytes present`;
      }
      proto = l.nextHeader;
      let fragment = false;
      for (let guard = 0; proto !== undefined && EXT[proto] !== undefined && guard < 16; guard++) {
        const type = EXT[proto] as ParsedIpv6Ext["type"];
        if (!need(8, `IPv6 ${type} header`)) {
          proto = undefined;
          break;
        }
        const len = type === "fragment" ? 8 : (u8(off + 1) + 1) * 8;
        if (!need(len, `IPv6 ${type} header`)) {
          proto = undefined;
          break;
        }
        const x: ParsedIpv6Ext = { kind: "ipv6-ext", offset: off, length: len, type, nextHeader: u8(off) };
        if (type === "fragment") {
          const fo = u16(off + 2);
          x.fragOffset = fo >> 3;
          x.more = (fo & 1) !== 0;
          x.identification = u32(off + 4);
          fragment = true;
        }
        layers.push(x);
        off += len;
        proto = x.nextHeader;
        if (type === "fragment" && (x.fragOffset ?? 0) > 0) {
          note ??= `IPv6 fragment at offset ${(x.fragOffset ?? 0) * 8}`;
          proto = undefined;
        }
      }
      ip = {
        src: bytes.subarray(o + 8, o + 24),
        dst: bytes.subarray(o + 24, o + 40),
        fragment,
        l4Len: Math.max(0, o + 40 + plen - off),
      };
    }
  } else if (ethertype !== undefined && !truncated && note === undefined) {
    note = `ethertype 0x${ethertype.toString(16).padStart(4, "0")} is not dissected`;
  }

  // Checks an L4 checksum only when the whole segment is present and is not a fragment.
  const l4Check = (
    protoNum: number,
    hdrOff: number,
    csumOff: number,
    pseudo: boolean,
  ): boolean | undefined => {
    if (!ip || ip.fragment || hdrOff + ip.l4Len > n || ip.l4Len < 8) return undefined;
    const seg = bytes.subarray(hdrOff, hdrOff + ip.l4Len);
    void csumOff;
    const sum = pseudo ? pseudoHeaderSum(ip.src, ip.dst, protoNum, seg.length) : 0;
    return internetChecksum(seg, sum) === 0;
  };

  if (proto === IPPROTO.TCP) {
    if (need(20, "TCP header")) {
      const o = off;
      const doff = (u8(o + 12) >> 4) * 4;
      if (doff < 20) note = `bad TCP data offset ${doff} at offset ${o + 12}`;
      else if (need(doff, "TCP header with options")) {
        const flags = u8(o + 13);
        const l: ParsedTcp = {
          kind: "tcp",
          offset: o,
          length: doff,
          sport: u16(o),
          dport: u16(o + 2),
          seq: u32(o + 4),
          ack: u32(o + 8),
          flags,
          flagsText: tcpFlagsToString(flags),
          window: u16(o + 14),
          checksum: u16(o + 16),
          urgent: u16(o + 18),
          options: bytes.slice(o + 20, o + doff),
        };
        const ok = l4Check(IPPROTO.TCP, o, 16, true);
        if (ok !== undefined) l.checksumOk = ok;
        layers.push(l);
        off += doff;
      }
    }
  } else if (proto === IPPROTO.UDP) {
    if (need(8, "UDP header")) {
      const o = off;
      const l: ParsedUdp = {
        kind: "udp",
        offset: o,
        length: 8,
        sport: u16(o),
        dport: u16(o + 2),
        udpLength: u16(o + 4),
        checksum: u16(o + 6),
      };
      const ipv4NoSum = l.checksum === 0 && layers.some((x) => x.kind === "ipv4");
      const ok = ipv4NoSum ? undefined : l4Check(IPPROTO.UDP, o, 6, true);
      if (ok !== undefined) l.checksumOk = ok;
      layers.push(l);
      off += 8;
    }
  } else if (proto === IPPROTO.ICMP || proto === IPPROTO.ICMPV6) {
    const v6 = proto === IPPROTO.ICMPV6;
    if (need(8, v6 ? "ICMPv6 header" : "ICMP header")) {
      const o = off;
      const l: ParsedIcmp = {
        kind: v6 ? "icmpv6" : "icmp",
        offset: o,
        length: 8,
        type: u8(o),
        code: u8(o + 1),
        checksum: u16(o + 2),
        id: u16(o + 4),
        seq: u16(o + 6),
      };
      const ok = l4Check(IPPROTO.ICMPV6, o, 2, v6);
      if (ok !== undefined) l.checksumOk = ok;
      layers.push(l);
      off += 8;
    }
  } else if (proto !== undefined && proto !== IPPROTO.NONE && note === undefined) {
    note = `IP protocol ${proto} is not dissected`;
  }

  const payloadOffset = Math.min(off, n);
  const payloadLength = Math.max(0, Math.min(end, n) - payloadOffset);
  const p: ParsedPacket = { layers, payloadOffset, payloadLength, truncated, summary: "" };
  if (note !== undefined) p.note = note;
  p.summary = summarize(p);
  return p;
}

const ICMP_NAMES: Record<number, string> = {
  0: "echo-reply",
  3: "unreachable",
  5: "redirect",
  8: "echo-request",
  11: "time-exceeded",
};
const ICMP6_NAMES: Record<number, string> = {
  1: "unreachable",
  2: "too-big",
  3: "time-exceeded",
  128: "echo-request",
  129: "echo-reply",
  133: "router-solicit",
  134: "router-advert",
  135: "neighbor-solicit",
  136: "neighbor-advert",
};

/** The one-line description {@link ParsedPacket.summary} holds. */
export function summarize(p: ParsedPacket): string {
  const parts: string[] = [];
  for (const l of p.layers) if (l.kind === "vlan") parts.push(`vlan ${l.vid}`);
  const ipl = p.layers.find((l): l is ParsedIpv4 | ParsedIpv6 => l.kind === "ipv4" || l.kind === "ipv6");
  const host = (a: string, port?: number): string =>
    port === undefined ? a : ipl?.kind === "ipv6" ? `[${a}]:${port}` : `${a}:${port}`;
  const last = p.layers[p.layers.length - 1];
  const len = p.payloadLength > 0 ? ` len ${p.payloadLength}` : "";
  switch (last?.kind) {
    case "tcp":
      parts.push(
        `TCP ${host(ipl?.src ?? "?", last.sport)} > ${host(ipl?.dst ?? "?", last.dport)} [${last.flagsText}]${len}`,
      );
      break;
    case "udp":
      parts.push(`UDP ${host(ipl?.src ?? "?", last.sport)} > ${host(ipl?.dst ?? "?", last.dport)}${len}`);
      break;
    case "icmp":
    case "icmpv6": {
      const names = last.kind === "icmp" ? ICMP_NAMES : ICMP6_NAMES;
      const echo =
        last.kind === "icmp" ? last.type === 0 || last.type === 8 : last.type === 128 || last.type === 129;
      const what = names[last.type] ?? `type ${last.type} code ${last.code}`;
      parts.push(
        `${last.kind === "icmp" ? "ICMP" : "ICMPv6"} ${ipl?.src ?? "?"} > ${ipl?.dst ?? "?"} ${what}${echo ? ` id ${last.id} seq ${last.seq}` : ""}`,
      );
      break;
    }
    case "arp":
      parts.push(
        last.op === 1
          ? `ARP who-has ${last.targetIp} tell ${last.senderIp}`
          : last.op === 2
            ? `ARP reply ${last.senderIp} is-at ${last.senderMac}`
            : `ARP op ${last.op} ${last.senderIp} > ${last.targetIp}`,
      );
      break;
    case "ipv4":
    case "ipv6":
    case "ipv6-ext":
      if (ipl) {
        const proto =
          ipl.kind === "ipv4" ? ipl.protocol : last.kind === "ipv6-ext" ? last.nextHeader : ipl.nextHeader;
        parts.push(`${ipl.kind === "ipv4" ? "IPv4" : "IPv6"} ${ipl.src} > ${ipl.dst} proto ${proto}${len}`);
      }
      break;
    case "eth":
    case "vlan": {
      const eth = p.layers[0];
      const type = last.type;
      parts.push(
        `${eth?.kind === "eth" ? `${eth.src} > ${eth.dst} ` : ""}ethertype 0x${type.toString(16).padStart(4, "0")}${len}`,
      );
      break;
    }
    case undefined:
      parts.push(`${p.payloadLength} bytes`);
      break;
  }
  if (p.truncated) parts.push(`(truncated: ${p.note ?? "short packet"})`);
  else if (p.note && (last?.kind === "ipv4" || last?.kind === "ipv6" || last?.kind === "ipv6-ext"))
    parts.push(`(${p.note})`);
  return parts.join(" ");
}

/** Shorthand for `parsePacket(bytes).summary`. */
export function describePacket(bytes: Uint8Array, linktype = 1): string {
  return parsePacket(bytes, linktype).summary;
}
