import { execFileSync } from "node:child_process";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { test } from "node:test";
import assert from "node:assert/strict";
import {
  arp,
  buildPacket,
  describePacket,
  eth,
  formatIpv6,
  icmp,
  icmpv6,
  internetChecksum,
  ipv4,
  ipv6,
  ipv6Ext,
  parseIpv6,
  parsePacket,
  payload,
  tcp,
  udp,
  vlan,
  writePcap,
  type ParsedIpv4,
  type ParsedTcp,
  type ParsedUdp,
} from "../../src/net/index.js";
import { canRun } from "../support/tools.js";

const SAMPLES = {
  tcpSyn: buildPacket([
    eth({ src: "02:00:00:00:00:01", dst: "02:00:00:00:00:02" }),
    ipv4({ src: "10.0.0.1", dst: "10.0.0.2", id: 7, flags: "DF", ttl: 61 }),
    tcp({
      sport: 40000,
      dport: 8080,
      flags: "S",
      seq: 1000,
      options: [
        { kind: "mss", value: 1460 },
        { kind: "sack-ok" },
        { kind: "timestamp", value: 1, echo: 0 },
        { kind: "nop" },
        { kind: "wscale", value: 7 },
      ],
    }),
  ]),
  udpOpts: buildPacket([
    eth(),
    ipv4({ src: "10.0.0.1", dst: "10.0.0.2", options: Uint8Array.of(1, 1, 1) }),
    udp({ sport: 1234, dport: 9999 }),
    payload("hello"),
  ]),
  qinqV6: buildPacket([
    eth(),
    vlan({ vid: 100, pcp: 3 }),
    vlan({ vid: 200 }),
    ipv6({ src: "2001:db8::1", dst: "2001:db8::2", flowLabel: 0x12345 }),
    ipv6Ext({ type: "hop-by-hop" }),
    ipv6Ext({ type: "dest-opts", data: Uint8Array.of(1, 2, 0, 0) }),
    tcp({ sport: 1, dport: 80, flags: "PA", ack: 5, seq: 9 }),
    payload("GET /"),
  ]),
  icmpEcho: buildPacket([
    eth(),
    ipv4({ src: "192.168.1.1", dst: "8.8.8.8" }),
    icmp({ id: 1, seq: 2 }),
    payload("abcdefgh"),
  ]),
  icmp6Echo: buildPacket([
    eth(),
    ipv6({ src: "fe80::1", dst: "ff02::1" }),
    icmpv6({ id: 3, seq: 4 }),
    payload("odd"),
  ]),
  arpReq: buildPacket([
    eth(),
    arp({ op: "request", senderMac: "02:00:00:00:00:01", senderIp: "10.0.0.1", targetIp: "10.0.0.2" }),
  ]),
  udp6Odd: buildPacket([
    eth(),
    ipv6({ src: "2001:db8::a", dst: "2001:db8::b" }),
    udp({ sport: 5, dport: 6 }),
    payload("abc"),
  ]),
};

test("parsePacket reads back what buildPacket wrote, checksums included", () => {
  const p = parsePacket(SAMPLES.tcpSyn);
  assert.equal(p.truncated, false);
  assert.deepEqual(
    p.layers.map((l) => l.kind),
    ["eth", "ipv4", "tcp"],
  );
  const ip = p.layers[1] as ParsedIpv4;
  assert.equal(ip.src, "10.0.0.1");
  assert.equal(ip.ttl, 61);
  assert.equal(ip.df, true);
  assert.equal(ip.totalLength, SAMPLES.tcpSyn.length - 14);
  assert.equal(ip.checksumOk, true);
  const t = p.layers[2] as ParsedTcp;
  assert.equal(t.sport, 40000);
  assert.equal(t.dport, 8080);
  assert.equal(t.seq, 1000);
  assert.equal(t.length, 40);
  assert.equal(t.checksumOk, true);
  assert.equal(p.summary, "TCP 10.0.0.1:40000 > 10.0.0.2:8080 [S]");

  const u = parsePacket(SAMPLES.udpOpts);
  assert.equal((u.layers[1] as ParsedIpv4).length, 24);
  assert.deepEqual([...(u.layers[1] as ParsedIpv4).options], [1, 1, 1, 0]);
  assert.equal((u.layers[2] as ParsedUdp).checksumOk, true);
  assert.equal(u.payloadLength, 5);

  const q = parsePacket(SAMPLES.qinqV6);
  assert.deepEqual(
    q.layers.map((l) => l.kind),
    ["eth", "vlan", "vlan", "ipv6", "ipv6-ext", "ipv6-ext", "tcp"],
  );
  assert.equal(q.layers[1]?.kind === "vlan" && q.layers[1].tpid, 0x88a8);
  assert.equal(q.layers[2]?.kind === "vlan" && q.layers[2].tpid, 0x8100);
  assert.equal((q.layers[6] as ParsedTcp).checksumOk, true);
  assert.equal(q.summary, "vlan 100 vlan 200 TCP [2001:db8::1]:1 > [2001:db8::2]:80 [P.] len 5");

  for (const [name, pkt] of Object.entries(SAMPLES)) {
    const r = parsePacket(pkt);
    assert.equal(r.truncated, false, name);
    for (const l of r.layers)
      if ("checksumOk" in l && l.checksumOk !== undefined)
        assert.equal(l.checksumOk, true, `${name} ${l.kind}`);
  }
  assert.equal(describePacket(SAMPLES.arpReq), "ARP who-has 10.0.0.2 tell 10.0.0.1");
  assert.equal(describePacket(SAMPLES.icmp6Echo), "ICMPv6 fe80::1 > ff02::1 echo-request id 3 seq 4");
  assert.equal(parsePacket(SAMPLES.icmp6Echo).payloadLength, 3);
});

test("a corrupted byte makes the parser report a bad checksum", () => {
  const bad = SAMPLES.tcpSyn.slice();
  bad[bad.length - 1] = (bad[bad.length - 1] as number) ^ 0x40;
  assert.equal((parsePacket(bad).layers[2] as ParsedTcp).checksumOk, false);
  const badIp = SAMPLES.tcpSyn.slice();
  badIp[22] = 1; // TTL
  assert.equal((parsePacket(badIp).layers[1] as ParsedIpv4).checksumOk, false);
});

test("checksums agree with an independent python3 computation", (t) => {
  if (!canRun("python3")) return t.skip("python3 not installed");
  const script = `
import sys, struct
d = bytes.fromhex(sys.argv[1])
def csum(b):
    if len(b) % 2: b += b"\\0"
    s = sum(struct.unpack("!%dH" % (len(b)//2), b))
    while s >> 16: s = (s & 0xffff) + (s >> 16)
    return (~s) & 0xffff
ihl = (d[14] & 15) * 4
ip = bytearray(d[14:14+ihl]); ip[10:12] = b"\\0\\0"
seg = bytearray(d[14+ihl:]); seg[16:18] = b"\\0\\0"
pseudo = d[26:34] + struct.pack("!BBH", 0, 6, len(seg))
print(csum(bytes(ip)), csum(pseudo + bytes(seg)))`;
  const pkt = SAMPLES.tcpSyn;
  const [ipSum, tcpSum] = execFileSync("python3", ["-c", script, Buffer.from(pkt).toString("hex")], {
    encoding: "utf8",
  })
    .trim()
    .split(" ")
    .map(Number);
  const dv = new DataView(pkt.buffer, pkt.byteOffset);
  assert.equal(dv.getUint16(24), ipSum);
  assert.equal(dv.getUint16(14 + 20 + 16), tcpSum);
  assert.equal(internetChecksum(pkt.subarray(14, 34)), 0);
});

test("tcpdump dissects the built packets and finds every checksum correct", (t) => {
  if (!canRun("tcpdump")) return t.skip("tcpdump not installed");
  const dir = mkdtempSync(join(tmpdir(), "tsbpf-net-"));
  try {
    const names = Object.keys(SAMPLES);
    const file = join(dir, "s.pcap");
    const bad = SAMPLES.udp6Odd.slice();
    bad[bad.length - 1] = 0x7a; // payload change without fixing the checksum
    writeFileSync(file, writePcap([...Object.values(SAMPLES), bad]));
    const out = execFileSync("tcpdump", ["-r", file, "-nn", "-vv", "-e"], {
      encoding: "utf8",
      stdio: ["ignore", "pipe", "ignore"],
    });
    const records = out.split(/\n(?=\d\d:)/);
    assert.equal(records.length, names.length + 1);
    const rec = (n: string): string => records[names.indexOf(n)] ?? "";
    assert.match(
      rec("tcpSyn"),
      /10\.0\.0\.1\.40000 > 10\.0\.0\.2\.8080: Flags \[S\], cksum 0x[0-9a-f]+ \(correct\), seq 1000/,
    );
    assert.match(rec("tcpSyn"), /options \[mss 1460,sackOK,TS val 1 ecr 0,nop,wscale 7\]/);
    assert.match(rec("tcpSyn"), /ttl 61, id 7, offset 0, flags \[DF\]/);
    assert.match(rec("udpOpts"), /\[udp sum ok\]/);
    assert.match(rec("udpOpts"), /options \(NOP,NOP,NOP,EOL\)/);
    assert.match(rec("qinqV6"), /ethertype 802\.1Q-QinQ \(0x88a8\).*vlan 100, p 3.*vlan 200/s);
    assert.match(rec("qinqV6"), /Flags \[P\.\], cksum 0x[0-9a-f]+ \(correct\)/);
    assert.match(rec("icmpEcho"), /ICMP echo request, id 1, seq 2, length 16/);
    assert.match(rec("icmp6Echo"), /\[icmp6 sum ok\] ICMP6, echo request, id 3, seq 4/);
    assert.match(rec("arpReq"), /Request who-has 10\.0\.0\.2 tell 10\.0\.0\.1/);
    assert.match(rec("udp6Odd"), /\[udp sum ok\]/);
    assert.doesNotMatch(records.slice(0, -1).join("\n"), /incorrect|bad cksum|wrong/);
    assert.match(records.at(-1) ?? "", /bad udp cksum/);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test("every truncation of a packet parses without throwing and says it is truncated", () => {
  for (const [name, pkt] of Object.entries(SAMPLES)) {
    const full = parsePacket(pkt);
    const lastHeaderEnd = Math.max(...full.layers.map((l) => l.offset + l.length));
    for (let n = 0; n < pkt.length; n++) {
      const p = parsePacket(pkt.subarray(0, n));
      assert.equal(typeof p.summary, "string");
      if (n < lastHeaderEnd) assert.equal(p.truncated, true, `${name} cut at ${n}`);
      if (p.truncated) assert.match(p.summary, /truncated/);
    }
  }
  // Random garbage never throws either.
  let seed = 12345;
  const rnd = (): number => {
    seed = (seed * 1103515245 + 12345) & 0x7fffffff;
    return seed;
  };
  for (let k = 0; k < 3000; k++) {
    const b = Uint8Array.from({ length: rnd() % 120 }, () => rnd() & 0xff);
    if (k % 3 === 0 && b.length > 14) b.set([0x08, 0x00, 0x45], 12);
    if (k % 3 === 1 && b.length > 14) b.set([0x86, 0xdd, 0x60], 12);
    parsePacket(b);
    parsePacket(b, 101);
  }
});

test("IPv4 and IPv6 fragments: only the first one carries a transport header", () => {
  const first = parsePacket(
    buildPacket([
      eth(),
      ipv4({ src: "1.1.1.1", dst: "2.2.2.2", flags: "MF", id: 9 }),
      udp({ sport: 1, dport: 2 }),
      payload("12345678"),
    ]),
  );
  assert.deepEqual(
    first.layers.map((l) => l.kind),
    ["eth", "ipv4", "udp"],
  );
  assert.equal((first.layers[2] as ParsedUdp).checksumOk, undefined);
  const later = parsePacket(
    buildPacket([
      eth(),
      ipv4({ src: "1.1.1.1", dst: "2.2.2.2", fragOffset: 2, protocol: 17, id: 9 }),
      payload("abcdefgh"),
    ]),
  );
  assert.deepEqual(
    later.layers.map((l) => l.kind),
    ["eth", "ipv4"],
  );
  assert.equal((later.layers[1] as ParsedIpv4).fragOffset, 2);
  assert.equal(later.summary, "IPv4 1.1.1.1 > 2.2.2.2 proto 17 len 8 (IPv4 fragment at offset 16)");
  const v6 = parsePacket(
    buildPacket([
      eth(),
      ipv6({ src: "::1", dst: "::2" }),
      ipv6Ext({ type: "fragment", fragOffset: 3, identification: 77, nextHeader: 17 }),
      payload("zz"),
    ]),
  );
  assert.equal(v6.layers[2]?.kind === "ipv6-ext" && v6.layers[2].identification, 77);
  assert.equal(v6.layers.length, 3);
});

test("IPv6 text forms round-trip through parse and format (RFC 5952)", () => {
  for (const [inp, want] of [
    ["2001:0db8:0000:0000:0000:0000:0000:0001", "2001:db8::1"],
    ["::", "::"],
    ["::1", "::1"],
    ["1::", "1::"],
    ["2001:db8:0:1:1:1:1:1", "2001:db8:0:1:1:1:1:1"],
    ["2001:0:0:1:0:0:0:1", "2001:0:0:1::1"],
    ["::ffff:10.0.0.1", "::ffff:a00:1"],
  ] as const) {
    assert.equal(formatIpv6(parseIpv6(inp)), want);
  }
  assert.throws(() => parseIpv6("1::2::3"), { name: "ParseError" });
  assert.throws(() => buildPacket([eth(), ipv4({ src: "10.0.0.256", dst: "1.1.1.1" })]), {
    name: "ParseError",
  });
  assert.throws(() => buildPacket([eth(), ipv4({ src: "1.1.1.1", dst: "1.1.1.1" }), tcp({ dport: 70000 })]), {
    name: "UsageError",
  });
  assert.throws(() => buildPacket([eth(), tcp({ flags: "Z" })]), { name: "UsageError" });
});
