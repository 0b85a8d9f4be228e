/**
 * Without privileges, bpf() fails with EPERM; tsbpf must say exactly which capabilities are
 * missing. The child processes drop privileges with setpriv (util-linux) before starting node.
 */
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { resolve } from "node:path";
import { pathToFileURL } from "node:url";
import { test } from "node:test";
import { hasCommand, kernelSkipReason } from "./support.js";

const skip =
  kernelSkipReason() ?? (hasCommand("setpriv") ? undefined : "needs setpriv (util-linux) to drop privileges");

/** Runs createMap in a child under `setpriv args` and returns what it reported. */
function createMapAs(setprivArgs: string[]): {
  name: string;
  errno: number;
  message: string;
  hint: string;
  capEff: string;
} {
  // Internal modules, straight from dist: the package's kernel namespace does not export them.
  const from = (m: string) => JSON.stringify(pathToFileURL(resolve(`dist/src/kernel/${m}.js`)).href);
  const script = `
    import { createMap } from ${from("map-ops")};
    import { defaultSys } from ${from("sys")};
    import { MapType } from ${from("constants")};
    import { readFileSync } from "node:fs";
    const capEff = /CapEff:\\s*(\\S+)/.exec(readFileSync("/proc/self/status", "utf8"))[1];
    try {
      createMap(defaultSys(), { type: MapType.ARRAY, keySize: 4, valueSize: 4, maxEntries: 1, name: "t_priv" }).close();
      console.log(JSON.stringify({ name: "ok", capEff }));
    } catch (e) {
      console.log(JSON.stringify({ name: e.name, errno: e.errno, message: e.message, hint: e.hint, capEff }));
    }`;
  const r = spawnSync("setpriv", [...setprivArgs, process.execPath, "--input-type=module", "-e", script], {
    encoding: "utf8",
    cwd: "/",
  });
  assert.equal(r.status, 0, `child failed: ${r.stderr}`);
  return JSON.parse(r.stdout.trim());
}

test("an unprivileged user gets EPERM and a hint naming all three capabilities", { skip }, () => {
  const r = createMapAs([
    "--reuid=65534",
    "--regid=65534",
    "--clear-groups",
    "--inh-caps=-all",
    "--bounding-set=-all",
  ]);
  assert.equal(r.capEff, "0000000000000000");
  assert.equal(r.name, "LoadError");
  assert.equal(r.errno, 1);
  assert.match(r.message, /create map t_priv: EPERM/);
  assert.match(r.hint, /needs root, or CAP_BPF with CAP_NET_ADMIN and CAP_PERFMON/);
  assert.match(r.hint, /lacks CAP_BPF, CAP_NET_ADMIN, CAP_PERFMON/);
});

test("root without CAP_BPF, CAP_SYS_ADMIN and CAP_PERFMON is told exactly those are missing", {
  skip,
}, () => {
  const drop = "-bpf,-sys_admin,-perfmon";
  const r = createMapAs([`--inh-caps=${drop}`, `--bounding-set=${drop}`]);
  assert.equal(r.name, "LoadError", JSON.stringify(r));
  assert.equal(r.errno, 1);
  assert.match(r.hint, /lacks CAP_BPF, CAP_PERFMON \(CapEff/);
  assert.doesNotMatch(r.hint, /CAP_NET_ADMIN,|lacks CAP_NET_ADMIN/);
});

test("with CAP_BPF alone a plain array map can be created", { skip }, () => {
  // The kernel lets CAP_BPF create maps; CAP_NET_ADMIN/CAP_PERFMON gate program types and pointer leaks.
  const drop = "-sys_admin,-perfmon,-net_admin";
  const r = createMapAs([`--inh-caps=${drop}`, `--bounding-set=${drop}`]);
  assert.equal(r.name, "ok", JSON.stringify(r));
});
