// A new version that does not verify (it reads past the packet without a bounds check): an
// upgrade to it must fail before the switch and leave the running version untouched.
#include <linux/bpf.h>
#include <bpf/bpf_helpers.h>

// versioned.bpf.c's counters (8 counters, then 64 per-CPU stamps), so that the upgrade gets as far
// as the verifier.
struct {
  __uint(type, BPF_MAP_TYPE_ARRAY);
  __uint(max_entries, 8 + 64);
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

SEC("xdp")
int entry(struct xdp_md *ctx) {
  unsigned char *data = (void *)(long)ctx->data;
  if (data[20] == version) bpf_tail_call(ctx, &stages, 0);
  return XDP_DROP;
}

SEC("xdp")
int stage_a(struct xdp_md *ctx) { return XDP_DROP; }

SEC("xdp")
int stage_b(struct xdp_md *ctx) { return XDP_DROP; }

char LICENSE[] SEC("license") = "GPL";
