/** `tsbpf send --packet SPEC`: the spec's layers through the net builder, lower layers filled in, typos named. */
import assert from "node:assert/strict";
import { test } from "node:test";
import { isUsageError } from "../../src/errors.js";
import { packetFromSpec } from "../../src/net/packet-spec.js";
import { parsePacket } from "../../src/net/parse.js";

test("a transport alone gets Ethernet and IPv4 10.0.0.1 -> 10.0.0.2", () => {
  const p = parsePacket(packetFromSpec("tcp:dport=8080,flags=S"));
  assert.match(p.summary, /^TCP 10\.0\.0\.1:\d+ > 10\.0\.0\.2:8080 \[S\]/);
  assert.equal(p.truncated, false);
});

test("every layer written out, with a payload size", () => {
  const bytes = packetFromSpec(
    "eth:dst=02:00:00:00:00:02/ipv4:src=10.1.0.1,dst=10.1.0.2/udp:dport=53/payload:size=18",
  );
  assert.equal(bytes.byteLength, 14 + 20 + 8 + 18);
  assert.match(parsePacket(bytes).summary, /^UDP 10\.1\.0\.1:\d+ > 10\.1\.0\.2:53/);
  assert.match(parsePacket(packetFromSpec("icmpv6:type=128")).summary, /fd00::1/);
});

test("typos are named, with the syntax", () => {
  for (const [spec, re] of [
    ["tpc:dport=1", /unknown layer 'tpc'/],
    ["tcp:dport=http", /dport=http is not a number/],
    ["tcp:dport", /'dport' is not field=value/],
    ["tcp:flags=Q", /unknown TCP flag/],
  ] as const) {
    assert.throws(
      () => packetFromSpec(spec),
      (e: unknown) =>
        isUsageError(e) &&
        re.test((e as Error).message) &&
        /LAYER\[:field=value/.test((e as { hint?: string }).hint ?? ""),
      spec,
    );
  }
});

test("a misspelt field is refused by name, not dropped from the packet", () => {
  assert.throws(
    () => packetFromSpec("tcp:dprt=80"),
    (e: Error) =>
      isUsageError(e) &&
      e.message ===
        "packet spec 'tcp:dprt=80': tcp has no field 'dprt' (it has sport, dport, seq, ack, flags, window)",
  );
  assert.throws(() => packetFromSpec("eth/ipv4:dts=10.0.0.9/udp"), /ipv4 has no field 'dts'/);
});
