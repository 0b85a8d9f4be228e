// SPDX-License-Identifier: GPL-2.0
/*
 * bpf_perf_event_output with packet bytes appended (BPF_F_CTXLEN_MASK), for the perf output test
 * on both engines (test/kernel/perf-ctxlen-both.test.ts). The packet starts with a u32 `hi`, put
 * as is in the flags' upper 32 bits: bits 0..19 are how many packet bytes the sample gets after
 * its 8 bytes of data (hi and the packet's length), a bit above them is a flag the helper refuses.
 * The helper's return value is kept in `last_ret`.
 */
#include <linux/bpf.h>
#include <bpf/bpf_helpers.h>

char LICENSE[] SEC("license") = "GPL";

struct {
	__uint(type, BPF_MAP_TYPE_PERF_EVENT_ARRAY);
	__uint(max_entries, 64);
	__type(key, __u32);
	__type(value, __u32);
} perf SEC(".maps");

__s64 last_ret = 0;

struct meta {
	__u32 hi;
	__u32 len;
};

static __always_inline long emit(void *ctx, void *data, void *end)
{
	struct meta m;
	if (data + sizeof(__u32) > end)
		return -1;
	m.hi = *(__u32 *)data;
	m.len = end - data;
	return bpf_perf_event_output(ctx, &perf, BPF_F_CURRENT_CPU | ((__u64)m.hi << 32), &m, sizeof(m));
}

SEC("xdp")
int xdp_ctxlen(struct xdp_md *ctx)
{
	last_ret = emit(ctx, (void *)(long)ctx->data, (void *)(long)ctx->data_end);
	return XDP_PASS;
}

SEC("tc")
int tc_ctxlen(struct __sk_buff *skb)
{
	last_ret = emit(skb, (void *)(long)skb->data, (void *)(long)skb->data_end);
	return 0;
}
