import assert from "node:assert/strict";
import { execFileSync } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { test } from "node:test";
import { AttachType } from "../../src/abi/index.js";
import { matchSection } from "../../src/object/sec-table.js";
import { ProgType } from "../../src/abi/index.js";

/** Section names covering every table row, with and without suffixes, and near misses. */
const NAMES = [
  "socket",
  "socket/x",
  "sk_reuseport",
  "sk_reuseport/migrate",
  "sk_reuseport/other",
  "kprobe",
  "kprobe/do_unlinkat",
  "kprobe/",
  "kprobe_do_unlinkat",
  "kprobex/foo",
  "kretprobe/do_unlinkat",
  "uprobe/lib.so:func",
  "uprobe.s/lib.so:func",
  "uretprobe/lib.so:func",
  "uretprobe.s/lib.so:func",
  "ksyscall/openat",
  "kretsyscall/openat",
  "usdt/lib:prov:name",
  "usdt.s/lib:prov:name",
  "kprobe.multi/do_*",
  "kretprobe.multi/do_*",
  "kprobe.session/x",
  "uprobe.multi/x",
  "uretprobe.multi/x",
  "uprobe.multi.s/x",
  "uretprobe.multi.s/x",
  "uprobe.session/x",
  "tc/ingress",
  "tc/egress",
  "tc/other",
  "tcx/ingress",
  "tcx/egress",
  "tc",
  "classifier",
  "classifier/foo",
  "action",
  "netkit/primary",
  "netkit/peer",
  "tracepoint/syscalls/sys_enter_openat",
  "tp/syscalls/sys_enter_openat",
  "tracepoint",
  "tracepoint.s/syscalls/sys_enter_openat",
  "tp.s/x/y",
  "raw_tracepoint/sys_enter",
  "raw_tp/sys_enter",
  "raw_tracepoint.s/x",
  "raw_tp.s/x",
  "raw_tracepoint.w/bpf_test_finish",
  "raw_tp.w/bpf_test_finish",
  "tp_btf/sched_switch",
  "tp_btf.s/sched_switch",
  "fentry/do_unlinkat",
  "fmod_ret/do_unlinkat",
  "fexit/do_unlinkat",
  "fentry.s/do_unlinkat",
  "fmod_ret.s/x",
  "fexit.s/x",
  "fsession/x",
  "fentry.multi/x",
  "freplace/handler",
  "lsm/file_open",
  "lsm.s/file_open",
  "lsm_cgroup/socket_bind",
  "iter/task",
  "iter.s/task",
  "syscall",
  "xdp",
  "xdp/foo",
  "xdp_foo",
  "xdp.frags",
  "xdp/devmap",
  "xdp.frags/devmap",
  "xdp/cpumap",
  "xdp.frags/cpumap",
  "perf_event",
  "lwt_in",
  "lwt_out",
  "lwt_xmit",
  "lwt_seg6local",
  "sockops",
  "sk_skb/stream_parser",
  "sk_skb/stream_verdict",
  "sk_skb/verdict",
  "sk_skb",
  "sk_skb/other",
  "sk_msg",
  "lirc_mode2",
  "flow_dissector",
  "cgroup_skb/ingress",
  "cgroup_skb/egress",
  "cgroup/skb",
  "cgroup/sock_create",
  "cgroup/sock_release",
  "cgroup/sock",
  "cgroup/post_bind4",
  "cgroup/post_bind6",
  "cgroup/bind4",
  "cgroup/bind6",
  "cgroup/connect4",
  "cgroup/connect6",
  "cgroup/connect_unix",
  "cgroup/sendmsg4",
  "cgroup/sendmsg6",
  "cgroup/sendmsg_unix",
  "cgroup/recvmsg4",
  "cgroup/recvmsg6",
  "cgroup/recvmsg_unix",
  "cgroup/getpeername4",
  "cgroup/getpeername6",
  "cgroup/getpeername_unix",
  "cgroup/getsockname4",
  "cgroup/getsockname6",
  "cgroup/getsockname_unix",
  "cgroup/sysctl",
  "cgroup/getsockopt",
  "cgroup/setsockopt",
  "cgroup/dev",
  "cgroup/unknown",
  "struct_ops",
  "struct_ops/dctcp_init",
  "struct_ops.s/x",
  "sk_lookup",
  "netfilter",
  ".text",
  "license",
  ".maps",
  "",
];

/**
 * Section names libbpf learnt after the 1.1 release installed here (tcx aliases, netkit,
 * multi-uprobes, sessions, connect_unix...). The system libbpf rejects these, so for them only
 * the hand-written expectations below speak.
 */
function newerThanSystemLibbpf(name: string): boolean {
  return /^(tcx?\/(ingress|egress)|netkit\/|u(ret)?probe\.multi|(k|u)probe\.session|fsession|fentry\.multi|fexit\.multi|cgroup\/\w+_unix|tracepoint\.s|tp\.s|raw_tracepoint\.s|raw_tp\.s|tp_btf\.s|usdt\.s|sk_skb\/verdict|struct_ops\.s|netfilter$)/.test(
    name,
  );
}

test("matchSection agrees with the system libbpf's libbpf_prog_type_by_name", (t) => {
  const dir = mkdtempSync(join(tmpdir(), "tsbpf-sec-"));
  try {
    const src = join(dir, "probe.c");
    const bin = join(dir, "probe");
    writeFileSync(
      src,
      `#include <stdio.h>
#include <bpf/libbpf.h>
static int quiet(enum libbpf_print_level l, const char *f, va_list a) { (void)l; (void)f; (void)a; return 0; }
int main(int argc, char **argv) {
  libbpf_set_print(quiet);
  for (int i = 1; i < argc; i++) {
    enum bpf_prog_type pt; enum bpf_attach_type at;
    if (libbpf_prog_type_by_name(argv[i], &pt, &at)) printf("-\\n");
    else printf("%d %d\\n", (int)pt, (int)at);
  }
  return 0;
}
`,
    );
    try {
      execFileSync("cc", ["-o", bin, src, "-lbpf"], { stdio: "pipe" });
    } catch {
      t.skip("needs cc and libbpf development files (libbpf-dev) to build the reference probe");
      return;
    }
    const names = NAMES.filter((n) => n !== "");
    const lines = execFileSync(bin, names, { encoding: "utf8" }).trim().split("\n");
    assert.equal(lines.length, names.length);
    let compared = 0;
    names.forEach((name, i) => {
      const line = lines[i] as string;
      const ours = matchSection(name);
      if (line === "-") {
        if (!newerThanSystemLibbpf(name)) assert.equal(ours, undefined, `libbpf rejects ${name}`);
        return;
      }
      const [pt, at] = line.split(" ").map(Number);
      assert.ok(ours, `libbpf accepts ${name}`);
      assert.equal(ours.type, pt, `prog type of ${name}`);
      assert.equal(ours.expectedAttachType ?? 0, at, `attach type of ${name}`);
      compared++;
    });
    assert.ok(compared > 80, `compared ${compared} names`);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test("AttachType matches enum bpf_attach_type in the system uapi header", (t) => {
  let header: string;
  try {
    header = readFileSync("/usr/include/linux/bpf.h", "utf8");
  } catch {
    t.skip("needs /usr/include/linux/bpf.h (linux-libc-dev)");
    return;
  }
  const body = /enum bpf_attach_type \{([^}]*)\}/.exec(header)?.[1];
  assert.ok(body, "enum bpf_attach_type not found");
  const names = body
    .split("\n")
    .map((l) => l.trim().replace(/,$/, ""))
    .filter((l) => /^BPF_\w+$/.test(l));
  assert.ok(names.length > 40);
  const table = AttachType as Record<string, number>;
  names.forEach((n, i) => {
    assert.equal(table[n.slice(4).toLowerCase()], i, n);
  });
});

test("ProgType names double as libbpf's type names", () => {
  for (const name of NAMES) {
    const m = matchSection(name);
    if (m) assert.equal(ProgType[m.typeName], m.type, name);
  }
});

test("tricky names", () => {
  const cases: [string, Partial<ReturnType<typeof matchSection>> | undefined][] = [
    ["xdp", { typeName: "xdp", type: ProgType.xdp, expectedAttachType: AttachType.xdp, attachTo: undefined }],
    // `xdp` is an exact-match row, so a suffix makes it unknown rather than an attach target.
    ["xdp/foo", undefined],
    ["xdp_foo", undefined],
    ["xdp.frags", { typeName: "xdp", expectedAttachType: AttachType.xdp }],
    ["xdp.frags/devmap", { typeName: "xdp", expectedAttachType: AttachType.xdp_devmap, attachTo: undefined }],
    [
      "tc",
      { typeName: "sched_cls", type: ProgType.sched_cls, expectedAttachType: undefined, attachTo: undefined },
    ],
    [
      "tc/ingress",
      { typeName: "sched_cls", expectedAttachType: AttachType.tcx_ingress, attachTo: undefined },
    ],
    ["tc/egress", { typeName: "sched_cls", expectedAttachType: AttachType.tcx_egress }],
    ["tc/other", undefined],
    ["classifier", { typeName: "sched_cls", expectedAttachType: undefined }],
    ["action", { typeName: "sched_act", type: ProgType.sched_act }],
    [
      "tracepoint/syscalls/sys_enter_openat",
      {
        typeName: "tracepoint",
        type: ProgType.tracepoint,
        attachTo: "syscalls/sys_enter_openat",
        sleepable: false,
      },
    ],
    ["tp/sched/sched_switch", { typeName: "tracepoint", attachTo: "sched/sched_switch" }],
    ["tracepoint", { typeName: "tracepoint", attachTo: undefined }],
    ["tracepointx/a", undefined],
    [
      "kprobe/do_unlinkat",
      { typeName: "kprobe", type: ProgType.kprobe, attachTo: "do_unlinkat", expectedAttachType: undefined },
    ],
    ["kprobe", { typeName: "kprobe", attachTo: undefined }],
    ["kprobe/", { typeName: "kprobe", attachTo: undefined }],
    ["kprobe_do_unlinkat", undefined],
    ["kretprobe/do_unlinkat", { typeName: "kprobe", attachTo: "do_unlinkat" }],
    [
      "kprobe.multi/do_*",
      { typeName: "kprobe", expectedAttachType: AttachType.trace_kprobe_multi, attachTo: "do_*" },
    ],
    ["uprobe.s/lib.so:f", { typeName: "kprobe", sleepable: true, attachTo: "lib.so:f" }],
    ["uprobe/lib.so:f", { typeName: "kprobe", sleepable: false, attachTo: "lib.so:f" }],
    [
      "uprobe.multi.s/x",
      { typeName: "kprobe", sleepable: true, expectedAttachType: AttachType.trace_uprobe_multi },
    ],
    ["usdt/l:p:n", { typeName: "kprobe", attachTo: "l:p:n" }],
    ["raw_tp/sys_enter", { typeName: "raw_tracepoint", attachTo: "sys_enter" }],
    [
      "raw_tp.w/x",
      { typeName: "raw_tracepoint_writable", type: ProgType.raw_tracepoint_writable, attachTo: "x" },
    ],
    [
      "tp_btf/sched_switch",
      { typeName: "tracing", expectedAttachType: AttachType.trace_raw_tp, attachTo: "sched_switch" },
    ],
    [
      "fentry/x",
      { typeName: "tracing", expectedAttachType: AttachType.trace_fentry, sleepable: false, attachTo: "x" },
    ],
    [
      "fentry.s/x",
      { typeName: "tracing", expectedAttachType: AttachType.trace_fentry, sleepable: true, attachTo: "x" },
    ],
    ["fexit.s/x", { typeName: "tracing", expectedAttachType: AttachType.trace_fexit, sleepable: true }],
    ["fmod_ret/x", { typeName: "tracing", expectedAttachType: AttachType.modify_return }],
    ["freplace/f", { typeName: "ext", type: ProgType.ext, attachTo: "f" }],
    [
      "lsm.s/file_open",
      { typeName: "lsm", expectedAttachType: AttachType.lsm_mac, sleepable: true, attachTo: "file_open" },
    ],
    ["lsm_cgroup/socket_bind", { typeName: "lsm", expectedAttachType: AttachType.lsm_cgroup }],
    ["iter/task", { typeName: "tracing", expectedAttachType: AttachType.trace_iter, attachTo: "task" }],
    ["syscall", { typeName: "syscall", sleepable: true }],
    [
      "cgroup_skb/ingress",
      { typeName: "cgroup_skb", expectedAttachType: AttachType.cgroup_inet_ingress, attachTo: undefined },
    ],
    ["cgroup_skb/egress", { typeName: "cgroup_skb", expectedAttachType: AttachType.cgroup_inet_egress }],
    ["cgroup/sock", { typeName: "cgroup_sock", expectedAttachType: AttachType.cgroup_inet_sock_create }],
    [
      "cgroup/connect4",
      { typeName: "cgroup_sock_addr", expectedAttachType: AttachType.cgroup_inet4_connect },
    ],
    [
      "cgroup/connect_unix",
      { typeName: "cgroup_sock_addr", expectedAttachType: AttachType.cgroup_unix_connect },
    ],
    ["cgroup/getsockopt", { typeName: "cgroup_sockopt", expectedAttachType: AttachType.cgroup_getsockopt }],
    ["cgroup/dev", { typeName: "cgroup_device", expectedAttachType: AttachType.cgroup_device }],
    ["sk_skb", { typeName: "sk_skb", expectedAttachType: undefined }],
    ["sk_skb/stream_verdict", { typeName: "sk_skb", expectedAttachType: AttachType.sk_skb_stream_verdict }],
    [
      "sk_reuseport/migrate",
      { typeName: "sk_reuseport", expectedAttachType: AttachType.sk_reuseport_select_or_migrate },
    ],
    ["netkit/peer", { typeName: "sched_cls", expectedAttachType: AttachType.netkit_peer }],
    ["struct_ops/dctcp_init", { typeName: "struct_ops", attachTo: "dctcp_init", sleepable: false }],
    ["struct_ops.s/x", { typeName: "struct_ops", sleepable: true }],
    ["netfilter", { typeName: "netfilter", expectedAttachType: AttachType.netfilter }],
    ["sk_lookup", { typeName: "sk_lookup", expectedAttachType: AttachType.sk_lookup }],
    [".text", undefined],
    ["", undefined],
  ];
  for (const [name, want] of cases) {
    const got = matchSection(name);
    if (want === undefined) {
      assert.equal(got, undefined, name);
      continue;
    }
    assert.ok(got, name);
    for (const [k, v] of Object.entries(want)) {
      assert.equal((got as unknown as Record<string, unknown>)[k], v, `${name}: ${k}`);
    }
  }
});

test("every match reports all fields", () => {
  const m = matchSection("socket");
  assert.deepEqual(m, {
    typeName: "socket_filter",
    type: ProgType.socket_filter,
    expectedAttachType: undefined,
    attachTo: undefined,
    sleepable: false,
  });
});
