// SPDX-License-Identifier: GPL-2.0
/*
 * A site whose key comes from the packet: `tsbpf check` cannot know which slot it calls, so it
 * draws an edge to each filled slot and one that falls through, and warns only when no slot of
 * the array is filled.
 */
#include <linux/bpf.h>
#include <bpf/bpf_helpers.h>

char LICENSE[] SEC("license") = "GPL";

int by_byte(struct xdp_md *ctx);

struct {
	__uint(type, BPF_MAP_TYPE_PROG_ARRAY);
	__uint(max_entries, 256);
	__uint(key_size, sizeof(__u32));
	__array(values, int(struct xdp_md *));
} jmp SEC(".maps") = {
	.values = { [7] = (void *)&by_byte },
};

SEC("xdp")
int entry(struct xdp_md *ctx)
{
	unsigned char *data = (void *)(long)ctx->data;
	unsigned char *end = (void *)(long)ctx->data_end;

	if (data + 1 > end)
		return XDP_ABORTED;
	bpf_tail_call(ctx, &jmp, data[0]); /* check: unknown key */
	return XDP_PASS;
}

SEC("xdp")
int by_byte(struct xdp_md *ctx)
{
	return XDP_TX;
}
