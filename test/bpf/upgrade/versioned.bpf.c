// The upgrade proof's pipeline: an entry and two stages, one version per load (the global
// `version`, set by the pipeline file's globals:). The entry stamps its version into the XDP
// metadata; each stage checks the stamp against its own version and counts a mismatch (a packet
// that ran a mixed chain). The last stage counts the packet for its version. A tail call that
// returns counts as missed. The counters live in one map the pipeline file carries over (state:).
// tsbpf-tail: stages:0=stage_a
// tsbpf-tail: stages:1=stage_b
#include <linux/bpf.h>
#include <bpf/bpf_helpers.h>

enum { C_V1 = 0, C_V2 = 1, C_MIXED = 2, C_MISSED = 3, C_NOMETA = 4, C_N = 8 };

struct {
  __uint(type, BPF_MAP_TYPE_ARRAY);
  __uint(max_entries, C_N);
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

// 0 when the packet's stamp is this version's, 1 otherwise (counted as mixed).
static __always_inline int mixed(struct xdp_md *ctx) {
  void *data = (void *)(long)ctx->data;
  __u32 *meta = (void *)(long)ctx->data_meta;
  if ((void *)(meta + 1) > data) {
    count(C_NOMETA);
    return 1;
  }
  if (*meta != version) {
    count(C_MIXED);
    return 1;
  }
  return 0;
}

SEC("xdp")
int entry(struct xdp_md *ctx) {
  if (bpf_xdp_adjust_meta(ctx, -(int)sizeof(__u32))) {
    count(C_NOMETA);
    return XDP_DROP;
  }
  void *data = (void *)(long)ctx->data;
  __u32 *meta = (void *)(long)ctx->data_meta;
  if ((void *)(meta + 1) > data) return XDP_DROP;
  *meta = version;
  bpf_tail_call(ctx, &stages, 0);
  count(C_MISSED);
  return XDP_DROP;
}

SEC("xdp")
int stage_a(struct xdp_md *ctx) {
  mixed(ctx);
  bpf_tail_call(ctx, &stages, 1);
  count(C_MISSED);
  return XDP_DROP;
}

// stage_a again, for the swap proof: the same work under another program.
SEC("xdp")
int stage_a2(struct xdp_md *ctx) {
  mixed(ctx);
  bpf_tail_call(ctx, &stages, 1);
  count(C_MISSED);
  return XDP_DROP;
}

SEC("xdp")
int stage_b(struct xdp_md *ctx) {
  if (!mixed(ctx)) count(version == 1 ? C_V1 : C_V2);
  return XDP_DROP;
}

char LICENSE[] SEC("license") = "GPL";
