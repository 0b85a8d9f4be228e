// SPDX-License-Identifier: GPL-2.0
/*
 * The seed's tail-call dispatcher (examples/tail-call/tail_call.bpf.c) with targets that bump a
 * per-CPU counter instead of calling bpf_printk, so a benchmark of the tail call is not a
 * benchmark of printk (about 300 ns of the kernel's 320 ns per run). Slot 0 handles TCP port
 * 8080, slot 1 port 22; anything else passes.
 */
#include <linux/bpf.h>
#include <linux/if_ether.h>
#include <linux/in.h>
#include <linux/ip.h>
#include <linux/tcp.h>
#include <bpf/bpf_endian.h>
#include <bpf/bpf_helpers.h>

struct {
	__uint(type, BPF_MAP_TYPE_PROG_ARRAY);
	__uint(max_entries, 2);
	__uint(key_size, sizeof(__u32));
	__uint(value_size, sizeof(__u32));
} prog_array SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, 2);
	__type(key, __u32);
	__type(value, __u64);
} hits SEC(".maps");

char LICENSE[] SEC("license") = "GPL";

SEC("xdp")
int main_prog(struct xdp_md *ctx)
{
	void *data_end = (void *)(long)ctx->data_end;
	void *data = (void *)(long)ctx->data;
	struct ethhdr *eth = data;

	if ((void *)(eth + 1) > data_end)
		return XDP_ABORTED;
	if (eth->h_proto != bpf_htons(ETH_P_IP))
		return XDP_PASS;

	struct iphdr *ip = (void *)(eth + 1);
	if ((void *)(ip + 1) > data_end)
		return XDP_ABORTED;
	if (ip->protocol != IPPROTO_TCP)
		return XDP_PASS;

	struct tcphdr *tcp = (void *)ip + ip->ihl * 4;
	if ((void *)(tcp + 1) > data_end)
		return XDP_ABORTED;

	switch (bpf_ntohs(tcp->dest)) {
	case 8080:
		bpf_tail_call(ctx, &prog_array, 0);
		break;
	case 22:
		bpf_tail_call(ctx, &prog_array, 1);
		break;
	}
	return XDP_PASS;
}

static __always_inline int count(__u32 slot)
{
	__u64 *n = bpf_map_lookup_elem(&hits, &slot);

	if (n)
		*n += 1;
	return XDP_PASS;
}

SEC("xdp")
int port8080_prog(struct xdp_md *ctx)
{
	return count(0);
}

SEC("xdp")
int port22_prog(struct xdp_md *ctx)
{
	return count(1);
}
