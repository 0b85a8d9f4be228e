// SPDX-License-Identifier: GPL-2.0
/*
 * `tsbpf check` finds nothing here: every slot a site can call is filled (by the object's static
 * .values), every program is reached from the entry, the chain entry -> first -> last never comes
 * back, and the subprogram that makes tail calls sits under little caller stack. It loads on the
 * kernel.
 */
#include <linux/bpf.h>
#include <bpf/bpf_helpers.h>

char LICENSE[] SEC("license") = "GPL";

int first(struct xdp_md *ctx);
int second(struct xdp_md *ctx);
int last(struct xdp_md *ctx);

struct {
	__uint(type, BPF_MAP_TYPE_PROG_ARRAY);
	__uint(max_entries, 4);
	__uint(key_size, sizeof(__u32));
	__array(values, int(struct xdp_md *));
} jmp SEC(".maps") = {
	.values = { [0] = (void *)&first, [1] = (void *)&second, [2] = (void *)&last },
};

/* Tail-calls the slot its callers pass: 0 or 1. */
static __noinline int dispatch(struct xdp_md *ctx, __u32 slot)
{
	volatile char scratch[32];

	scratch[slot & 31] = 1;
	bpf_tail_call(ctx, &jmp, slot);
	return scratch[0];
}

SEC("xdp")
int entry(struct xdp_md *ctx)
{
	unsigned char *data = (void *)(long)ctx->data;
	unsigned char *end = (void *)(long)ctx->data_end;

	if (data + 1 > end)
		return XDP_ABORTED;
	if (data[0] & 1)
		return dispatch(ctx, 0);
	return dispatch(ctx, 1) + 1;
}

SEC("xdp")
int first(struct xdp_md *ctx)
{
	bpf_tail_call(ctx, &jmp, 2);
	return XDP_PASS;
}

SEC("xdp")
int second(struct xdp_md *ctx)
{
	return XDP_DROP;
}

SEC("xdp")
int last(struct xdp_md *ctx)
{
	return XDP_TX;
}
