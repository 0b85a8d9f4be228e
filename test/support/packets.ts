import { buildPacket, eth, ipv4, tcp } from "../../src/net/index.js";

/** A TCP SYN from 10.0.0.1:40000 to 10.0.0.2:`dport` in Ethernet and IPv4: the VM tests' usual packet. */
export function tcpSyn4(dport: number): Uint8Array {
  return buildPacket([
    eth({}),
    ipv4({ src: "10.0.0.1", dst: "10.0.0.2" }),
    tcp({ sport: 40000, dport, flags: "S" }),
  ]);
}
