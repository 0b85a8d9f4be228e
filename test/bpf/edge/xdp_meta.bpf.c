// bpf_xdp_adjust_head, bpf_xdp_adjust_meta (writing the metadata it made) and
// bpf_xdp_adjust_tail in one program, compared between the VM and the kernel
// (test/kernel/vm-vs-kernel-xdp.test.ts). Apart from xdp_helpers.bpf.c because some kernels
// refuse bpf_xdp_adjust_meta to XDP programs: the test says so and skips it there.
#include "xdp_cfg.h"

char _license[] SEC("license") = "GPL";

SEC("xdp")
int adjust(struct xdp_md *ctx)
{
	put(0, bpf_xdp_adjust_head(ctx, (int)get(0)));
	long m = bpf_xdp_adjust_meta(ctx, (int)get(1));
	put(1, m);
	if (m == 0) {
		unsigned char *meta = (void *)(long)ctx->data_meta;
		unsigned char *data = (void *)(long)ctx->data;
		int n = 0;
		for (int i = 0; i < 32; i++) {
			if (meta + i + 1 > data)
				break;
			meta[i] = 0xa0 + i;
			n++;
		}
		put(3, n);
	}
	put(2, bpf_xdp_adjust_tail(ctx, (int)get(2)));
	put(5, (long)ctx->data_end - (long)ctx->data);
	return XDP_PASS;
}
