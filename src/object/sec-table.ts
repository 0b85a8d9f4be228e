import { AttachType, type AttachTypeName } from "../abi/attach-type.js";
import { ProgType, type ProgTypeName } from "../abi/prog-type.js";

/** What an ELF section name says about the program in it, per libbpf's conventions. */
export interface SectionMatch {
  /** `BPF_PROG_TYPE_*` value. */
  type: number;
  /** libbpf's program type name, such as `xdp` or `sched_cls`. */
  typeName: ProgTypeName;
  /** `BPF_*` attach type the section implies; `undefined` when libbpf leaves it 0 ("none"). */
  expectedAttachType: number | undefined;
  /** The part after the section's `/` for prefix-style sections (`kprobe/do_unlinkat` → `do_unlinkat`). */
  attachTo: string | undefined;
  /** Whether libbpf loads it with `BPF_F_SLEEPABLE`. */
  sleepable: boolean;
}

/**
 * One row of the table. `pattern` uses libbpf's notation: a trailing `+` accepts the bare name
 * or the name followed by `/anything`; a trailing `/` demands a suffix; anything else must match
 * exactly.
 */
interface SectionDef {
  pattern: string;
  prog: ProgTypeName;
  attach: AttachTypeName | undefined;
  sleepable: boolean;
}

const S = true;
const def = (
  pattern: string,
  prog: ProgTypeName,
  attach?: AttachTypeName,
  sleepable = false,
): SectionDef => ({
  pattern,
  prog,
  attach,
  sleepable,
});

/**
 * libbpf's `section_defs` (tools/lib/bpf/libbpf.c), kept in its order because libbpf returns the
 * first row that matches, and `0` attach types (libbpf's "none") written as `undefined`.
 */
const SECTION_DEFS: readonly SectionDef[] = [
  def("socket", "socket_filter"),
  def("sk_reuseport/migrate", "sk_reuseport", "sk_reuseport_select_or_migrate"),
  def("sk_reuseport", "sk_reuseport", "sk_reuseport_select"),
  def("kprobe+", "kprobe"),
  def("uprobe+", "kprobe"),
  def("uprobe.s+", "kprobe", undefined, S),
  def("kretprobe+", "kprobe"),
  def("uretprobe+", "kprobe"),
  def("uretprobe.s+", "kprobe", undefined, S),
  def("kprobe.multi+", "kprobe", "trace_kprobe_multi"),
  def("kretprobe.multi+", "kprobe", "trace_kprobe_multi"),
  def("kprobe.session+", "kprobe", "trace_kprobe_session"),
  def("uprobe.multi+", "kprobe", "trace_uprobe_multi"),
  def("uretprobe.multi+", "kprobe", "trace_uprobe_multi"),
  def("uprobe.session+", "kprobe", "trace_uprobe_session"),
  def("uprobe.multi.s+", "kprobe", "trace_uprobe_multi", S),
  def("uretprobe.multi.s+", "kprobe", "trace_uprobe_multi", S),
  def("uprobe.session.s+", "kprobe", "trace_uprobe_session", S),
  def("ksyscall+", "kprobe"),
  def("kretsyscall+", "kprobe"),
  def("usdt+", "kprobe"),
  def("usdt.s+", "kprobe", undefined, S),
  // libbpf keeps tc/ingress and tc/egress as aliases of tcx.
  def("tc/ingress", "sched_cls", "tcx_ingress"),
  def("tc/egress", "sched_cls", "tcx_egress"),
  def("tcx/ingress", "sched_cls", "tcx_ingress"),
  def("tcx/egress", "sched_cls", "tcx_egress"),
  def("tc", "sched_cls"),
  def("classifier", "sched_cls"),
  def("action", "sched_act"),
  def("netkit/primary", "sched_cls", "netkit_primary"),
  def("netkit/peer", "sched_cls", "netkit_peer"),
  def("tracepoint+", "tracepoint"),
  def("tp+", "tracepoint"),
  def("tracepoint.s+", "tracepoint", undefined, S),
  def("tp.s+", "tracepoint", undefined, S),
  def("raw_tracepoint+", "raw_tracepoint"),
  def("raw_tp+", "raw_tracepoint"),
  def("raw_tracepoint.s+", "raw_tracepoint", undefined, S),
  def("raw_tp.s+", "raw_tracepoint", undefined, S),
  def("raw_tracepoint.w+", "raw_tracepoint_writable"),
  def("raw_tp.w+", "raw_tracepoint_writable"),
  def("tp_btf+", "tracing", "trace_raw_tp"),
  def("tp_btf.s+", "tracing", "trace_raw_tp", S),
  def("fentry+", "tracing", "trace_fentry"),
  def("fmod_ret+", "tracing", "modify_return"),
  def("fexit+", "tracing", "trace_fexit"),
  def("fentry.s+", "tracing", "trace_fentry", S),
  def("fmod_ret.s+", "tracing", "modify_return", S),
  def("fexit.s+", "tracing", "trace_fexit", S),
  def("fsession+", "tracing", "trace_fsession"),
  def("fsession.s+", "tracing", "trace_fsession", S),
  def("fsession.multi+", "tracing", "trace_fsession_multi"),
  def("fsession.multi.s+", "tracing", "trace_fsession_multi", S),
  def("fentry.multi+", "tracing", "trace_fentry_multi"),
  def("fexit.multi+", "tracing", "trace_fexit_multi"),
  def("fentry.multi.s+", "tracing", "trace_fentry_multi", S),
  def("fexit.multi.s+", "tracing", "trace_fexit_multi", S),
  def("freplace+", "ext"),
  def("lsm+", "lsm", "lsm_mac"),
  def("lsm.s+", "lsm", "lsm_mac", S),
  def("lsm_cgroup+", "lsm", "lsm_cgroup"),
  def("iter+", "tracing", "trace_iter"),
  def("iter.s+", "tracing", "trace_iter", S),
  // libbpf always loads syscall programs sleepable.
  def("syscall", "syscall", undefined, S),
  def("xdp.frags/devmap", "xdp", "xdp_devmap"),
  def("xdp/devmap", "xdp", "xdp_devmap"),
  def("xdp.frags/cpumap", "xdp", "xdp_cpumap"),
  def("xdp/cpumap", "xdp", "xdp_cpumap"),
  def("xdp.frags", "xdp", "xdp"),
  def("xdp", "xdp", "xdp"),
  def("perf_event", "perf_event"),
  def("lwt_in", "lwt_in"),
  def("lwt_out", "lwt_out"),
  def("lwt_xmit", "lwt_xmit"),
  def("lwt_seg6local", "lwt_seg6local"),
  def("sockops", "sock_ops", "cgroup_sock_ops"),
  def("sk_skb/stream_parser", "sk_skb", "sk_skb_stream_parser"),
  def("sk_skb/stream_verdict", "sk_skb", "sk_skb_stream_verdict"),
  def("sk_skb/verdict", "sk_skb", "sk_skb_verdict"),
  def("sk_skb", "sk_skb"),
  def("sk_msg", "sk_msg", "sk_msg_verdict"),
  def("lirc_mode2", "lirc_mode2", "lirc_mode2"),
  def("flow_dissector", "flow_dissector", "flow_dissector"),
  def("cgroup_skb/ingress", "cgroup_skb", "cgroup_inet_ingress"),
  def("cgroup_skb/egress", "cgroup_skb", "cgroup_inet_egress"),
  // libbpf writes 0 here, which the kernel reads as BPF_CGROUP_INET_INGRESS.
  def("cgroup/skb", "cgroup_skb"),
  def("cgroup/sock_create", "cgroup_sock", "cgroup_inet_sock_create"),
  def("cgroup/sock_release", "cgroup_sock", "cgroup_inet_sock_release"),
  def("cgroup/sock", "cgroup_sock", "cgroup_inet_sock_create"),
  def("cgroup/post_bind4", "cgroup_sock", "cgroup_inet4_post_bind"),
  def("cgroup/post_bind6", "cgroup_sock", "cgroup_inet6_post_bind"),
  def("cgroup/bind4", "cgroup_sock_addr", "cgroup_inet4_bind"),
  def("cgroup/bind6", "cgroup_sock_addr", "cgroup_inet6_bind"),
  def("cgroup/connect4", "cgroup_sock_addr", "cgroup_inet4_connect"),
  def("cgroup/connect6", "cgroup_sock_addr", "cgroup_inet6_connect"),
  def("cgroup/connect_unix", "cgroup_sock_addr", "cgroup_unix_connect"),
  def("cgroup/sendmsg4", "cgroup_sock_addr", "cgroup_udp4_sendmsg"),
  def("cgroup/sendmsg6", "cgroup_sock_addr", "cgroup_udp6_sendmsg"),
  def("cgroup/sendmsg_unix", "cgroup_sock_addr", "cgroup_unix_sendmsg"),
  def("cgroup/recvmsg4", "cgroup_sock_addr", "cgroup_udp4_recvmsg"),
  def("cgroup/recvmsg6", "cgroup_sock_addr", "cgroup_udp6_recvmsg"),
  def("cgroup/recvmsg_unix", "cgroup_sock_addr", "cgroup_unix_recvmsg"),
  def("cgroup/getpeername4", "cgroup_sock_addr", "cgroup_inet4_getpeername"),
  def("cgroup/getpeername6", "cgroup_sock_addr", "cgroup_inet6_getpeername"),
  def("cgroup/getpeername_unix", "cgroup_sock_addr", "cgroup_unix_getpeername"),
  def("cgroup/getsockname4", "cgroup_sock_addr", "cgroup_inet4_getsockname"),
  def("cgroup/getsockname6", "cgroup_sock_addr", "cgroup_inet6_getsockname"),
  def("cgroup/getsockname_unix", "cgroup_sock_addr", "cgroup_unix_getsockname"),
  def("cgroup/sysctl", "cgroup_sysctl", "cgroup_sysctl"),
  def("cgroup/getsockopt", "cgroup_sockopt", "cgroup_getsockopt"),
  def("cgroup/setsockopt", "cgroup_sockopt", "cgroup_setsockopt"),
  def("cgroup/dev", "cgroup_device", "cgroup_device"),
  def("struct_ops+", "struct_ops"),
  def("struct_ops.s+", "struct_ops", undefined, S),
  def("sk_lookup", "sk_lookup", "sk_lookup"),
  def("netfilter", "netfilter", "netfilter"),
];

/**
 * Applies libbpf's matching rule for one pattern. Returns the attach target (text after the `/`,
 * or `undefined` when there is none) on a match, `null` otherwise.
 */
function matchPattern(pattern: string, name: string): string | undefined | null {
  const last = pattern[pattern.length - 1];
  if (last === "/") {
    return name.startsWith(pattern) ? name.slice(pattern.length) : null;
  }
  if (last === "+") {
    const stem = pattern.slice(0, -1);
    if (!name.startsWith(stem)) return null;
    if (name.length === stem.length) return undefined;
    // `kprobe+` must not swallow `kprobe.multi/x`: only a `/` may follow the stem.
    return name[stem.length] === "/" ? name.slice(stem.length + 1) : null;
  }
  return name === pattern ? undefined : null;
}

/**
 * Looks up an ELF section name in libbpf's table of program sections. Legacy prefixes that only
 * libbpf's pre-1.0 non-strict mode accepted (`xdp_foo`, `kprobe_x`) do not match; neither do
 * sections libbpf does not know. Returns `undefined` for those.
 */
export function matchSection(name: string): SectionMatch | undefined {
  // Every rule needs the name to start with the pattern's first character: testing it first
  // skips most of the table's 116 rows, which cold code (every load's first) pays row by row.
  const first = name.charCodeAt(0);
  for (let i = 0; i < SECTION_DEFS.length; i++) {
    const d = SECTION_DEFS[i] as SectionDef;
    if (d.pattern.charCodeAt(0) !== first) continue;
    const target = matchPattern(d.pattern, name);
    if (target === null) continue;
    return {
      type: ProgType[d.prog],
      typeName: d.prog,
      expectedAttachType: d.attach === undefined ? undefined : AttachType[d.attach],
      // An empty suffix (`kprobe/`) names nothing to attach to.
      attachTo: target === undefined || target === "" ? undefined : target,
      sleepable: d.sleepable,
    };
  }
  return undefined;
}
