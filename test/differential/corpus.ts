import {
  arp,
  buildPacket,
  describePacket,
  eth,
  icmp,
  ipv4,
  ipv6,
  ipv6Ext,
  type Layer,
  parsePacket,
  payload,
  tcp,
  udp,
  vlan,
} from "../../src/net/index.js";
import type { Rng } from "./rng.js";

/** One input of the differential corpus. */
export interface CorpusPacket {
  /** How it was made, for mismatch reports. */
  label: string;
  bytes: Uint8Array;
}

/** Largest linear XDP packet test_run builds (page - headroom - skb_shared_info). */
export const XDP_LINEAR_MAX = 4096 - 256 - 320;
/** Largest XDP input test_run accepts: the linear part plus MAX_SKB_FRAGS (17) page fragments. */
export const XDP_INPUT_MAX = XDP_LINEAR_MAX + 17 * 4096;

const SRC4 = "10.0.0.1";
const DST4 = "192.168.1.254";
const SRC6 = "2001:db8::1";
const DST6 = "2001:db8::ff";

/** The layered packets the crafted corpus starts from; each is also cut at its header boundaries. */
function basePackets(): { label: string; layers: Layer[] }[] {
  const body = payload("tsbpf-differential");
  const ip = (f: Partial<Parameters<typeof ipv4>[0]> = {}) => ipv4({ src: SRC4, dst: DST4, ...f });
  const ip6 = () => ipv6({ src: SRC6, dst: DST6 });
  return [
    { label: "ipv4/tcp:8080", layers: [eth(), ip(), tcp({ sport: 40000, dport: 8080, flags: "S" }), body] },
    { label: "ipv4/tcp:22", layers: [eth(), ip(), tcp({ sport: 40001, dport: 22, flags: "S." }), body] },
    { label: "ipv4/tcp:80", layers: [eth(), ip(), tcp({ sport: 40002, dport: 80, flags: "FPU" }), body] },
    { label: "ipv4/udp:53", layers: [eth(), ip(), udp({ sport: 5353, dport: 53 }), body] },
    { label: "ipv4/icmp", layers: [eth(), ip(), icmp({ id: 7, seq: 1 }), body] },
    {
      label: "ipv4(opts ihl=6)/tcp:8080",
      layers: [eth(), ip({ options: Uint8Array.of(1, 1, 1, 0) }), tcp({ dport: 8080 })],
    },
    {
      label: "ipv4(opts ihl=15)/tcp:22",
      layers: [eth(), ip({ options: new Uint8Array(40).fill(1) }), tcp({ dport: 22 }), body],
    },
    { label: "ipv4(ihl=4 bogus)/tcp", layers: [eth(), ip({ ihl: 4 }), tcp({ dport: 8080 })] },
    {
      label: "ipv4 frag MF off=0/tcp",
      layers: [eth(), ip({ flags: "MF", id: 99 }), tcp({ dport: 8080 }), body],
    },
    { label: "ipv4 frag off=185", layers: [eth(), ip({ fragOffset: 185, protocol: 6, id: 99 }), body] },
    { label: "ipv4 DF/udp", layers: [eth(), ip({ flags: "DF" }), udp({ dport: 4789 }), body] },
    { label: "vlan/ipv4/tcp:8080", layers: [eth(), vlan({ vid: 100 }), ip(), tcp({ dport: 8080 }), body] },
    {
      label: "qinq/ipv4/tcp:22",
      layers: [eth(), vlan({ vid: 10 }), vlan({ vid: 20 }), ip(), tcp({ dport: 22 })],
    },
    {
      label: "vlan/ipv6/udp",
      layers: [eth(), vlan({ vid: 4095, pcp: 7, dei: true }), ip6(), udp({ dport: 53 })],
    },
    { label: "ipv6/tcp:8080", layers: [eth(), ip6(), tcp({ dport: 8080 }), body] },
    { label: "ipv6/udp", layers: [eth(), ip6(), udp({ dport: 53 }), body] },
    {
      label: "ipv6/hbh/dst/tcp:22",
      layers: [
        eth(),
        ip6(),
        ipv6Ext({ type: "hop-by-hop" }),
        ipv6Ext({ type: "dest-opts" }),
        tcp({ dport: 22 }),
      ],
    },
    {
      label: "ipv6/routing/udp",
      layers: [
        eth(),
        ip6(),
        ipv6Ext({ type: "routing", data: new Uint8Array(14) }),
        udp({ dport: 53 }),
        body,
      ],
    },
    {
      label: "ipv6/frag(more)/tcp",
      layers: [
        eth(),
        ip6(),
        ipv6Ext({ type: "fragment", more: true, identification: 5 }),
        tcp({ dport: 8080 }),
      ],
    },
    {
      label: "ipv6/frag(off=8)",
      layers: [eth(), ip6(), ipv6Ext({ type: "fragment", fragOffset: 8, nextHeader: 6 }), body],
    },
    {
      label: "arp request",
      layers: [eth({ dst: "ff:ff:ff:ff:ff:ff" }), arp({ senderIp: SRC4, targetIp: DST4 })],
    },
    { label: "eth type 0x88cc", layers: [eth({ type: 0x88cc }), payload(new Uint8Array(46))] },
  ];
}

/** Header boundaries of a layered packet: the byte length after each layer. */
function boundaries(whole: Uint8Array): number[] {
  const out: number[] = [];
  try {
    for (const l of parsePacket(whole).layers) out.push(l.offset + l.length);
  } catch {
    // An unparsable packet is still cut at the Ethernet header.
    out.push(14);
  }
  return out;
}

/**
 * The crafted corpus: every base packet whole and cut at (and one byte either side of) each header
 * boundary; the 13- and 14-byte edges; the largest linear and the largest fragmented input
 * test_run accepts, and one byte past each. Cuts below 14 bytes are kept on purpose: both engines
 * must refuse them the same way.
 */
export function craftedPackets(): CorpusPacket[] {
  const out: CorpusPacket[] = [];
  const seen = new Set<string>();
  const add = (label: string, bytes: Uint8Array) => {
    const key = Buffer.from(bytes).toString("hex");
    if (seen.has(key)) return;
    seen.add(key);
    out.push({ label, bytes });
  };
  for (const b of basePackets()) {
    const whole = buildPacket(b.layers);
    add(b.label, whole);
    for (const cut of boundaries(whole)) {
      for (const n of [cut - 1, cut, cut + 1]) {
        if (n > 0 && n < whole.length) add(`${b.label} cut@${n}`, whole.slice(0, n));
      }
    }
  }
  const tcp8080 = buildPacket([eth(), ipv4({ src: SRC4, dst: DST4 }), tcp({ dport: 8080 })]);
  const sized = (n: number) => {
    const p = new Uint8Array(n);
    p.set(tcp8080.subarray(0, Math.min(n, tcp8080.length)));
    for (let i = tcp8080.length; i < n; i++) p[i] = i & 0xff;
    return p;
  };
  add("13 bytes (below ETH_HLEN)", sized(13));
  add("14 bytes (ETH_HLEN)", sized(14));
  add("ipv4/tcp padded to linear max", sized(XDP_LINEAR_MAX));
  add("ipv4/tcp linear max + 1 (one fragment byte)", sized(XDP_LINEAR_MAX + 1));
  add("ipv4/tcp at the largest test_run input", sized(XDP_INPUT_MAX));
  add("ipv4/tcp one past the largest test_run input", sized(XDP_INPUT_MAX + 1));
  return out;
}

/** A random packet: a random layer stack with random fields, sometimes cut or with junk appended. */
export function randomPacket(rng: Rng): CorpusPacket {
  if (rng.chance(0.1)) {
    const n = rng.range(14, 200);
    return { label: `random bytes (${n})`, bytes: rng.bytes(n) };
  }
  const layers: Layer[] = [eth({ src: rng.bytes(6), dst: rng.bytes(6) })];
  const tags = rng.pick([0, 0, 0, 1, 2]);
  for (let i = 0; i < tags; i++) layers.push(vlan({ vid: rng.int(4096), pcp: rng.int(8) }));
  const l3 = rng.pick(["ipv4", "ipv4", "ipv6", "arp", "raw"] as const);
  if (l3 === "ipv4") {
    const opts = rng.chance(0.2) ? rng.bytes(4 * rng.range(1, 10)) : undefined;
    layers.push(
      ipv4({
        src: rng.bytes(4),
        dst: rng.bytes(4),
        ttl: rng.int(256),
        tos: rng.int(256),
        id: rng.int(65536),
        ...(rng.chance(0.15) ? { flags: rng.int(4), fragOffset: rng.int(8192) } : {}),
        ...(opts === undefined ? {} : { options: opts }),
        ...(rng.chance(0.05) ? { ihl: rng.int(16) } : {}),
      }),
    );
  } else if (l3 === "ipv6") {
    layers.push(ipv6({ src: rng.bytes(16), dst: rng.bytes(16), hopLimit: rng.int(256) }));
    const exts = rng.pick([0, 0, 1, 2]);
    for (let i = 0; i < exts; i++) {
      layers.push(ipv6Ext({ type: rng.pick(["hop-by-hop", "dest-opts", "routing", "fragment"] as const) }));
    }
  } else if (l3 === "arp") {
    layers.push(arp({ senderIp: rng.bytes(4), targetIp: rng.bytes(4), op: rng.range(1, 2) }));
  } else {
    layers.push(payload(rng.bytes(rng.range(0, 64))));
  }
  if (l3 === "ipv4" || l3 === "ipv6") {
    const port = () => (rng.chance(0.5) ? rng.pick([22, 53, 80, 443, 8080]) : rng.int(65536));
    const l4 = rng.pick(["tcp", "udp", "icmp", "none"] as const);
    if (l4 === "tcp") layers.push(tcp({ sport: port(), dport: port(), flags: rng.int(256), seq: rng.u32() }));
    else if (l4 === "udp") layers.push(udp({ sport: port(), dport: port() }));
    else if (l4 === "icmp" && l3 === "ipv4") layers.push(icmp({ type: rng.int(256), code: rng.int(256) }));
  }
  if (rng.chance(0.6)) layers.push(payload(rng.bytes(rng.int(rng.chance(0.05) ? 4000 : 100))));
  let bytes: Uint8Array;
  try {
    bytes = buildPacket(layers);
  } catch {
    bytes = rng.bytes(rng.range(14, 120));
  }
  let label = layers.map((l) => l.kind).join("/");
  if (rng.chance(0.25) && bytes.length > 14) {
    const n = rng.range(14, bytes.length - 1);
    bytes = bytes.slice(0, n);
    label += ` cut@${n}`;
  }
  return { label, bytes };
}

/** A one-line description of a packet for reports (tcpdump-like summary, or why not). */
export function describe(bytes: Uint8Array): string {
  try {
    return describePacket(bytes);
  } catch (e) {
    return `(unparsable: ${(e as Error).message})`;
  }
}
