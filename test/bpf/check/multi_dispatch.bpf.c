// SPDX-License-Identifier: GPL-2.0
/*
 * The first object of a two-object pipeline (with multi_handlers.bpf.c). Its prog array `shared`
 * is pinned by name, so the other object's `shared` is the same map; `local` is its own, even
 * though the other object declares a map of that name too. Both objects have a program named
 * handler.
 */
#include <linux/bpf.h>
#include <bpf/bpf_helpers.h>

char LICENSE[] SEC("license") = "GPL";

struct {
	__uint(type, BPF_MAP_TYPE_PROG_ARRAY);
	__uint(max_entries, 4);
	__uint(key_size, sizeof(__u32));
	__uint(value_size, sizeof(__u32));
	__uint(pinning, LIBBPF_PIN_BY_NAME);
} shared SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_PROG_ARRAY);
	__uint(max_entries, 4);
	__uint(key_size, sizeof(__u32));
	__uint(value_size, sizeof(__u32));
} local SEC(".maps");

SEC("xdp")
int dispatch(struct xdp_md *ctx)
{
	bpf_tail_call(ctx, &shared, 0); /* check: multi shared[0] */
	bpf_tail_call(ctx, &local, 0); /* check: multi local[0] */
	return XDP_PASS;
}

SEC("xdp")
int handler(struct xdp_md *ctx)
{
	return XDP_TX;
}
