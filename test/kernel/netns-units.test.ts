/**
 * The pieces behind --netns and the tracefs/bpffs finder, without root: the mount table parser,
 * and entering and leaving a network namespace through a recording fake Sys.
 */
import assert from "node:assert/strict";
import { test } from "node:test";
import { Errno } from "../../src/abi/index.js";
import { mountOf, parseMounts } from "../../src/kernel/mounts.js";
import { inNetns, netnsPath } from "../../src/kernel/netns.js";
import { SysError, type Sys } from "../../src/kernel/sys.js";
import { fakeSys } from "./support.js";

const CLONE_NEWNET = 0x40000000;
const linux = process.platform === "linux" ? undefined : "needs Linux (/proc/self/ns/net)";

test("the mount table parser decodes escapes, and the deepest, latest mount holds a path", () => {
  const mounts = parseMounts(
    [
      "/dev/vda / ext4 rw 0 0",
      "sysfs /sys sysfs rw 0 0",
      "bpf /sys/fs/bpf bpf rw 0 0",
      "tracefs /sys/kernel/tracing tracefs rw 0 0",
      "none /mnt/my\\040dir tmpfs rw 0 0",
      "tsbpf-ns /sys sysfs rw 0 0",
      "",
    ].join("\n"),
  );
  assert.equal(mounts.length, 6);
  assert.equal(mounts[4]?.target, "/mnt/my dir");
  assert.equal(mountOf("/sys/fs/bpf/x/link", mounts)?.fstype, "bpf");
  assert.equal(mountOf("/sys/fs/bpfx", mounts)?.source, "tsbpf-ns", "a prefix that is not a directory");
  assert.equal(mountOf("/mnt/my dir/a", mounts)?.fstype, "tmpfs");
  assert.equal(mountOf("/tmp/a", mounts)?.fstype, "ext4");
});

function recordingSys(onSetns: (fd: number) => void = () => undefined): { sys: Sys; setns: number[][] } {
  const setns: number[][] = [];
  const { sys } = fakeSys(() => 0);
  sys.setns = (fd, type) => {
    setns.push([fd, type]);
    onSetns(fd);
  };
  return { sys, setns };
}

test("inNetns enters the namespace, runs the work there, and returns even when the work throws", {
  skip: linux,
}, () => {
  const { sys, setns } = recordingSys();
  const target = "/proc/self/ns/net";
  assert.equal(netnsPath(target), target);
  assert.equal(netnsPath("blue"), "/var/run/netns/blue");
  assert.equal(
    inNetns(sys, target, () => {
      assert.equal(setns.length, 1, "inside: entered once");
      return 42;
    }),
    42,
  );
  assert.equal(setns.length, 2);
  assert.ok(setns.every(([, t]) => t === CLONE_NEWNET));
  assert.notEqual(setns[0]?.[0], setns[1]?.[0], "entered the target, went back through another fd");

  const boom = new Error("boom");
  assert.throws(
    () =>
      inNetns(sys, target, () => {
        throw boom;
      }),
    (e) => e === boom,
  );
  assert.equal(setns.length, 4, "went back after the failure too");
  assert.equal(
    inNetns(sys, undefined, () => "here"),
    "here",
  );
  assert.equal(setns.length, 4, "no namespace, no setns");
});

test("inNetns names an unknown namespace, and explains EPERM without running the work", {
  skip: linux,
}, () => {
  const { sys, setns } = recordingSys();
  let ran = false;
  assert.throws(
    () =>
      inNetns(sys, "tsbpf-no-such-ns", () => {
        ran = true;
      }),
    (e: Error & { hint?: string }) => {
      assert.equal(e.name, "UsageError");
      assert.equal(
        e.message,
        "no network namespace named 'tsbpf-no-such-ns' (/var/run/netns/tsbpf-no-such-ns does not exist)",
      );
      assert.match(e.hint ?? "", /ip netns list/);
      return true;
    },
  );
  assert.deepEqual(setns, []);
  const denied = recordingSys(() => {
    throw new SysError("setns", Errno.EPERM);
  });
  assert.throws(
    () =>
      inNetns(denied.sys, "/proc/self/ns/net", () => {
        ran = true;
      }),
    (e: Error & { hint?: string; errno?: number }) => {
      assert.equal(e.name, "LoadError");
      assert.equal(e.errno, Errno.EPERM);
      assert.match(e.hint ?? "", /needs root \(CAP_SYS_ADMIN\)/);
      return true;
    },
  );
  assert.equal(ran, false);
  assert.equal(denied.setns.length, 1, "never entered, so nothing to go back from");
});

test("a SysError given context keeps its errno and message (it read `errno [object Object]`)", () => {
  const e = new SysError("bpf(BPF_PROG_TEST_RUN)", Errno.ENOSPC, { hint: "a larger buffer" }).withContext({
    program: "resize",
  });
  assert.ok(e instanceof SysError);
  assert.equal(e.message, "bpf(BPF_PROG_TEST_RUN): ENOSPC (errno 28) (program resize)");
  assert.deepEqual(
    [e.errno, e.code, e.syscall, e.hint],
    [28, "ENOSPC", "bpf(BPF_PROG_TEST_RUN)", "a larger buffer"],
  );
});
