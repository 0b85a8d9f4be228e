// SPDX-License-Identifier: GPL-2.0
/* `tsbpf check`: one warning, key-out-of-range, where entry calls slot 5 of a two-slot array. */
#include <linux/bpf.h>
#include <bpf/bpf_helpers.h>

char LICENSE[] SEC("license") = "GPL";

int filled(struct xdp_md *ctx);

struct {
	__uint(type, BPF_MAP_TYPE_PROG_ARRAY);
	__uint(max_entries, 2);
	__uint(key_size, sizeof(__u32));
	__array(values, int(struct xdp_md *));
} jmp SEC(".maps") = {
	.values = { [0] = (void *)&filled, [1] = (void *)&filled },
};

SEC("xdp")
int entry(struct xdp_md *ctx)
{
	/* Slot 1 first; when that falls through, slot 5. */
	bpf_tail_call(ctx, &jmp, 1);
	bpf_tail_call(ctx, &jmp, 5); /* check: key-out-of-range jmp[5] */
	return XDP_PASS;
}

SEC("xdp")
int filled(struct xdp_md *ctx)
{
	return XDP_TX;
}
