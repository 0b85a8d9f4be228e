// SPDX-License-Identifier: GPL-2.0
/*
 * `tsbpf check`: one error, stack-with-tail-calls. do_tail makes a tail call under the frames of
 * entry (128 bytes) and relay (160 bytes): 288 bytes of caller stack, at or past the verifier's
 * 256, so the kernel refuses to load entry.
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
	bpf_tail_call(ctx, &jmp, 0); /* check: stack-with-tail-calls */
	return 1;
}

static __noinline int relay(struct xdp_md *ctx, __u32 i)
{
	volatile char buf[160];

	buf[i & 127] = 1;
	buf[159] = 2;
	return do_tail(ctx) + buf[i & 127];
}

SEC("xdp")
int entry(struct xdp_md *ctx)
{
	volatile char buf[128];
	unsigned char *data = (void *)(long)ctx->data;
	unsigned char *end = (void *)(long)ctx->data_end;

	if (data + 1 > end)
		return XDP_ABORTED;
	__u32 i = data[0];
	buf[i & 127] = 1;
	buf[127] = 2;
	return relay(ctx, i) + buf[i & 127];
}

SEC("xdp")
int target(struct xdp_md *ctx)
{
	return XDP_TX;
}
