// The upgrade proof's pipeline: an entry and two stages, one version per load (the global
// `version`, set by the pipeline file's globals:). The entry stamps its version for the packet;
// each stage checks the stamp against its own version and counts a mismatch (a packet that ran a
// mixed chain). The last stage counts the packet for its version. A tail call that returns counts
// as missed. The counters live in one map the pipeline file carries over (state:), and so does
// the stamp: one slot of that map per CPU, since a tail-call chain runs to its end on one CPU and
// no other XDP run comes in between there. (The packet's XDP metadata would carry it too, but
// some kernels refuse bpf_xdp_adjust_meta to XDP programs: 6.18.44-fc-v1300 does.)
// tsbpf-tail: stages:0=stage_a
// tsbpf-tail: stages:1=stage_b
#include <linux/bpf.h>
#include <bpf/bpf_helpers.h>

// Counters, then the stamps: C_STAMP + the CPU's id (a CPU beyond C_NCPU counts C_NOSTAMP).
enum { C_V1 = 0, C_V2 = 1, C_MIXED = 2, C_MISSED = 3, C_NOSTAMP = 4, C_STAMP = 8, C_NCPU = 64 };

struct {
  __uint(type, BPF_MAP_TYPE_ARRAY);
  __uint(max_entries, C_STAMP + C_NCPU);
  __type(key, __u32);
  __type(value, __u64);
} counters SEC(".maps");

struct {
  __uint(type, BPF_MAP_TYPE_PROG_ARRAY);
  __uint(max_entries, 2);
  __type(key, __u32);
  __type(value, __u32);
} stages SEC(".maps");

#ifndef VERSIONED_DEFAULT
#define VERSIONED_DEFAULT 1
#endif
const volatile __u32 version = VERSIONED_DEFAULT;

static __always_inline void count(__u32 i) {
  __u64 *c = bpf_map_lookup_elem(&counters, &i);
  if (c) __sync_fetch_and_add(c, 1);
}

// This CPU's stamp slot, or 0 (counted) when the CPU has none.
static __always_inline __u64 *stamp(void) {
  __u32 i = C_STAMP + bpf_get_smp_processor_id();
  __u64 *s = i < C_STAMP + C_NCPU ? bpf_map_lookup_elem(&counters, &i) : 0;
  if (!s) count(C_NOSTAMP);
  return s;
}

// 0 when the packet's stamp is this version's, 1 otherwise (counted as mixed).
static __always_inline int mixed(void) {
  __u64 *s = stamp();
  if (!s) return 1;
  if (*s != version) {
    count(C_MIXED);
    return 1;
  }
  return 0;
}

SEC("xdp")
int entry(struct xdp_md *ctx) {
  __u64 *s = stamp();
  if (!s) return XDP_DROP;
  *s = version;
  bpf_tail_call(ctx, &stages, 0);
  count(C_MISSED);
  return XDP_DROP;
}

SEC("xdp")
int stage_a(struct xdp_md *ctx) {
  mixed();
  bpf_tail_call(ctx, &stages, 1);
  count(C_MISSED);
  return XDP_DROP;
}

// stage_a again, for the swap proof: the same work under another program.
SEC("xdp")
int stage_a2(struct xdp_md *ctx) {
  mixed();
  bpf_tail_call(ctx, &stages, 1);
  count(C_MISSED);
  return XDP_DROP;
}

SEC("xdp")
int stage_b(struct xdp_md *ctx) {
  if (!mixed()) count(version == 1 ? C_V1 : C_V2);
  return XDP_DROP;
}

char LICENSE[] SEC("license") = "GPL";
