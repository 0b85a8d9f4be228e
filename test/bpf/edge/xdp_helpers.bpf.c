// XDP helpers driven by a config map, compared between the VM and the kernel
// (test/kernel/vm-vs-kernel-xdp.test.ts). bpf_xdp_adjust_meta has an object of its own,
// xdp_meta.bpf.c: some kernels refuse it to XDP programs (6.18.44-fc-v1300 does), and one
// refused program fails the whole object's load.
#include "xdp_cfg.h"

char _license[] SEC("license") = "GPL";

/* bpf_xdp_adjust_head, then bpf_xdp_adjust_tail (xdp_meta.bpf.c's adjust adds the metadata). */
SEC("xdp")
int adjust_head_tail(struct xdp_md *ctx)
{
	put(0, bpf_xdp_adjust_head(ctx, (int)get(0)));
	put(2, bpf_xdp_adjust_tail(ctx, (int)get(2)));
	put(5, (long)ctx->data_end - (long)ctx->data);
	return XDP_PASS;
}

/* Grows the tail by cfg[2] and returns; the output shows the zero-filled growth. */
SEC("xdp")
int grow_tail(struct xdp_md *ctx)
{
	put(2, bpf_xdp_adjust_tail(ctx, (int)get(2)));
	return XDP_PASS;
}

/* Shrinks the head by one byte per run (so `repeat` shows whether runs share one buffer). */
SEC("xdp")
int eat_byte(struct xdp_md *ctx)
{
	unsigned char *data = (void *)(long)ctx->data;
	unsigned char *end = (void *)(long)ctx->data_end;
	if (data + 15 > end)
		return XDP_ABORTED;
	data[14] += 1;
	put(0, bpf_xdp_adjust_head(ctx, 1));
	return XDP_PASS;
}

/* bpf_csum_diff over the packet's first cfg[0] and next cfg[1] bytes with seed cfg[2]. */
SEC("xdp")
int csum(struct xdp_md *ctx)
{
	unsigned char *data = (void *)(long)ctx->data;
	unsigned char *end = (void *)(long)ctx->data_end;
	__u32 from = get(0) & 0x3fc, to = get(1) & 0x3fc;
	__u32 seed = get(2);
	if (data + 1024 > end)
		return XDP_ABORTED;
	if (from > 512 || to > 512)
		return XDP_ABORTED;
	put(4, bpf_csum_diff((void *)data, from, (void *)(data + 512), to, seed));
	return XDP_PASS;
}

SEC("xdp")
int redirect(struct xdp_md *ctx)
{
	return bpf_redirect((__u32)get(3), get(4));
}

/* ctx fields the program can read. */
SEC("xdp")
int ctx_fields(struct xdp_md *ctx)
{
	put(0, ctx->ingress_ifindex);
	put(1, ctx->rx_queue_index);
	put(2, (long)ctx->data_end - (long)ctx->data);
	put(3, (long)ctx->data - (long)ctx->data_meta);
	return XDP_PASS;
}

/* Reads the last byte of a packet of any length (direct access stops at the linear part). */
SEC("xdp.frags")
int frags_len(struct xdp_md *ctx)
{
	put(5, (long)ctx->data_end - (long)ctx->data);
	return XDP_PASS;
}

SEC("xdp")
int time_rand(struct xdp_md *ctx)
{
	__u64 a = bpf_ktime_get_ns();
	__u64 b = bpf_ktime_get_ns();
	put(0, b >= a);
	put(1, a > 0);
	__u32 r1 = bpf_get_prandom_u32(), r2 = bpf_get_prandom_u32();
	put(2, r1 != r2 || r1 != 0);
	put(3, bpf_get_smp_processor_id() < 4096);
	return XDP_PASS;
}

/* bpf_xdp_adjust_tail on a packet with fragments (over 3520 bytes): grows or shrinks the last
 * fragment, and past the fragments the linear part. */
SEC("xdp.frags")
int frags_tail(struct xdp_md *ctx)
{
	put(2, bpf_xdp_adjust_tail(ctx, (int)get(2)));
	put(5, (long)ctx->data_end - (long)ctx->data);
	return XDP_PASS;
}
