/**
 * The veths of the kernel tests (createVethNs) never share a /24 with another interface of the
 * host: one left by a killed run, or another process's test with the same pid remainder and tag,
 * would otherwise take the packets sent to this test's namespace (or send its own into it), and
 * a test counting its packets (stats-veth) would count one more or one less. Here an interface
 * squats the /24 createVethNs would take; the veth goes on another, and a SYN sent to its peer's
 * address reaches its namespace (answered with a reset there).
 */
import assert from "node:assert/strict";
import { execFileSync, spawnSync } from "node:child_process";
import { test } from "node:test";
import { createVethNs, sendSyn } from "./attach-support.js";
import { hasCommand, kernelSkipReason } from "./support.js";

const skip = kernelSkipReason() ?? (hasCommand("ip") ? undefined : "needs ip (iproute2)");

/** The namespace's count of TCP resets sent (`Tcp: OutRsts` of /proc/net/snmp there). */
function outRsts(ns: string): number {
  const snmp = execFileSync("ip", ["netns", "exec", ns, "cat", "/proc/net/snmp"], { encoding: "utf8" });
  const [names, values] = snmp.split("\n").filter((l) => l.startsWith("Tcp:"));
  const i = names?.split(/\s+/).indexOf("OutRsts") ?? -1;
  return Number(values?.split(/\s+/)[i]);
}

test("createVethNs takes a /24 no other host interface has, and the packets to its peer reach its namespace", {
  skip,
}, () => {
  const tag = "zz";
  const short = process.pid % 100_000;
  // The /24 createVethNs("zz") takes on a host where it is free.
  const usual = `10.${(process.pid % 200) + 20}.${tag.charCodeAt(0) % 250}`;
  const squatter = `tsa${short}zq`;
  spawnSync("ip", ["link", "del", squatter], { stdio: "ignore" });
  execFileSync("ip", ["link", "add", squatter, "type", "veth", "peer", "name", `tsb${short}zq`]);
  try {
    execFileSync("ip", ["addr", "add", `${usual}.1/24`, "dev", squatter]);
    execFileSync("ip", ["link", "set", squatter, "up"]);
    const net = createVethNs(tag);
    try {
      assert.notEqual(net.hostIp.replace(/\.\d+$/, ""), usual, "the squatted /24 is not taken again");
      assert.match(net.hostIp, /^10\.\d+\.\d+\.1$/);
      assert.equal(net.peerIp, net.hostIp.replace(/\.1$/, ".2"));
      const before = outRsts(net.ns);
      sendSyn(undefined, net.peerIp, 8080);
      assert.equal(outRsts(net.ns) - before, 1, "the SYN reached this namespace, which reset it");
    } finally {
      net.remove();
    }
  } finally {
    spawnSync("ip", ["link", "del", squatter], { stdio: "ignore" });
  }
});
