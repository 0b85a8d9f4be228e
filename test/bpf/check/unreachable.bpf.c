// SPDX-License-Identifier: GPL-2.0
/*
 * `tsbpf check`: one warning, unreachable-program. orphan sits in slot 3, but entry only ever
 * calls slot 0, so orphan never runs.
 */
#include <linux/bpf.h>
#include <bpf/bpf_helpers.h>

char LICENSE[] SEC("license") = "GPL";

int filled(struct xdp_md *ctx);
int orphan(struct xdp_md *ctx);

struct {
	__uint(type, BPF_MAP_TYPE_PROG_ARRAY);
	__uint(max_entries, 4);
	__uint(key_size, sizeof(__u32));
	__array(values, int(struct xdp_md *));
} jmp SEC(".maps") = {
	.values = { [0] = (void *)&filled, [3] = (void *)&orphan },
};

SEC("xdp")
int entry(struct xdp_md *ctx)
{
	bpf_tail_call(ctx, &jmp, 0);
	return XDP_PASS;
}

SEC("xdp")
int filled(struct xdp_md *ctx)
{
	return XDP_TX;
}

SEC("xdp")
int orphan(struct xdp_md *ctx)
{
	return XDP_DROP; /* check: unreachable-program orphan */
}
