// SPDX-License-Identifier: GPL-2.0
/*
 * `tsbpf check`: one warning, tail-call-cycle. entry calls ping (slot 0), ping calls pong
 * (slot 1), and pong calls ping again: the chain loops until the 33-call limit.
 */
#include <linux/bpf.h>
#include <bpf/bpf_helpers.h>

char LICENSE[] SEC("license") = "GPL";

int ping(struct xdp_md *ctx);
int pong(struct xdp_md *ctx);

struct {
	__uint(type, BPF_MAP_TYPE_PROG_ARRAY);
	__uint(max_entries, 2);
	__uint(key_size, sizeof(__u32));
	__array(values, int(struct xdp_md *));
} jmp SEC(".maps") = {
	.values = { [0] = (void *)&ping, [1] = (void *)&pong },
};

SEC("xdp")
int entry(struct xdp_md *ctx)
{
	bpf_tail_call(ctx, &jmp, 0);
	return XDP_PASS;
}

SEC("xdp")
int ping(struct xdp_md *ctx)
{
	bpf_tail_call(ctx, &jmp, 1);
	return XDP_PASS;
}

SEC("xdp")
int pong(struct xdp_md *ctx)
{
	bpf_tail_call(ctx, &jmp, 0); /* check: tail-call-cycle pong jmp[0] */
	return XDP_PASS;
}
