import { UsageError } from "../errors.js";
import { parseIpv4, parseIpv6, parseMac } from "./address.js";
import { internetChecksum, pseudoHeaderSum } from "./checksum.js";
import { ETH_P, IPPROTO, type Ipv6ExtLayer, type Layer, type TcpOption } from "./layers.js";

const TCP_FLAG_BITS: Record<string, number> = {
  F: 0x01,
  S: 0x02,
  R: 0x04,
  P: 0x08,
  ".": 0x10,
  A: 0x10,
  U: 0x20,
  E: 0x40,
  W: 0x80,
  C: 0x80,
};

/** TCP flag letters (tcpdump's, plus A for ACK and C for CWR) to the flag byte. */
export function tcpFlagsFromString(s: string): number {
  let v = 0;
  for (const c of s) {
    const bit = TCP_FLAG_BITS[c.toUpperCase()];
    if (bit === undefined)
      throw new UsageError(`unknown TCP flag ${JSON.stringify(c)} in ${JSON.stringify(s)}`, {
        hint: "use F S R P . (or A) U E W",
      });
    v |= bit;
  }
  return v;
}

function check(v: number, bits: number, what: string): number {
  if (!Number.isInteger(v) || v < 0 || v >= 2 ** bits) {
    throw new UsageError(`${what} must be an integer in [0, ${2 ** bits - 1}], got ${v}`);
  }
  return v;
}

function ethertypeOf(layers: readonly Layer[], i: number, what: string): number {
  const l = layers[i];
  switch (l?.kind) {
    case "ipv4":
      return ETH_P.IPV4;
    case "ipv6":
      return ETH_P.IPV6;
    case "arp":
      return ETH_P.ARP;
    case "vlan":
      // The outer tag of a QinQ pair is announced as 802.1ad.
      return l.tpid ?? (layers[i + 1]?.kind === "vlan" ? ETH_P.QINQ : ETH_P.VLAN);
    default:
      throw new UsageError(
        `${what}: cannot infer the ethertype from ${l ? l.kind : "nothing"}; give \`type\``,
      );
  }
}

function protocolOf(l: Layer | undefined, what: string): number {
  if (l === undefined) return IPPROTO.NONE;
  switch (l.kind) {
    case "tcp":
      return IPPROTO.TCP;
    case "udp":
      return IPPROTO.UDP;
    case "icmp":
      return IPPROTO.ICMP;
    case "icmpv6":
      return IPPROTO.ICMPV6;
    case "ipv4":
      return IPPROTO.IPIP;
    case "ipv6":
      return IPPROTO.IPV6;
    case "ipv6-ext":
      return {
        "hop-by-hop": IPPROTO.HOPOPTS,
        "dest-opts": IPPROTO.DSTOPTS,
        routing: IPPROTO.ROUTING,
        fragment: IPPROTO.FRAGMENT,
      }[l.type];
    default:
      throw new UsageError(`${what}: cannot infer the protocol from ${l.kind}; give it explicitly`);
  }
}

function concat(a: Uint8Array, b: Uint8Array): Uint8Array {
  const out = new Uint8Array(a.length + b.length);
  out.set(a);
  out.set(b, a.length);
  return out;
}

function tcpOptionBytes(opts: TcpOption[] | Uint8Array): Uint8Array {
  if (opts instanceof Uint8Array) return opts;
  const out: number[] = [];
  for (const o of opts) {
    switch (o.kind) {
      case "nop":
        out.push(1);
        break;
      case "eol":
        out.push(0);
        break;
      case "mss":
        out.push(2, 4, check(o.value, 16, "mss") >> 8, o.value & 0xff);
        break;
      case "wscale":
        out.push(3, 3, check(o.value, 8, "wscale"));
        break;
      case "sack-ok":
        out.push(4, 2);
        break;
      case "timestamp": {
        const b = new Uint8Array(10);
        const dv = new DataView(b.buffer);
        b[0] = 8;
        b[1] = 10;
        dv.setUint32(2, check(o.value, 32, "timestamp"));
        dv.setUint32(6, check(o.echo, 32, "timestamp echo"));
        out.push(...b);
        break;
      }
      case "raw":
        out.push(...o.bytes);
        break;
    }
  }
  return Uint8Array.from(out);
}

const pad4 = (b: Uint8Array, fill = 0): Uint8Array => {
  const n = (b.length + 3) & ~3;
  const out = new Uint8Array(n).fill(fill);
  out.set(b);
  return out;
};

/** The IP layer whose pseudo-header covers layer `i`: the nearest IPv4/IPv6 before it. */
function enclosingIp(layers: readonly Layer[], i: number): { src: Uint8Array; dst: Uint8Array } | undefined {
  for (let k = i - 1; k >= 0; k--) {
    const l = layers[k];
    if (l?.kind === "ipv4") return { src: parseIpv4(l.src), dst: parseIpv4(l.dst) };
    if (l?.kind === "ipv6") return { src: parseIpv6(l.src), dst: parseIpv6(l.dst) };
  }
  return undefined;
}

function extHeader(l: Ipv6ExtLayer, next: number, rest: Uint8Array): Uint8Array {
  if (l.type === "fragment") {
    const b = new Uint8Array(8);
    const dv = new DataView(b.buffer);
    b[0] = l.nextHeader ?? next;
    dv.setUint16(2, (check(l.fragOffset ?? 0, 13, "fragOffset") << 3) | (l.more ? 1 : 0));
    dv.setUint32(4, check(l.identification ?? 0, 32, "identification"));
    return concat(b, rest);
  }
  const data = l.data ?? new Uint8Array(l.type === "routing" ? 6 : 0);
  let total = (2 + data.length + 7) & ~7;
  if (total < 8) total = 8;
  const b = new Uint8Array(total);
  b[0] = l.nextHeader ?? next;
  b[1] = total / 8 - 1;
  b.set(data, 2);
  const padLen = total - 2 - data.length;
  // Options headers are padded with Pad1 / PadN options so they stay well-formed.
  if (l.type !== "routing" && padLen > 0) {
    if (padLen === 1) b[2 + data.length] = 0;
    else {
      b[2 + data.length] = 1;
      b[3 + data.length] = padLen - 2;
    }
  }
  return concat(b, rest);
}

/**
 * Serialises layers outermost first, e.g.
 * `buildPacket([eth({ src, dst }), ipv4({ src: "10.0.0.1", dst: "10.0.0.2" }), tcp({ dport: 8080, flags: "S" }), payload("hi")])`.
 * Ethertypes, IP protocols, lengths and checksums (IPv4 header; TCP/UDP/ICMPv6 with the pseudo-header
 * of the nearest IP layer before them; ICMP) are computed unless given.
 */
export function buildPacket(layers: readonly Layer[]): Uint8Array {
  let body: Uint8Array = new Uint8Array(0);
  for (let i = layers.length - 1; i >= 0; i--) {
    const l = layers[i] as Layer;
    const next = layers[i + 1];
    const what = `layer ${i} (${l.kind})`;
    switch (l.kind) {
      case "payload":
        body = concat(l.bytes, body);
        break;
      case "eth": {
        const h = new Uint8Array(14);
        h.set(parseMac(l.dst ?? "ff:ff:ff:ff:ff:ff"), 0);
        h.set(parseMac(l.src ?? "02:00:00:00:00:01"), 6);
        new DataView(h.buffer).setUint16(
          12,
          check(l.type ?? ethertypeOf(layers, i + 1, what), 16, "ethertype"),
        );
        body = concat(h, body);
        break;
      }
      case "vlan": {
        const h = new Uint8Array(4);
        const tci = (check(l.pcp ?? 0, 3, "pcp") << 13) | ((l.dei ? 1 : 0) << 12) | check(l.vid, 12, "vid");
        const dv = new DataView(h.buffer);
        dv.setUint16(0, tci);
        dv.setUint16(2, check(l.type ?? ethertypeOf(layers, i + 1, what), 16, "ethertype"));
        body = concat(h, body);
        break;
      }
      case "arp": {
        const h = new Uint8Array(28);
        const dv = new DataView(h.buffer);
        dv.setUint16(0, 1);
        dv.setUint16(2, ETH_P.IPV4);
        h[4] = 6;
        h[5] = 4;
        const op =
          l.op === "reply" ? 2 : l.op === "request" || l.op === undefined ? 1 : check(l.op, 16, "op");
        dv.setUint16(6, op);
        h.set(parseMac(l.senderMac ?? "02:00:00:00:00:01"), 8);
        h.set(parseIpv4(l.senderIp ?? "0.0.0.0"), 14);
        h.set(parseMac(l.targetMac ?? "00:00:00:00:00:00"), 18);
        h.set(parseIpv4(l.targetIp ?? "0.0.0.0"), 24);
        body = concat(h, body);
        break;
      }
      case "ipv4": {
        const opts = pad4(l.options ?? new Uint8Array(0));
        if (opts.length > 40) throw new UsageError(`${what}: options are ${opts.length} bytes; at most 40`);
        const h = new Uint8Array(20 + opts.length);
        const dv = new DataView(h.buffer);
        h[0] = 0x40 | check(l.ihl ?? h.length / 4, 4, "ihl");
        h[1] = check(l.tos ?? 0, 8, "tos");
        dv.setUint16(2, check(l.totalLength ?? h.length + body.length, 16, "totalLength"));
        dv.setUint16(4, check(l.id ?? 0, 16, "id"));
        let flags = 0;
        if (typeof l.flags === "string") {
          const f = l.flags.toUpperCase();
          if (/[^DFM ,|]/.test(f.replace(/DF|MF/g, "")))
            throw new UsageError(`${what}: flags are "DF", "MF" or a number`);
          flags = (f.includes("DF") ? 2 : 0) | (f.includes("MF") ? 1 : 0);
        } else flags = check(l.flags ?? 0, 3, "flags");
        dv.setUint16(6, (flags << 13) | check(l.fragOffset ?? 0, 13, "fragOffset"));
        h[8] = check(l.ttl ?? 64, 8, "ttl");
        h[9] = check(l.protocol ?? protocolOf(next, what), 8, "protocol");
        h.set(parseIpv4(l.src), 12);
        h.set(parseIpv4(l.dst), 16);
        h.set(opts, 20);
        dv.setUint16(10, l.checksum ?? internetChecksum(h));
        body = concat(h, body);
        break;
      }
      case "ipv6": {
        const h = new Uint8Array(40);
        const dv = new DataView(h.buffer);
        dv.setUint32(
          0,
          (6 << 28) |
            (check(l.trafficClass ?? 0, 8, "trafficClass") << 20) |
            check(l.flowLabel ?? 0, 20, "flowLabel"),
        );
        dv.setUint16(4, check(l.payloadLength ?? body.length, 16, "payloadLength"));
        h[6] = check(l.nextHeader ?? protocolOf(next, what), 8, "nextHeader");
        h[7] = check(l.hopLimit ?? 64, 8, "hopLimit");
        h.set(parseIpv6(l.src), 8);
        h.set(parseIpv6(l.dst), 24);
        body = concat(h, body);
        break;
      }
      case "ipv6-ext":
        body = extHeader(l, l.nextHeader ?? protocolOf(next, what), body);
        break;
      case "tcp": {
        const opts = pad4(l.options ? tcpOptionBytes(l.options) : new Uint8Array(0));
        if (opts.length > 40) throw new UsageError(`${what}: options are ${opts.length} bytes; at most 40`);
        const h = new Uint8Array(20 + opts.length);
        const dv = new DataView(h.buffer);
        dv.setUint16(0, check(l.sport ?? 40000, 16, "sport"));
        dv.setUint16(2, check(l.dport ?? 80, 16, "dport"));
        dv.setUint32(4, check(l.seq ?? 0, 32, "seq"));
        dv.setUint32(8, check(l.ack ?? 0, 32, "ack"));
        h[12] = check(l.dataOffset ?? h.length / 4, 4, "dataOffset") << 4;
        h[13] =
          typeof l.flags === "string" ? tcpFlagsFromString(l.flags) : check(l.flags ?? 0x02, 8, "flags");
        dv.setUint16(14, check(l.window ?? 65535, 16, "window"));
        dv.setUint16(18, check(l.urgent ?? 0, 16, "urgent"));
        h.set(opts, 20);
        const seg = concat(h, body);
        if (l.checksum !== undefined) dv.setUint16(16, check(l.checksum, 16, "checksum"));
        else {
          const ip = enclosingIp(layers, i);
          const sum = ip ? pseudoHeaderSum(ip.src, ip.dst, IPPROTO.TCP, seg.length) : 0;
          new DataView(seg.buffer).setUint16(16, internetChecksum(seg, sum));
        }
        body = seg;
        break;
      }
      case "udp": {
        const seg = concat(new Uint8Array(8), body);
        const dv = new DataView(seg.buffer);
        dv.setUint16(0, check(l.sport ?? 40000, 16, "sport"));
        dv.setUint16(2, check(l.dport ?? 53, 16, "dport"));
        dv.setUint16(4, check(l.length ?? seg.length, 16, "length"));
        if (l.checksum !== undefined) dv.setUint16(6, check(l.checksum, 16, "checksum"));
        else {
          const ip = enclosingIp(layers, i);
          const sum = ip ? pseudoHeaderSum(ip.src, ip.dst, IPPROTO.UDP, seg.length) : 0;
          // A computed 0 is sent as 0xffff: 0 means "no checksum" (RFC 768).
          dv.setUint16(6, internetChecksum(seg, sum) || 0xffff);
        }
        body = seg;
        break;
      }
      case "icmp":
      case "icmpv6": {
        const seg = concat(new Uint8Array(8), body);
        const dv = new DataView(seg.buffer);
        const v6 = l.kind === "icmpv6";
        seg[0] = check(l.type ?? (v6 ? 128 : 8), 8, "type");
        seg[1] = check(l.code ?? 0, 8, "code");
        if (l.rest) {
          if (l.rest.length !== 4) throw new UsageError(`${what}: rest must be 4 bytes`);
          seg.set(l.rest, 4);
        } else {
          dv.setUint16(4, check(l.id ?? 0, 16, "id"));
          dv.setUint16(6, check(l.seq ?? 0, 16, "seq"));
        }
        if (l.checksum !== undefined) dv.setUint16(2, check(l.checksum, 16, "checksum"));
        else {
          const ip = v6 ? enclosingIp(layers, i) : undefined;
          const sum = ip ? pseudoHeaderSum(ip.src, ip.dst, IPPROTO.ICMPV6, seg.length) : 0;
          dv.setUint16(2, internetChecksum(seg, sum));
        }
        body = seg;
        break;
      }
    }
  }
  return body;
}
