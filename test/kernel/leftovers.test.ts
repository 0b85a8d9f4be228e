/**
 * The sweep of leftovers of killed test runs (leftovers.ts, run by scripts/run-tests.mjs): a
 * namespace, a host veth pair and bpffs pins named after a pid that no longer runs are removed;
 * the same names with this process's pid (alive) stay, as do names without a pid.
 */
import assert from "node:assert/strict";
import { execFileSync, spawnSync } from "node:child_process";
import { existsSync, mkdirSync, rmSync } from "node:fs";
import { test } from "node:test";
import { MapType } from "../../src/abi/index.js";
import { createMap } from "../../src/kernel/map-ops.js";
import { pinObject } from "../../src/kernel/object-ops.js";
import { defaultSys } from "../../src/kernel/sys.js";
import { pidMax, sweepLeftovers } from "./leftovers.js";
import { ensureBpffs, hasCommand, kernelSkipReason } from "./support.js";

const skip = kernelSkipReason() ?? (hasCommand("ip") && ensureBpffs() ? undefined : "needs ip and a bpffs");

/** A pid no process has, nor any with the same remainder modulo 100000 (as short names keep it). */
function deadPid(): number {
  const live = new Set(
    execFileSync("ps", ["-e", "-o", "pid="], { encoding: "utf8" })
      .split("\n")
      .filter((l) => l.trim() !== "")
      .map((l) => Number(l.trim()) % 100_000),
  );
  for (let p = Math.min(pidMax(), 100_000) - 1; p > 1000; p--) if (!live.has(p)) return p;
  throw new Error("no free pid");
}

const netnsExists = (ns: string): boolean =>
  execFileSync("ip", ["netns", "list"], { encoding: "utf8" })
    .split("\n")
    .some((l) => l.split(" ")[0] === ns);
const linkExists = (name: string): boolean =>
  spawnSync("ip", ["link", "show", "dev", name], { stdio: "ignore" }).status === 0;

test("the sweep removes the namespaces, veths and pins of a dead pid, and leaves a live one's", {
  skip,
}, () => {
  const dead = deadPid();
  const me = process.pid;
  // The bpffs places of this test only: the real root's entries are other runs' business.
  const root = `/sys/fs/bpf/tsbpf-sweeptest-${me}`;
  const places = { bpffs: root, pipelines: `${root}/tsbpf` };
  const names = {
    deadNs: `tsbpf-att-${dead}q`,
    liveNs: `tsbpf-att-${me % 100_000}q`,
    deadVeth: `tsa${dead}q`,
    liveVeth: `tsa${me % 100_000}q`,
  };
  const sys = defaultSys();
  try {
    for (const ns of [names.deadNs, names.liveNs]) execFileSync("ip", ["netns", "add", ns]);
    for (const v of [names.deadVeth, names.liveVeth])
      execFileSync("ip", ["link", "add", v, "type", "veth", "peer", "name", `${v}p`]);
    mkdirSync(places.pipelines, { recursive: true });
    const pins = {
      dead: [
        `${root}/tsbpf-k-${dead}-map`,
        `${root}/tsbpf-tcup-${dead}`,
        `${places.pipelines}/upgrade-test-${dead}`,
      ],
      live: [
        `${root}/tsbpf-k-${me}-map`,
        `${root}/tsbpf-tcup-${me}`,
        `${places.pipelines}/upgrade-test-${me}`,
      ],
      other: [`${root}/tsbpf-k-a1b2c3`, `${places.pipelines}/web-${dead}`],
    };
    const map = createMap(sys, {
      type: MapType.array,
      keySize: 4,
      valueSize: 4,
      maxEntries: 1,
      name: "sweep",
    });
    try {
      for (const p of [...pins.dead, ...pins.live, ...pins.other]) {
        if (p.endsWith("-map") || p.endsWith("c3")) pinObject(sys, map.value, p);
        else {
          mkdirSync(p);
          pinObject(sys, map.value, `${p}/m`);
        }
      }
    } finally {
      map.close();
    }

    const gone = sweepLeftovers(places);

    assert.ok(gone.netns.includes(names.deadNs), JSON.stringify(gone));
    assert.equal(netnsExists(names.deadNs), false, "the dead pid's namespace is gone");
    assert.equal(netnsExists(names.liveNs), true, "a live pid's namespace stays");
    assert.equal(
      linkExists(names.deadVeth) || linkExists(`${names.deadVeth}p`),
      false,
      "the dead pid's veths are gone",
    );
    assert.equal(linkExists(names.liveVeth), true, "a live pid's veth stays");
    for (const p of pins.dead) assert.equal(existsSync(p), false, `${p} is removed`);
    for (const p of [...pins.live, ...pins.other]) assert.equal(existsSync(p), true, `${p} stays`);
    assert.deepEqual([...gone.pins].sort(), [...pins.dead].sort());
  } finally {
    for (const ns of [names.deadNs, names.liveNs]) spawnSync("ip", ["netns", "del", ns], { stdio: "ignore" });
    for (const v of [names.deadVeth, names.liveVeth])
      spawnSync("ip", ["link", "del", v], { stdio: "ignore" });
    rmSync(root, { recursive: true, force: true });
  }
});
