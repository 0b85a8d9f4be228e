// SPDX-License-Identifier: GPL-2.0
/*
 * The tail-call dispatcher: an XDP program that reads Ethernet, IPv4 and TCP headers and
 * jumps, through a two-slot prog array, into one program per TCP destination port.
 * Slot 0 handles port 8080, slot 1 port 22. Anything else (and any jump into an empty slot)
 * falls through to XDP_PASS.
 */
#include <linux/bpf.h>
#include <linux/if_ether.h>
#include <linux/in.h>
#include <linux/ip.h>
#include <linux/tcp.h>
#include <bpf/bpf_endian.h>
#include <bpf/bpf_helpers.h>

enum port_slot {
	SLOT_HTTP_ALT = 0,
	SLOT_SSH = 1,
};

struct {
	__uint(type, BPF_MAP_TYPE_PROG_ARRAY);
	__uint(max_entries, 2);
	__uint(key_size, sizeof(__u32));
	__uint(value_size, sizeof(__u32));
} prog_array SEC(".maps");

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
		bpf_tail_call(ctx, &prog_array, SLOT_HTTP_ALT);
		break;
	case 22:
		bpf_tail_call(ctx, &prog_array, SLOT_SSH);
		break;
	}
	/* No handler for this port, or its slot is empty: let the stack have the packet. */
	return XDP_PASS;
}

SEC("xdp")
int port8080_prog(struct xdp_md *ctx)
{
	bpf_printk("Packet to port 8080 processed");
	return XDP_PASS;
}

SEC("xdp")
int port22_prog(struct xdp_md *ctx)
{
	bpf_printk("Packet to port 22 processed");
	return XDP_PASS;
}
