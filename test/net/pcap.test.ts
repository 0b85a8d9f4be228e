import { execFileSync } from "node:child_process";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { test } from "node:test";
import assert from "node:assert/strict";
import { isParseError } from "../../src/errors.js";
import {
  buildPacket,
  eth,
  ipv4,
  readCapture,
  readPcap,
  readPcapng,
  tcp,
  udp,
  writePcap,
  payload,
} from "../../src/net/index.js";
import { canRun } from "../support/tools.js";

const P1 = buildPacket([eth(), ipv4({ src: "10.0.0.1", dst: "10.0.0.2" }), tcp({ dport: 8080, flags: "S" })]);
const P2 = buildPacket([
  eth(),
  ipv4({ src: "10.0.0.3", dst: "10.0.0.4" }),
  udp({ dport: 53 }),
  payload("abc"),
]);

/** Asserts that `fn` either returns or throws a ParseError carrying an offset — nothing else. */
function parsesOrParseError(fn: () => unknown, what: string): "ok" | "error" {
  try {
    fn();
    return "ok";
  } catch (e) {
    assert.ok(isParseError(e), `${what}: threw ${String(e)}`);
    assert.equal(typeof e.context.offset, "number", `${what}: ParseError without an offset: ${e.message}`);
    return "error";
  }
}

test("pcap round trip in both byte orders, micro- and nanosecond", () => {
  const ts = 1_700_000_000_123_456_789n;
  for (const littleEndian of [true, false]) {
    for (const nanos of [false, true]) {
      const bytes = writePcap(
        [
          { data: P1, timestampNs: ts },
          { data: P2, timestampNs: ts + 1000n, origLen: 1500 },
        ],
        { littleEndian, nanos },
      );
      const f = readPcap(bytes);
      assert.equal(f.littleEndian, littleEndian);
      assert.equal(f.nanos, nanos);
      assert.equal(f.linktype, 1);
      assert.equal(f.linktypeName, "ETHERNET");
      assert.equal(f.packets.length, 2);
      assert.deepEqual(f.packets[0]?.data, P1);
      assert.deepEqual(f.packets[1]?.data, P2);
      assert.equal(f.packets[1]?.origLen, 1500);
      assert.equal(f.packets[0]?.timestampNs, nanos ? ts : ts - 789n);
    }
  }
});

test("tcpdump reads the pcap files we write (both byte orders, nanosecond magic)", (t) => {
  if (!canRun("tcpdump")) return t.skip("tcpdump not installed");
  const dir = mkdtempSync(join(tmpdir(), "tsbpf-pcap-"));
  try {
    for (const littleEndian of [true, false]) {
      const file = join(dir, `x-${littleEndian}.pcap`);
      writeFileSync(
        file,
        writePcap([{ data: P1, timestampNs: 1_700_000_000_123_456_789n }, P2], { littleEndian, nanos: true }),
      );
      const out = execFileSync("tcpdump", ["-r", file, "-nn", "-tt", "--time-stamp-precision=nano"], {
        encoding: "utf8",
        stdio: ["ignore", "pipe", "ignore"],
      });
      const lines = out.trim().split("\n");
      assert.equal(lines.length, 2);
      assert.match(
        lines[0] ?? "",
        /^1700000000\.123456789 IP 10\.0\.0\.1\.40000 > 10\.0\.0\.2\.8080: Flags \[S\]/,
      );
      assert.match(lines[1] ?? "", /^0\.000000000 IP 10\.0\.0\.3\.40000 > 10\.0\.0\.4\.53: /);
    }
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

// Independent writer: python3's struct builds the files our readers must understand.
const PY_PCAPS = String.raw`
import struct, sys
out = sys.argv[1]
p1 = bytes.fromhex(sys.argv[2]); p2 = bytes.fromhex(sys.argv[3])
# big-endian microsecond pcap, link type RAW (101) to check it is reported
with open(out + "/be.pcap", "wb") as f:
    f.write(struct.pack(">IHHiIII", 0xa1b2c3d4, 2, 4, 0, 0, 65535, 101))
    f.write(struct.pack(">IIII", 5, 6, len(p1), len(p1)) + p1)
def blk(e, t, body):
    body += b"\0" * (-len(body) % 4)
    n = len(body) + 12
    return struct.pack(e + "II", t, n) + body + struct.pack(e + "I", n)
def opt(e, code, val):
    return struct.pack(e + "HH", code, len(val)) + val + b"\0" * (-len(val) % 4)
with open(out + "/multi.pcapng", "wb") as f:
    # section 1, little-endian: two interfaces (usec default; nsec via if_tsresol=9), EPB on each, SPB, unknown block
    e = "<"
    f.write(blk(e, 0x0A0D0D0A, struct.pack(e + "IHHq", 0x1A2B3C4D, 1, 0, -1)))
    f.write(blk(e, 1, struct.pack(e + "HHI", 1, 0, 0) + opt(e, 2, b"eth0") + opt(e, 0, b"")))
    f.write(blk(e, 1, struct.pack(e + "HHI", 1, 0, 0) + opt(e, 9, bytes([9])) + opt(e, 0, b"")))
    ts = 1700000000123456
    f.write(blk(e, 6, struct.pack(e + "IIIII", 0, ts >> 32, ts & 0xffffffff, len(p1), len(p1)) + p1))
    ts = 1700000000123456789
    f.write(blk(e, 6, struct.pack(e + "IIIII", 1, ts >> 32, ts & 0xffffffff, len(p2), 9000) + p2))
    f.write(blk(e, 0xB0B0B0B, b"opaque custom block"))
    f.write(blk(e, 3, struct.pack(e + "I", len(p2)) + p2))
    # section 2, big-endian: one interface with binary resolution 2^-10
    e = ">"
    f.write(blk(e, 0x0A0D0D0A, struct.pack(e + "IHHq", 0x1A2B3C4D, 1, 0, -1)))
    f.write(blk(e, 1, struct.pack(e + "HHI", 1, 0, 96) + opt(e, 9, bytes([0x80 | 10])) + opt(e, 0, b"")))
    ts = 3 * 1024 + 512
    f.write(blk(e, 6, struct.pack(e + "IIIII", 0, ts >> 32, ts & 0xffffffff, len(p1), len(p1)) + p1))
`;

test("pcap and pcapng written by python3 read back correctly (endianness, sections, tsresol, SPB, unknown blocks)", (t) => {
  if (!canRun("python3")) return t.skip("python3 not installed");
  const dir = mkdtempSync(join(tmpdir(), "tsbpf-pcapng-"));
  try {
    execFileSync("python3", [
      "-c",
      PY_PCAPS,
      dir,
      Buffer.from(P1).toString("hex"),
      Buffer.from(P2).toString("hex"),
    ]);
    const be = readPcap(new Uint8Array(execFileSync("cat", [join(dir, "be.pcap")])));
    assert.equal(be.littleEndian, false);
    assert.equal(be.linktype, 101);
    assert.equal(be.linktypeName, "RAW");
    assert.equal(be.snaplen, 65535);
    assert.equal(be.packets[0]?.timestampNs, 5_000_006_000n);
    assert.deepEqual(be.packets[0]?.data, P1);

    const bytes = new Uint8Array(execFileSync("cat", [join(dir, "multi.pcapng")]));
    const f = readPcapng(bytes);
    assert.deepEqual(
      f.sections.map((s) => s.littleEndian),
      [true, false],
    );
    assert.equal(f.interfaces.length, 3);
    assert.equal(f.interfaces[0]?.name, "eth0");
    assert.deepEqual(
      f.interfaces.map((i) => i.unitsPerSecond),
      [1_000_000n, 1_000_000_000n, 1024n],
    );
    assert.deepEqual(f.skippedBlocks, { [0xb0b0b0b]: 1 });
    assert.equal(f.packets.length, 4);
    assert.deepEqual(
      f.packets.map((p) => p.iface),
      [0, 1, 0, 2],
    );
    assert.deepEqual(
      f.packets.map((p) => p.interfaceId),
      [0, 1, 0, 0],
    );
    assert.equal(f.packets[0]?.timestampNs, 1_700_000_000_123_456_000n);
    assert.equal(f.packets[1]?.timestampNs, 1_700_000_000_123_456_789n);
    assert.equal(f.packets[1]?.origLen, 9000);
    assert.deepEqual(f.packets[2]?.data, P2);
    assert.equal(f.packets[3]?.timestampNs, 3_500_000_000n);
    assert.deepEqual(f.packets[3]?.data, P1);
    assert.equal(readCapture(bytes).packets.length, 4);

    // Every prefix and many single-byte corruptions either parse or raise a ParseError with an offset.
    for (const file of [bytes, writePcap([P1, P2], { littleEndian: false })]) {
      const reader = file === bytes ? readPcapng : readPcap;
      let errors = 0;
      for (let n = 0; n < file.length; n++)
        if (parsesOrParseError(() => reader(file.subarray(0, n)), `prefix ${n}`) === "error") errors++;
      assert.ok(errors > 0);
      for (let i = 0; i < file.length; i++) {
        for (const v of [0x00, 0xff, 0x7f]) {
          const m = file.slice();
          m[i] = v;
          parsesOrParseError(() => readCapture(m), `byte ${i} = ${v}`);
        }
      }
    }
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test("malformed captures name the offset", () => {
  const good = writePcap([P1]);
  const cases: [Uint8Array, number, RegExp][] = [
    [good.subarray(0, 10), 0, /24 bytes/],
    [Uint8Array.from([1, 2, 3, 4, ...new Uint8Array(20)]), 0, /not a pcap/],
    [good.subarray(0, good.length - 1), 32, /runs past the end/],
    [good.subarray(0, 30), 24, /truncated record header/],
  ];
  for (const [b, offset, msg] of cases) {
    assert.throws(
      () => readPcap(b),
      (e: unknown) => isParseError(e) && e.context.offset === offset && msg.test(e.message),
    );
  }
  const shb = Uint8Array.from([
    0x0a,
    0x0d,
    0x0d,
    0x0a,
    28,
    0,
    0,
    0,
    0x4d,
    0x3c,
    0x2b,
    0x1a,
    1,
    0,
    0,
    0,
    ...new Uint8Array(8).fill(0xff),
    29,
    0,
    0,
    0,
  ]);
  assert.throws(
    () => readPcapng(shb),
    (e: unknown) => isParseError(e) && e.context.offset === 24 && /trailing block length/.test(e.message),
  );
  const zeroLen = Uint8Array.from([...shb.subarray(0, 24), 28, 0, 0, 0, 6, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0]);
  assert.throws(
    () => readPcapng(zeroLen),
    (e: unknown) => isParseError(e) && e.context.offset === 32 && /block length 0/.test(e.message),
  );
});
