// SPDX-License-Identifier: GPL-2.0
/*
 * `tsbpf check` finds nothing here, and the kernel loads it: do_tail makes a tail call under
 * entry's 240 bytes of stack, just under the verifier's 256 (frames round up to 16 bytes).
 */
#include <linux/bpf.h>
#include <bpf/bpf_helpers.h>

char LICENSE[] SEC("license") = "GPL";

int target(struct xdp_md *ctx);

struct {
	__uint(type, BPF_MAP_TYPE_PROG_ARRAY);
	__uint(max_entries, 1);
	__uint(key_size, sizeof(__u32));
	__array(values, int(struct xdp_md *));
} jmp SEC(".maps") = {
	.values = { [0] = (void *)&target },
};

static __noinline int do_tail(struct xdp_md *ctx)
{
	bpf_tail_call(ctx, &jmp, 0);
	return 1;
}

SEC("xdp")
int entry(struct xdp_md *ctx)
{
	volatile char buf[240];
	unsigned char *data = (void *)(long)ctx->data;
	unsigned char *end = (void *)(long)ctx->data_end;

	if (data + 1 > end)
		return XDP_ABORTED;
	__u32 i = data[0] % 240;
	buf[i] = 1;
	buf[239] = 2;
	return do_tail(ctx) + buf[i];
}

SEC("xdp")
int target(struct xdp_md *ctx)
{
	return XDP_TX;
}
