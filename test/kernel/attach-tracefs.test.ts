/**
 * `tsbpf attach` mounts tracefs when it is missing (as bpftool does) before it loads, so its trace
 * instance is ready when the program is. In the fresh /sys of `ip netns exec` there is none: a
 * load that then fails must leave no tracefs mount behind in that mount namespace.
 */
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { resolve } from "node:path";
import { test } from "node:test";
import { cliArgv, createVethNs } from "./attach-support.js";
import { hasCommand, kernelSkipReason } from "./support.js";

const BROKEN = resolve("test/bpf/kernel/broken.bpf.o");
const skip = kernelSkipReason() ?? (hasCommand("ip") ? undefined : "needs ip (iproute2)");

/**
 * Runs `tsbpf ARGS` inside `ip netns exec NS` and says whether tracefs was mounted in that private
 * mount namespace before and after (its trace_pipe on /sys/kernel/tracing, which the fresh sysfs
 * of `ip netns exec` covers).
 */
function inFreshSys(
  ns: string,
  args: string[],
): { before: string; after: string; status: string; stderr: string } {
  const q = (s: string): string => `'${s.replace(/'/g, "'\\''")}'`;
  const cmd = [process.execPath, ...cliArgv(args)].map(q).join(" ");
  const probe = "if [ -e /sys/kernel/tracing/trace_pipe ]; then echo mounted; else echo none; fi";
  const script = `${probe}; ${cmd} >/dev/null 2>/tmp/tsbpf-tracefs-$$.err; echo "status $?"; ${probe}; cat /tmp/tsbpf-tracefs-$$.err >&2; rm -f /tmp/tsbpf-tracefs-$$.err`;
  const r = spawnSync("ip", ["netns", "exec", ns, "sh", "-c", script], { encoding: "utf8", timeout: 60_000 });
  const [before = "", status = "", after = ""] = r.stdout.trim().split("\n");
  return { before, after, status, stderr: r.stderr };
}

test("a failed load under ip netns exec leaves no tracefs mount that attach made", { skip }, () => {
  const net = createVethNs("t");
  try {
    const r = inFreshSys(net.ns, ["attach", BROKEN, "--prog", "unchecked_read", "--iface", net.peerIf]);
    assert.equal(r.before, "none", "the fresh sysfs of ip netns exec has no tracefs");
    assert.equal(r.status, "status 1", r.stderr);
    assert.match(r.stderr, /^tsbpf: program unchecked_read: the verifier rejected it/);
    assert.equal(r.after, "none", "attach unmounted the tracefs it mounted for the load that failed");
  } finally {
    net.remove();
  }
});

test("a mistake found after attach started its trace instance (no such program, interface, netns or slot) leaves no tracefs mount either", {
  skip,
}, () => {
  const net = createVethNs("u");
  try {
    const OBJ = resolve("examples/tail-call/tail_call.bpf.o");
    for (const [args, re] of [
      [
        ["attach", OBJ, "--prog", "nosuch", "--iface", net.peerIf],
        /^tsbpf: attach: no program named 'nosuch'/,
      ],
      [["attach", OBJ, "--prog", "main_prog"], /^tsbpf: attach: missing --iface/],
      [
        ["attach", OBJ, "--prog", "main_prog", "--iface", net.peerIf, "--netns", "tsbpf-no-such-ns"],
        /tsbpf-no-such-ns/,
      ],
      [
        ["attach", OBJ, "--prog", "main_prog", "--iface", net.peerIf, "--tail", "prog_array:9=port22_prog"],
        /prog_array/,
      ],
    ] as const) {
      const r = inFreshSys(net.ns, [...args]);
      assert.equal(r.before, "none", "the fresh sysfs of ip netns exec has no tracefs");
      assert.equal(r.status, "status 2", `${args.join(" ")}: ${r.stderr}`);
      assert.match(r.stderr, re, args.join(" "));
      assert.equal(r.after, "none", `${args.join(" ")}: attach unmounted the tracefs it mounted`);
    }
  } finally {
    net.remove();
  }
});
