// SPDX-License-Identifier: GPL-2.0
/* The second object of the two-object pipeline of multi_dispatch.bpf.c. */
#include <linux/bpf.h>
#include <bpf/bpf_helpers.h>

char LICENSE[] SEC("license") = "GPL";

struct {
	__uint(type, BPF_MAP_TYPE_PROG_ARRAY);
	__uint(max_entries, 4);
	__uint(key_size, sizeof(__u32));
	__uint(value_size, sizeof(__u32));
	__uint(pinning, LIBBPF_PIN_BY_NAME);
} shared SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_PROG_ARRAY);
	__uint(max_entries, 4);
	__uint(key_size, sizeof(__u32));
	__uint(value_size, sizeof(__u32));
} local SEC(".maps");

SEC("xdp")
int handler(struct xdp_md *ctx)
{
	return XDP_DROP;
}

SEC("xdp")
int other(struct xdp_md *ctx)
{
	return XDP_PASS;
}
