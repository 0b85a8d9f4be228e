// The tc upgrade proof's pipeline (versioned.bpf.c as tc programs): an entry and two stages, one
// version per load (the global `version`, set by the pipeline file's globals:). The entry stamps
// its version into the packet's skb->cb[0]; each stage checks the stamp against its own version
// and counts a mismatch (a packet that ran a mixed chain). The last stage counts the packet for
// its version. A tail call that returns counts as missed. Every packet is dropped at the end
// (TC_ACT_SHOT), so the stack sends nothing back. The counters live in one map the pipeline file
// carries over (state:).
// tsbpf-tail: stages:0=stage_a
// tsbpf-tail: stages:1=stage_b
#include <linux/bpf.h>
#include <linux/pkt_cls.h>
#include <bpf/bpf_helpers.h>

enum { C_V1 = 0, C_V2 = 1, C_MIXED = 2, C_MISSED = 3, C_N = 8 };

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

const volatile __u32 version = 1;

static __always_inline void count(__u32 i) {
  __u64 *c = bpf_map_lookup_elem(&counters, &i);
  if (c) __sync_fetch_and_add(c, 1);
}

// 0 when the packet's stamp is this version's, 1 otherwise (counted as mixed).
static __always_inline int mixed(struct __sk_buff *skb) {
  if (skb->cb[0] != version) {
    count(C_MIXED);
    return 1;
  }
  return 0;
}

SEC("tc")
int entry(struct __sk_buff *skb) {
  skb->cb[0] = version;
  bpf_tail_call(skb, &stages, 0);
  count(C_MISSED);
  return TC_ACT_SHOT;
}

SEC("tc")
int stage_a(struct __sk_buff *skb) {
  mixed(skb);
  bpf_tail_call(skb, &stages, 1);
  count(C_MISSED);
  return TC_ACT_SHOT;
}

// stage_a again, for the swap proof: the same work under another program.
SEC("tc")
int stage_a2(struct __sk_buff *skb) {
  mixed(skb);
  bpf_tail_call(skb, &stages, 1);
  count(C_MISSED);
  return TC_ACT_SHOT;
}

SEC("tc")
int stage_b(struct __sk_buff *skb) {
  if (!mixed(skb)) count(version == 1 ? C_V1 : C_V2);
  return TC_ACT_SHOT;
}

char LICENSE[] SEC("license") = "GPL";
