/** The packets the benchmark runs programs on, built with tsbpf's own packet builder. */
import { buildPacket } from "../src/net/build.js";

const MACS = { src: "02:00:00:00:00:01", dst: "02:00:00:00:00:02" };
const IPS = { src: "10.0.0.1", dst: "10.0.0.2" };

/** An Ethernet/IPv4/TCP SYN to `dport`. */
export function tcpTo(dport: number): Uint8Array {
  return buildPacket([
    { kind: "eth", ...MACS },
    { kind: "ipv4", ...IPS },
    { kind: "tcp", sport: 40000, dport, flags: "S" },
  ]);
}

/** An Ethernet/IPv4/UDP datagram to port 53 with `payload` bytes of deterministic filler. */
export function udpPacket(payload = 16): Uint8Array {
  const bytes = new Uint8Array(payload);
  let x = 0x12345678;
  for (let i = 0; i < payload; i++) {
    x ^= x << 13;
    x ^= x >>> 17;
    x ^= x << 5;
    bytes[i] = x & 0xff;
  }
  return buildPacket([
    { kind: "eth", ...MACS },
    { kind: "ipv4", ...IPS },
    { kind: "udp", sport: 40000, dport: 53 },
    { kind: "payload", bytes },
  ]);
}

/** An ARP request: not IPv4, so the dispatcher passes it after one check. */
export function arpPacket(): Uint8Array {
  return buildPacket([
    { kind: "eth", src: MACS.src, dst: "ff:ff:ff:ff:ff:ff" },
    { kind: "arp", op: "request", senderMac: MACS.src, senderIp: IPS.src, targetIp: IPS.dst },
  ]);
}

/** An Ethernet/802.1Q/IPv4/TCP SYN to `dport` (VLAN 100). */
export function vlanTcp4(dport: number): Uint8Array {
  return buildPacket([
    { kind: "eth", ...MACS },
    { kind: "vlan", vid: 100 },
    { kind: "ipv4", ...IPS },
    { kind: "tcp", sport: 40000, dport, flags: "S" },
  ]);
}

/** An Ethernet/802.1ad/802.1Q/IPv6/UDP datagram to `dport` with 32 bytes of payload (QinQ). */
export function qinqUdp6(dport: number): Uint8Array {
  return buildPacket([
    { kind: "eth", ...MACS },
    { kind: "vlan", vid: 10, tpid: 0x88a8 },
    { kind: "vlan", vid: 200 },
    { kind: "ipv6", src: "fd00::1", dst: "fd00::2" },
    { kind: "udp", sport: 40000, dport },
    { kind: "payload", bytes: new Uint8Array(32) },
  ]);
}
