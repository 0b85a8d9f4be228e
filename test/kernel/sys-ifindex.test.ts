/**
 * The kernel engine's interface lookup (src/kernel/sys.ts `ifNameToIndex`), which makes
 * SIOCGIFINDEX itself through `syscall()` instead of calling glibc's if_nametoindex: it gives what
 * glibc gives, for the host's interfaces, inside a namespace (through `ip netns exec`, as users run
 * tools), and for names no interface can have; and it leaves no socket open.
 */
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { readdirSync, readFileSync } from "node:fs";
import { createRequire } from "node:module";
import { resolve } from "node:path";
import { test } from "node:test";
import { defaultSys } from "../../src/kernel/sys.js";
import { createVethNs } from "./attach-support.js";

const ODD_NAMES = ["", "no-such-if0", "x".repeat(15), "x".repeat(16), "lo\0x", "vé0", "a/b"];

/** glibc's answer, through koffi as the engine called it before. */
function glibc(): (name: string) => number {
  const koffi = createRequire(import.meta.url)("koffi") as typeof import("koffi");
  const f = koffi.load("libc.so.6").func("unsigned int if_nametoindex(const char *ifname)");
  return (name) => Number(f(name));
}

const openFds = (): number => readdirSync("/proc/self/fd").length;

test("every host interface, and names no interface has, give what glibc's if_nametoindex gives", () => {
  const sys = defaultSys();
  const reference = glibc();
  const names = readdirSync("/sys/class/net");
  assert.ok(names.includes("lo"));
  for (const name of names) {
    const want = Number(readFileSync(`/sys/class/net/${name}/ifindex`, "utf8"));
    assert.equal(sys.ifNameToIndex(name), want, name);
    assert.equal(reference(name), want, `${name} (glibc)`);
  }
  for (const name of ODD_NAMES) assert.equal(sys.ifNameToIndex(name), reference(name), JSON.stringify(name));
  const before = openFds();
  for (let i = 0; i < 200; i++) sys.ifNameToIndex(i % 2 === 0 ? "lo" : "no-such-if0");
  assert.equal(openFds(), before, "no socket left open");
});

test("inside a namespace, through ip netns exec: its own interfaces, a UTF-8 name among them", (t) => {
  if (process.getuid?.() !== 0) return t.skip("needs root to make a network namespace");
  const v = createVethNs("ifx");
  try {
    // A second pair inside the namespace, one end with a name that is not ASCII.
    spawnSync("ip", ["-n", v.ns, "link", "add", "vé0", "type", "veth", "peer", "name", "tsifx1"], {
      stdio: "pipe",
    });
    const script = `
      const { defaultSys } = await import(${JSON.stringify(resolve("dist/src/kernel/sys.js"))});
      const { readFileSync, readdirSync } = await import("node:fs");
      const sys = defaultSys();
      const out = {};
      for (const n of readdirSync("/sys/class/net")) out[n] = [sys.ifNameToIndex(n), Number(readFileSync("/sys/class/net/" + n + "/ifindex", "utf8"))];
      out["${v.hostIf}"] = [sys.ifNameToIndex("${v.hostIf}"), 0];
      console.log(JSON.stringify(out));`;
    const r = spawnSync(
      "ip",
      ["netns", "exec", v.ns, process.execPath, "--input-type=module", "-e", script],
      {
        encoding: "utf8",
      },
    );
    assert.equal(r.status, 0, r.stderr);
    const seen = JSON.parse(r.stdout) as Record<string, [number, number]>;
    assert.deepEqual(Object.keys(seen).sort(), ["lo", v.peerIf, "tsifx1", "vé0", v.hostIf].sort());
    for (const [name, [got, want]] of Object.entries(seen)) assert.equal(got, want, name);
  } finally {
    v.remove();
  }
});
