// SPDX-License-Identifier: GPL-2.0
/*
 * Compiles cleanly but the kernel verifier rejects it: main_prog reads the IPv4 protocol byte
 * without first checking that the packet is long enough (no `data + N > data_end` test).
 * The tests expect the error to name this program, the instruction and the source line below.
 */
#include <linux/bpf.h>
#include <linux/if_ether.h>
#include <linux/ip.h>
#include <bpf/bpf_helpers.h>

char LICENSE[] SEC("license") = "GPL";

SEC("xdp")
int unchecked_read(struct xdp_md *ctx)
{
	void *data = (void *)(long)ctx->data;
	struct iphdr *iph = data + sizeof(struct ethhdr);

	if (iph->protocol == 6) /* reads past data_end on a short packet: no bounds check */
		return XDP_DROP;
	return XDP_PASS;
}
