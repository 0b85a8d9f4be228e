// SPDX-License-Identifier: GPL-2.0
// tsbpf-cflags: -g0
/* Object-model fixture without BTF: variables and maps must come from ELF symbols alone. */
#include <linux/bpf.h>
#include <bpf/bpf_helpers.h>

struct legacy_map_def {
	unsigned int type;
	unsigned int key_size;
	unsigned int value_size;
	unsigned int max_entries;
	unsigned int map_flags;
};

struct legacy_map_def hits SEC("maps") = {
	.type = BPF_MAP_TYPE_PERCPU_ARRAY,
	.key_size = 4,
	.value_size = 8,
	.max_entries = 1,
};

volatile __u32 threshold = 64;
volatile __u64 total;
char _license[] SEC("license") = "GPL";

SEC("xdp")
int count(struct xdp_md *ctx)
{
	__u32 key = 0;
	__u64 *v = bpf_map_lookup_elem(&hits, &key);

	if (v)
		*v += 1;
	total += ctx->data_end - ctx->data;
	return ctx->data_end - ctx->data > threshold ? XDP_DROP : XDP_PASS;
}
