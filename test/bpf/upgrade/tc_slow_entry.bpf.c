// The grace period's proof on a tc hook: an entry that spins (bpf_loop, `spin` empty iterations)
// before its tail call, so that a packet is still inside the old entry when an upgrade replaces
// it. On a cls_bpf filter the kernel releases the old program only after an RCU grace period, but
// the replace itself returns at once: the old version's prog array must outlive the packet, or it
// is emptied under it and the tail call falls through (counted as missed). The stage counts the
// packet for its version and drops it; the counters are carried over (state:).
// tsbpf-tail: stages:0=stage
#include <linux/bpf.h>
#include <linux/pkt_cls.h>
#include <bpf/bpf_helpers.h>

enum { C_V1 = 0, C_V2 = 1, C_MISSED = 2, C_N = 4 };

struct {
  __uint(type, BPF_MAP_TYPE_ARRAY);
  __uint(max_entries, C_N);
  __type(key, __u32);
  __type(value, __u64);
} counters SEC(".maps");

struct {
  __uint(type, BPF_MAP_TYPE_PROG_ARRAY);
  __uint(max_entries, 1);
  __type(key, __u32);
  __type(value, __u32);
} stages SEC(".maps");

const volatile __u32 version = 1;
const volatile __u32 spin = 0;

static __always_inline void count(__u32 i) {
  __u64 *c = bpf_map_lookup_elem(&counters, &i);
  if (c) __sync_fetch_and_add(c, 1);
}

static long nothing(__u64 i, void *ctx) { return 0; }

SEC("tc")
int entry(struct __sk_buff *skb) {
  bpf_loop(spin, nothing, (void *)0, 0);
  bpf_tail_call(skb, &stages, 0);
  count(C_MISSED);
  return TC_ACT_SHOT;
}

SEC("tc")
int stage(struct __sk_buff *skb) {
  count(version == 1 ? C_V1 : C_V2);
  return TC_ACT_SHOT;
}

char LICENSE[] SEC("license") = "GPL";
