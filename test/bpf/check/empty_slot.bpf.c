// SPDX-License-Identifier: GPL-2.0
/* `tsbpf check`: one warning, empty-slot, where entry calls slot 2 that nothing fills. (The calls follow one another: clang merges tail calls on sibling branches into one site, reported at the line before it.) */
#include <linux/bpf.h>
#include <bpf/bpf_helpers.h>

char LICENSE[] SEC("license") = "GPL";

int filled(struct xdp_md *ctx);

struct {
	__uint(type, BPF_MAP_TYPE_PROG_ARRAY);
	__uint(max_entries, 4);
	__uint(key_size, sizeof(__u32));
	__array(values, int(struct xdp_md *));
} jmp SEC(".maps") = {
	.values = { [0] = (void *)&filled },
};

SEC("xdp")
int entry(struct xdp_md *ctx)
{
	/* Slot 0 first; when that falls through, slot 2. */
	bpf_tail_call(ctx, &jmp, 0);
	bpf_tail_call(ctx, &jmp, 2); /* check: empty-slot jmp[2] */
	return XDP_PASS;
}

SEC("xdp")
int filled(struct xdp_md *ctx)
{
	return XDP_TX;
}
